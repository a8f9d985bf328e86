/// Read-only access to a fully connected layer's weights, for callers that need them outside a run
/// (Grad-CAM needs the slice head's weights to weigh the last feature map).
public struct LinearLayer: Sendable, Equatable {
    /// Row-major [outputs x inputs], already dequantized when the file stores them int8 (QDQ).
    public let weight: [Float]
    /// [outputs]; zeros when the layer has no bias.
    public let bias: [Float]
    public let outputs: Int
    public let inputs: Int
}

extension InferenceModel {
    /// The Gemm whose result is the value `output` (looking through activation Quantize/DequantizeLinear
    /// pairs that QDQ inserts after it), as y = x W^T + b with its alpha, beta and transB applied.
    public func linearLayer(producing output: String) throws -> LinearLayer {
        let producers = Dictionary(graph.nodes.flatMap { n in n.outputs.map { ($0, n) } }, uniquingKeysWith: { a, _ in a })
        var name = output
        var node = producers[name]
        while let n = node, n.op == "QuantizeLinear" || n.op == "DequantizeLinear", let src = n.input(0),
              graph.initializers[src] == nil {
            name = src
            node = producers[src]
        }
        guard let gemm = node, gemm.op == "Gemm" else {
            throw InferenceError(.badInput, "'\(output)' is not produced by a Gemm (found \(node?.op ?? "no node"))")
        }
        guard try gemm.int("transA", 0) == 0 else { throw InferenceError(.unsupported, "\(gemm.label): transA") }
        let transB = try gemm.int("transB", 0) != 0
        let alpha = try gemm.float("alpha", 1), beta = try gemm.float("beta", 1)
        guard let bName = gemm.input(1), let b = try constantFloats(bName, producers), b.shape.count == 2 else {
            throw InferenceError(.unsupported, "\(gemm.label): weights are not a constant matrix")
        }
        let (outputs, inputs) = transB ? (b.shape[0], b.shape[1]) : (b.shape[1], b.shape[0])
        var weight = [Float](repeating: 0, count: outputs * inputs)
        for o in 0..<outputs {
            for i in 0..<inputs {
                weight[o * inputs + i] = alpha * (transB ? b.values[o * inputs + i] : b.values[i * outputs + o])
            }
        }
        var bias = [Float](repeating: 0, count: outputs)
        if let cName = gemm.input(2) {
            guard let c = try constantFloats(cName, producers), c.values.count == outputs || c.values.count == 1 else {
                throw InferenceError(.unsupported, "\(gemm.label): bias is not a constant vector of \(outputs)")
            }
            for o in 0..<outputs { bias[o] = beta * c.values[c.values.count == 1 ? 0 : o] }
        }
        return LinearLayer(weight: weight, bias: bias, outputs: outputs, inputs: inputs)
    }

    /// A float initializer, or a DequantizeLinear of initializers (per-tensor or per-axis).
    private func constantFloats(_ name: String, _ producers: [String: Graph.Node]) throws -> (values: [Float], shape: [Int])? {
        if let t = graph.initializers[name] { return (t.floats, t.shape) }
        guard let dq = producers[name], dq.op == "DequantizeLinear", let x = dq.input(0).flatMap({ graph.initializers[$0] }),
              let scale = dq.input(1).flatMap({ graph.initializers[$0] })?.floats else { return nil }
        let zp = dq.input(2).flatMap { graph.initializers[$0] }?.asInts() ?? [Int](repeating: 0, count: scale.count)
        let q = x.asInts()
        guard !scale.isEmpty, zp.count == scale.count else { return nil }
        if scale.count == 1 { return (q.map { Float($0 - zp[0]) * scale[0] }, x.shape) }
        var axis = try dq.int("axis", 1)
        if axis < 0 { axis += x.shape.count }
        guard axis >= 0, axis < x.shape.count, x.shape[axis] == scale.count else { return nil }
        let inner = x.shape[(axis + 1)...].reduce(1, *)
        return (q.enumerated().map { i, v in let c = (i / inner) % scale.count; return Float(v - zp[c]) * scale[c] }, x.shape)
    }
}
