import CKernels
import Foundation

/// Compiles a validated graph, for concrete input shapes, into a list of steps over planned buffers:
/// constant folding, shape inference, QDQ fusion into int8 kernels, NHWC layout, weight packing.
final class Planner {
    let graph: Graph
    let cache: PackCache
    let store: ConstantStore
    /// Graph outputs plus requested extra outputs: never fused away.
    let wanted: [String]
    let wantedSet: Set<String>
    var values: [String: PValue] = [:]
    var steps: [Step] = []
    var buffers: [Buffer] = []
    var consumers: [String: [Int]] = [:]
    var fused = Set<Int>()
    var converted: [String: PValue] = [:]
    var scratchBytes = 0
    static let maxBufferBytes = 1 << 34

    init(graph: Graph, cache: PackCache, store: ConstantStore, extraOutputs: [String]) {
        self.graph = graph
        self.cache = cache
        self.store = store
        var w = graph.outputs
        for e in extraOutputs where !w.contains(e) { w.append(e) }
        wanted = w
        wantedSet = Set(w)
        for (i, n) in graph.nodes.enumerated() {
            for v in n.inputs where !v.isEmpty { consumers[v, default: []].append(i) }
        }
    }

    // MARK: driving

    func plan(inputShapes: [String: [Int]]) throws {
        for (name, t) in graph.initializers {
            let v = PValue(name: name, type: t.type, shape: t.shape)
            v.constant = t
            values[name] = v
        }
        for inp in graph.inputs {
            guard let shape = inputShapes[inp.name] else {
                throw InferenceError(.badInput, "no shape given for input '\(inp.name)'")
            }
            if !inp.dims.isEmpty {
                guard shape.count == inp.dims.count, zip(shape, inp.dims).allSatisfy({ $1 == nil || $0 == $1! }) else {
                    throw InferenceError(.badInput, "input '\(inp.name)' has shape \(shape); the model declares \(inp.dims.map { $0.map(String.init) ?? "?" })")
                }
            }
            let v = PValue(name: inp.name, type: inp.type, shape: shape)
            let b = try newBuffer(count: v.count, type: inp.type, what: "input '\(inp.name)'")
            b.first = -1
            v.buffer = b
            values[inp.name] = v
        }
        for name in wanted where !graph.nodes.contains(where: { $0.outputs.contains(name) })
            && values[name] == nil {
            throw InferenceError(.badInput, "output '\(name)' is not a value of this graph")
        }
        for (i, node) in graph.nodes.enumerated() where !fused.contains(i) {
            try visit(i, node)
        }
    }

    /// Makes every wanted output a plain-layout run-time buffer that lives to the end of the run.
    func finishOutputs() throws -> [(String, PValue)] {
        var result: [(String, PValue)] = []
        for name in wanted {
            guard let v = values[name] else {
                throw InferenceError(.invalidGraph, "output '\(name)' is never computed")
            }
            var p = try plain(v)
            if p.buffer == nil || p.buffer!.isConstant || p.buffer!.first == -1 {
                // Constants and pass-through inputs get their own output copy.
                let src = try runtime(p)
                let out = PValue(name: name, type: p.type, shape: p.shape)
                out.quant = p.quant
                out.buffer = try newBuffer(count: p.count, type: p.type, what: name)
                emit(CopyStep(label: "output \(name)", dst: out.buffer!, moves: [
                    CopyStep.Move(src: src, srcOffset: 0, dstOffset: 0, shape: [p.count], srcStrides: [1], dstStrides: [1]),
                ], elementSize: p.type.byteSize), reads: [src], writes: [out.buffer!])
                p = out
            }
            p.buffer!.last = Int.max
            result.append((name, p))
        }
        return result
    }

    // MARK: buffers and steps

    func newBuffer(count: Int, type: ElementType, what: String) throws -> Buffer {
        let (bytes, o) = count.multipliedReportingOverflow(by: type.byteSize)
        guard !o, bytes <= Planner.maxBufferBytes else {
            throw InferenceError(.invalidGraph, "\(what) would need \(o ? "more than 2^63" : String(bytes)) bytes: absurd dimensions")
        }
        let b = Buffer(bytes: bytes)
        buffers.append(b)
        return b
    }

