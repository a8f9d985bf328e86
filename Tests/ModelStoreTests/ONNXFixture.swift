import Foundation

/// A tiny but real ONNX model, written as protobuf bytes by hand, with self-test vectors
/// computed from the same arithmetic:
///   slices [N, 3, S, S] -> GlobalAveragePool -> Flatten -> Gemm(W [3, 6], B [6]) -> Sigmoid
///   -> probabilities [N, 6]  (the six ICH labels)
/// An optional unused initializer pads the file to a chosen size (install timing tests).
struct ONNXFixture {
    var sliceSize = 16
    var weights: [Float]
    var bias: [Float]
    var paddingBytes = 0

    /// `flat`: all weights zero, so the output is sigmoid(bias) whatever the input: a collapsed
    /// model that still loads, runs and reproduces its own (consistent) self-test vectors.
    init(seed: UInt64, paddingBytes: Int = 0, flat: Bool = false) {
        var rng = SplitMix64(seed: seed)
        weights = (0..<18).map { _ in Float(rng.nextUnit() * 2 - 1) }
        bias = (0..<6).map { _ in Float(rng.nextUnit() - 0.5) }
        if flat { weights = [Float](repeating: 0, count: 18) }
        self.paddingBytes = paddingBytes
    }

    /// Reference forward pass (what any correct engine must compute).
    func forward(_ input: [Float], slices n: Int) -> [Float] {
        let plane = sliceSize * sliceSize
        var out: [Float] = []
        for s in 0..<n {
            var pooled = [Float](repeating: 0, count: 3)
            for c in 0..<3 {
                let base = (s * 3 + c) * plane
                var sum: Float = 0
                for i in 0..<plane { sum += input[base + i] }
                pooled[c] = sum / Float(plane)
            }
            for o in 0..<6 {
                var z = bias[o]
                for c in 0..<3 { z += pooled[c] * weights[c * 6 + o] }
                out.append(1 / (1 + Float(exp(-Double(z)))))
            }
        }
        return out
    }

    /// Deterministic windowed-CT-like input in [0, 1].
    func input(slices n: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<(n * 3 * sliceSize * sliceSize)).map { _ in Float(rng.nextUnit()) }
    }

    func modelBytes() -> Data {
        var graph = Proto()
        graph.message(1, node(op: "GlobalAveragePool", inputs: ["slices"], outputs: ["pooled"], name: "pool"))
        graph.message(1, node(op: "Flatten", inputs: ["pooled"], outputs: ["features"], name: "flatten",
                              intAttributes: [("axis", 1)]))
        graph.message(1, node(op: "Gemm", inputs: ["features", "W", "B"], outputs: ["logits"], name: "head"))
        graph.message(1, node(op: "Sigmoid", inputs: ["logits"], outputs: ["probabilities"], name: "sigmoid"))
        graph.string(2, "ich-fixture")
        graph.message(5, tensor(name: "W", dims: [3, 6], values: weights))
        graph.message(5, tensor(name: "B", dims: [6], values: bias))
        if paddingBytes > 0 {
            var rng = SplitMix64(seed: 99)
            let count = paddingBytes / 4
            graph.message(5, tensor(name: "unused_padding", dims: [count], values: (0..<count).map { _ in Float(rng.nextUnit()) }))
        }
        graph.message(11, valueInfo(name: "slices", dims: [.param("slices"), .value(3), .value(sliceSize), .value(sliceSize)]))
        graph.message(12, valueInfo(name: "probabilities", dims: [.param("slices"), .value(6)]))

        var model = Proto()
        model.varint(1, 8)  // ir_version
        model.string(2, "ichtriage-test-fixture")
        model.string(3, "1")
        model.message(7, graph)
        var opset = Proto()
        opset.string(1, "")
        opset.varint(2, 13)
        model.message(8, opset)
        return model.bytes
    }

    private func node(op: String, inputs: [String], outputs: [String], name: String,
                      intAttributes: [(String, Int)] = []) -> Proto {
        var n = Proto()
        for i in inputs { n.string(1, i) }
        for o in outputs { n.string(2, o) }
        n.string(3, name)
        n.string(4, op)
        for (k, v) in intAttributes {
            var a = Proto()
            a.string(1, k)
            a.varint(3, UInt64(v))
            a.varint(20, 2)  // AttributeType INT
            n.message(5, a)
        }
        return n
    }

    private func tensor(name: String, dims: [Int], values: [Float]) -> Proto {
        var t = Proto()
        for d in dims { t.varint(1, UInt64(d)) }
        t.varint(2, 1)  // FLOAT
        t.string(8, name)
        t.bytes(9, floatBytes(values))
        return t
    }

    enum Dim { case value(Int), param(String) }

    private func valueInfo(name: String, dims: [Dim]) -> Proto {
        var shape = Proto()
        for d in dims {
            var dim = Proto()
            switch d {
            case .value(let v): dim.varint(1, UInt64(v))
            case .param(let p): dim.string(2, p)
            }
            shape.message(1, dim)
        }
        var tensorType = Proto()
        tensorType.varint(1, 1)  // FLOAT
        tensorType.message(2, shape)
        var type = Proto()
        type.message(1, tensorType)
        var vi = Proto()
        vi.string(1, name)
        vi.message(2, type)
        return vi
    }
}

func floatBytes(_ values: [Float]) -> Data {
    var d = Data(capacity: values.count * 4)
    for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { d.append(contentsOf: $0) } }
    return d
}

/// Minimal protobuf writer (wire types 0 and 2 are all ONNX needs here).
struct Proto {
    var bytes = Data()
    private mutating func raw(_ v: UInt64) {
        var v = v
        repeat {
            var b = UInt8(v & 0x7F)
            v >>= 7
            if v != 0 { b |= 0x80 }
            bytes.append(b)
        } while v != 0
    }
    mutating func varint(_ field: Int, _ v: UInt64) { raw(UInt64(field << 3)); raw(v) }
    mutating func bytes(_ field: Int, _ d: Data) { raw(UInt64(field << 3 | 2)); raw(UInt64(d.count)); bytes.append(d) }
    mutating func string(_ field: Int, _ s: String) { bytes(field, Data(s.utf8)) }
    mutating func message(_ field: Int, _ m: Proto) { bytes(field, m.bytes) }
}

struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextUnit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
