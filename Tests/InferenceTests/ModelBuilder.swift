import Foundation
@testable import Inference

/// Builds small ONNX models in Swift (no Python needed) for loader, malformed-input and allocation tests.
struct ModelBuilder {
    var graph = Onnx_GraphProto()
    var opset: Int64 = 17

    mutating func input(_ name: String, _ type: ElementType = .float32, _ dims: [Int64?]) {
        var vi = Onnx_ValueInfoProto()
        vi.name = name
        vi.type.tensorType.elemType = type.rawValue
        vi.type.tensorType.shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let d { dim.dimValue = d } else { dim.dimParam = "S" }
            return dim
        }
        graph.input.append(vi)
    }

    mutating func output(_ name: String) {
        var vi = Onnx_ValueInfoProto()
        vi.name = name
        graph.output.append(vi)
    }

    mutating func initializer(_ name: String, _ t: Tensor) {
        var p = Onnx_TensorProto()
        p.name = name
        p.dataType = t.type.rawValue
        p.dims = t.shape.map(Int64.init)
        p.rawData = Data(t.bytes)
        graph.initializer.append(p)
    }

    mutating func floats(_ name: String, _ v: [Float], _ shape: [Int]) { initializer(name, Tensor(floats: v, shape: shape)) }

    mutating func node(_ op: String, _ inputs: [String], _ outputs: [String], ints: [String: [Int64]] = [:],
                       int: [String: Int64] = [:]) {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = outputs.first ?? op
        n.input = inputs
        n.output = outputs
        for (k, v) in ints {
            var a = Onnx_AttributeProto()
            a.name = k
            a.type = .ints
            a.ints = v
            n.attribute.append(a)
        }
        for (k, v) in int {
            var a = Onnx_AttributeProto()
            a.name = k
            a.type = .int
            a.i = v
            n.attribute.append(a)
        }
        graph.node.append(n)
    }

    func model() -> Onnx_ModelProto {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var o = Onnx_OperatorSetIdProto()
        o.version = opset
        m.opsetImport = [o]
        m.graph = graph
        return m
    }

    func data() throws -> Data { try model().serializedData() }

    /// The conv weights of smallQDQ, OIHW [channels][3][3][3]: full int8 range, or 7-bit (|w| <= 64, as
    /// quantize_static(reduce_range=True) makes them).
    static func smallQDQWeights(channels: Int, sevenBit: Bool = false) -> [Int8] {
        (0..<(channels * 27)).map { Int8(truncatingIfNeeded: sevenBit ? ($0 * 37) % 129 - 64 : ($0 * 37) % 255 - 127) }
    }

    /// A small QDQ network: Q -> DQ -> Conv 3x3 (int8 per-channel) -> Relu -> Q -> DQ -> MaxPool -> Q -> DQ ->
    /// GlobalAveragePool -> Flatten -> Gemm (float) -> Sigmoid. Input x [S, 3, 8, 8].
    static func smallQDQ(channels: Int = 4, sevenBit: Bool = false) -> ModelBuilder {
        var b = ModelBuilder()
        b.input("x", .float32, [nil, 3, 8, 8])
        b.floats("s_in", [1.0 / 255], [])
        b.initializer("z_in", Tensor(elements: [UInt8(0)], type: .uint8, shape: []))
        b.node("QuantizeLinear", ["x", "s_in", "z_in"], ["xq"])
        b.node("DequantizeLinear", ["xq", "s_in", "z_in"], ["xd"])
        let wq = smallQDQWeights(channels: channels, sevenBit: sevenBit)
        b.initializer("wq", Tensor(elements: wq, type: .int8, shape: [channels, 3, 3, 3]))
        b.floats("ws", (0..<channels).map { 0.002 + Float($0) * 0.001 }, [channels])
        b.initializer("wz", Tensor(elements: [Int8](repeating: 0, count: channels), type: .int8, shape: [channels]))
        b.node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], int: ["axis": 0])
        b.floats("bias", (0..<channels).map { Float($0) * 0.01 - 0.01 }, [channels])
        b.node("Conv", ["xd", "w", "bias"], ["c"], ints: ["kernel_shape": [3, 3], "pads": [1, 1, 1, 1]])
        b.node("Relu", ["c"], ["r"])
        b.floats("s_r", [0.02], [])
        b.initializer("z_r", Tensor(elements: [UInt8(0)], type: .uint8, shape: []))
        b.node("QuantizeLinear", ["r", "s_r", "z_r"], ["rq"])
        b.node("DequantizeLinear", ["rq", "s_r", "z_r"], ["rd"])
        b.node("MaxPool", ["rd"], ["p"], ints: ["kernel_shape": [2, 2], "strides": [2, 2]])
        b.node("QuantizeLinear", ["p", "s_r", "z_r"], ["pq"])
        b.node("DequantizeLinear", ["pq", "s_r", "z_r"], ["pd"])
        b.node("GlobalAveragePool", ["pd"], ["g"])
        b.node("Flatten", ["g"], ["f"])
        b.floats("gw", (0..<(2 * channels)).map { Float($0 % 5) * 0.3 - 0.6 }, [2, channels])
        b.floats("gb", [0.1, -0.1], [2])
        b.node("Gemm", ["f", "gw", "gb"], ["logits"], int: ["transB": 1])
        b.node("Sigmoid", ["logits"], ["probs"])
        b.output("probs")
        return b
    }
}