    func emit(_ step: Step, reads: [Buffer?], writes: [Buffer]) {
        let i = steps.count
        for b in reads.compactMap({ $0 }) + writes where !b.isConstant { b.touch(i) }
        steps.append(step)
    }

    func value(_ name: String, _ node: Graph.Node) throws -> PValue {
        guard let v = values[name] else {
            throw InferenceError(.invalidGraph, "\(node.label) reads '\(name)' before it is computed")
        }
        return v
    }

    func input(_ node: Graph.Node, _ i: Int) throws -> PValue? {
        guard let n = node.input(i) else { return nil }
        return try value(n, node)
    }

    func required(_ node: Graph.Node, _ i: Int) throws -> PValue {
        guard let v = try input(node, i) else {
            throw InferenceError(.invalidGraph, "\(node.label) lacks required input \(i)")
        }
        return v
    }

    /// The constant tensor of a value (materializing a lazily dequantized constant), or nil if it is run-time.
    func constant(_ v: PValue) -> Tensor? {
        if let c = v.constant { return c }
        guard let qc = v.qconst else { return nil }
        let q = qc.q.asDoubles()
        let shape = qc.q.shape
        let inner = qc.scale.count == 1 ? 1 : shape[(qc.axis + 1)...].reduce(1, *)
        let channels = qc.scale.count
        var f = [Float](repeating: 0, count: q.count)
        for i in 0..<q.count {
            let ch = channels == 1 ? 0 : (i / inner) % channels
            f[i] = Float(q[i] - Double(qc.zp[ch])) * qc.scale[ch]
        }
        let t = Tensor(floats: f, shape: shape)
        v.constant = t
        return t
    }

    func requireConstant(_ v: PValue, _ node: Graph.Node, _ what: String) throws -> Tensor {
        guard let t = constant(v) else {
            throw InferenceError(.unsupported, "\(node.label): \(what) must be a constant (computed at run time here)")
        }
        return t
    }

    /// Run-time storage of a value, emitting a DequantizeLinear or placing a constant when needed.
    func runtime(_ v: PValue) throws -> Buffer {
        if let b = v.buffer { return b }
        if let dq = v.dq {
            let src = try runtime(dq.source)
            let out = try newBuffer(count: v.count, type: .float32, what: v.name)
            emit(DequantizeStep(label: "DequantizeLinear \(v.name)", x: src, y: out, count: v.count,
                                scale: dq.params.scale, zp: dq.params.zp, type: qtype(dq.source.type)),
                 reads: [src], writes: [out])
            v.buffer = out
            v.nhwc = dq.source.nhwc
            return out
        }
        guard let t = constant(v) else { throw InferenceError(.invalidGraph, "value '\(v.name)' has no storage") }
        let b = Buffer(constant: t, store: store)
        v.buffer = b
        v.nhwc = false
        return b
    }

    // MARK: layouts

    /// The value in plain (NCHW / row-major) layout. (`nhwc` of a lazily dequantized value is its source's.)
    func plain(_ v: PValue) throws -> PValue {
        v.nhwc ? try relayout(v, toNHWC: false) : v
    }

    /// The value of rank 4 in NHWC layout.
    func nhwc(_ v: PValue) throws -> PValue {
        v.nhwc || v.shape.count != 4 ? v : try relayout(v, toNHWC: true)
    }

    private func relayout(_ v: PValue, toNHWC: Bool) throws -> PValue {
        let key = v.name + (toNHWC ? "#nhwc" : "#nchw")
        if let c = converted[key] { return c }
        let out: PValue
        if let dq = v.dq, v.buffer == nil {
            // Convert the (smaller) quantized source and keep the dequantization lazy.
            let src = toNHWC ? try nhwc(dq.source) : try plain(dq.source)
            out = PValue(name: v.name, type: v.type, shape: v.shape)
            out.dq = PValue.DQ(source: src, params: dq.params)
            out.nhwc = toNHWC
        } else if v.layoutFree && !v.isConstant {
            out = PValue(name: v.name, type: v.type, shape: v.shape)
            out.buffer = try runtime(v)
            out.quant = v.quant
            out.nhwc = toNHWC
        } else {
            let src = try runtime(v)
            out = PValue(name: v.name, type: v.type, shape: v.shape)
            out.quant = v.quant
            out.nhwc = toNHWC
            out.buffer = try newBuffer(count: v.count, type: v.type, what: v.name)
            let (n, c, h, w) = (v.shape[0], v.shape[1], v.shape[2], v.shape[3])
            if v.type.byteSize == 1 || v.type.byteSize == 4 {
                emit(LayoutStep(label: "layout \(v.name)", src: src, dst: out.buffer!, images: n, channels: c, pixels: h * w,
                                elementSize: v.type.byteSize, toNHWC: toNHWC), reads: [src], writes: [out.buffer!])
            } else {
                // Iterate N, C, H, W so the innermost loop runs along W (long) rather than C.
                let nchw = contiguousStrides([n, c, h, w]), nhwcStrides = [h * w * c, 1, w * c, c]
                let move = CopyStep.Move(src: src, srcOffset: 0, dstOffset: 0, shape: [n, c, h, w],
                                         srcStrides: toNHWC ? nchw : nhwcStrides, dstStrides: toNHWC ? nhwcStrides : nchw)
                emit(CopyStep(label: "layout \(v.name)", dst: out.buffer!, moves: [move], elementSize: v.type.byteSize),
                     reads: [src], writes: [out.buffer!])
            }
        }
        converted[key] = out
        return out
    }

    // MARK: helpers

    func qtype(_ t: ElementType) -> ick_qtype { t == .int8 ? ICK_S8 : ICK_U8 }

    func define(_ name: String, _ v: PValue) { values[name] = v }

    func newValue(_ node: Graph.Node, _ i: Int = 0, type: ElementType, shape: [Int], nhwc: Bool = false) throws -> PValue {
        let v = PValue(name: node.outputs[i], type: type, shape: shape)
        v.nhwc = nhwc && shape.count == 4
        v.buffer = try newBuffer(count: v.count, type: type, what: "output '\(node.outputs[i])' of \(node.label)")
        values[node.outputs[i]] = v
        return v
    }

    func defineConstant(_ node: Graph.Node, _ t: Tensor, _ i: Int = 0) {
        let v = PValue(name: node.outputs[i], type: t.type, shape: t.shape)
        v.constant = t
        values[node.outputs[i]] = v
    }

    /// Per-tensor scale and zero point of a QuantizeLinear/DequantizeLinear node (nil if per-axis or run-time).
    func scalarQParams(_ node: Graph.Node) throws -> (QParams, ElementType)? {
        guard let s = try input(node, 1), let st = constant(s), st.count == 1 else { return nil }
        var zp: Int32 = 0
        var type = ElementType.uint8
        if let z = try input(node, 2) {
            guard let zt = constant(z), zt.count == 1 else { return nil }
            zp = Int32(zt.asInts()[0])
            type = zt.type
        }
        let scale = st.floats[0]
        guard scale > 0, scale.isFinite else {
            throw InferenceError(.invalidGraph, "\(node.label): scale \(scale) must be positive and finite")
        }
        return (QParams(scale: scale, zp: zp), type)
    }
}

/// Packed weights shared by every plan of a model (keyed by node and input geometry).
final class PackCache: @unchecked Sendable {
    private var packed: [String: PackedConv] = [:]
    private let lock = NSLock()

    func get(_ key: String, make: () throws -> PackedConv) throws -> PackedConv {
        lock.lock()
        defer { lock.unlock() }
        if let p = packed[key] { return p }
        let p = try make()
        packed[key] = p
        return p
    }

    var totalBytes: Int { lock.lock(); defer { lock.unlock() }; return packed.values.reduce(0) { $0 + $1.bytes } }
}
