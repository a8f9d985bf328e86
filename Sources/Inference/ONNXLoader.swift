import Foundation
import SwiftProtobuf

/// Reads an ONNX file into a validated `Graph`. Hostile input (truncated protobuf, absurd sizes, cycles,
/// initializers whose data does not match their declared shape, external data) is rejected with a clear error.
enum ONNXLoader {
    /// Limits that keep a hostile file from making us allocate or loop without bound.
    static let maxFileBytes = 1 << 31
    static let maxTensorElements = 1 << 31
    static let maxRank = 8
    static let maxDimension = 1 << 28

    /// Operators we implement (default ONNX domain).
    static let supportedOps: Set<String> = [
        "Conv", "Relu", "Clip", "Add", "Mul", "Sub", "Div", "MaxPool", "AveragePool", "GlobalAveragePool", "Gemm",
        "MatMul", "Sigmoid", "Tanh", "LSTM", "QuantizeLinear", "DequantizeLinear", "Flatten", "Reshape", "Squeeze",
        "Unsqueeze", "Transpose", "Concat", "Gather", "Slice", "Shape", "Constant", "Identity", "Cast",
    ]

    static func load(contentsOf url: URL) throws -> Graph {
        let attrs = try? FileManager.default.attributesOfItem(atPath: url.path)
        if let size = attrs?[.size] as? Int, size > maxFileBytes {
            throw InferenceError(.malformedModel, "\(url.lastPathComponent): file of \(size) bytes exceeds the 2 GiB protobuf limit")
        }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw InferenceError(.malformedModel, "cannot read \(url.path): \(error.localizedDescription)")
        }
        return try load(data, name: url.lastPathComponent)
    }

    static func load(_ data: Data, name: String = "model") throws -> Graph {
        guard !data.isEmpty else { throw InferenceError(.malformedModel, "\(name): empty file") }
        let model: Onnx_ModelProto
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            model = try Onnx_ModelProto(serializedBytes: data, partial: true, options: options)
        } catch {
            throw InferenceError(.malformedModel, "\(name): not a valid ONNX protobuf (\(error)); the file may be truncated or corrupt")
        }
        guard model.hasGraph else { throw InferenceError(.malformedModel, "\(name): no graph in the model") }
        var opset = 0
        for o in model.opsetImport where o.domain.isEmpty || o.domain == "ai.onnx" { opset = Int(o.version) }
        if opset == 0 {
            throw InferenceError(.unsupported, "\(name): the model imports no default-domain ONNX opset")
        }
        return try convert(model.graph, opset: opset)
    }

    static func convert(_ g: Onnx_GraphProto, opset: Int) throws -> Graph {
        if !g.sparseInitializer.isEmpty {
            throw InferenceError(.unsupported, "sparse initializers are not supported ('\(g.sparseInitializer[0].values.name)')")
        }
        var initializers: [String: Tensor] = [:]
        for t in g.initializer {
            guard !t.name.isEmpty else { throw InferenceError(.invalidGraph, "an initializer has no name") }
            if initializers[t.name] != nil { throw InferenceError(.invalidGraph, "initializer '\(t.name)' is defined twice") }
            initializers[t.name] = try tensor(t, what: "initializer '\(t.name)'")
        }
        var inputs: [Graph.Input] = []
        for vi in g.input where initializers[vi.name] == nil {
            inputs.append(try graphInput(vi))
        }
        var outputTypes: [String: ElementType] = [:]
        for vi in g.output where vi.hasType && vi.type.tensorType.elemType != 0 {
            if let t = ElementType(rawValue: vi.type.tensorType.elemType) { outputTypes[vi.name] = t }
        }
        var nodes: [Graph.Node] = []
        for n in g.node {
            nodes.append(try node(n))
        }
        let graph = Graph(nodes: try topologicalOrder(nodes, defined: Set(initializers.keys).union(inputs.map(\.name))),
                          initializers: initializers, inputs: inputs, outputs: g.output.map(\.name),
                          outputTypes: outputTypes, opset: opset)
        for o in graph.outputs where o.isEmpty {
            throw InferenceError(.invalidGraph, "a graph output has no name")
        }
        return graph
    }

    static func graphInput(_ vi: Onnx_ValueInfoProto) throws -> Graph.Input {
        guard vi.hasType, case .tensorType(let tt)? = vi.type.value else {
            throw InferenceError(.unsupported, "graph input '\(vi.name)' is not a tensor")
        }
        guard let type = ElementType(rawValue: tt.elemType) else {
            throw InferenceError(.unsupported, "graph input '\(vi.name)' has element type \(ElementType.onnxName(tt.elemType))")
        }
        var dims: [Int?] = []
        if tt.hasShape {
            guard tt.shape.dim.count <= maxRank else {
                throw InferenceError(.invalidGraph, "graph input '\(vi.name)' has rank \(tt.shape.dim.count) (> \(maxRank))")
            }
            for d in tt.shape.dim {
                if case .dimValue(let v)? = d.value {
                    guard v >= 0, v <= maxDimension else {
                        throw InferenceError(.invalidGraph, "graph input '\(vi.name)' has absurd dimension \(v)")
                    }
                    dims.append(Int(v))
                } else {
                    dims.append(nil)
                }
            }
        }
        return Graph.Input(name: vi.name, type: type, dims: dims)
    }

    static func node(_ n: Onnx_NodeProto) throws -> Graph.Node {
        var label = "\(n.opType) node"
        if !n.name.isEmpty { label += " '\(n.name)'" }
        if !(n.domain.isEmpty || n.domain == "ai.onnx") {
            throw InferenceError(.unsupported, "\(label): operator domain '\(n.domain)' is not supported (only the default ONNX domain)")
        }
        guard supportedOps.contains(n.opType) else {
            throw InferenceError(.unsupported, "\(label): operator '\(n.opType)' is not supported")
        }
        guard !n.output.isEmpty else { throw InferenceError(.invalidGraph, "\(label) has no outputs") }
        var attributes: [String: Graph.Attribute] = [:]
        for a in n.attribute {
            if !a.refAttrName.isEmpty {
                throw InferenceError(.unsupported, "\(label): attribute references (function attributes) are not supported")
            }
            switch a.type {
            case .int: attributes[a.name] = .int(try smallInt(a.i, label))
            case .float: attributes[a.name] = .float(a.f)
            case .string: attributes[a.name] = .string(String(decoding: a.s, as: UTF8.self))
            case .ints:
                guard a.ints.count <= 1 << 16 else { throw InferenceError(.invalidGraph, "\(label): attribute '\(a.name)' too long") }
                attributes[a.name] = .ints(try a.ints.map { try smallInt($0, label) })
            case .floats: attributes[a.name] = .floats(a.floats)
            case .strings: attributes[a.name] = .strings(a.strings.map { String(decoding: $0, as: UTF8.self) })
            case .tensor: attributes[a.name] = .tensor(try tensor(a.t, what: "\(label) attribute '\(a.name)'"))
            default:
                // Older writers leave `type` unset; infer it from the one field that is filled.
                if a.type == .undefined, a.hasI { attributes[a.name] = .int(try smallInt(a.i, label)) }
                else if a.type == .undefined, a.hasF { attributes[a.name] = .float(a.f) }
                else if a.type == .undefined, !a.ints.isEmpty { attributes[a.name] = .ints(try a.ints.map { try smallInt($0, label) }) }
                else { throw InferenceError(.unsupported, "\(label): attribute '\(a.name)' of type \(a.type) is not supported") }
            }
        }
        return Graph.Node(name: n.name, op: n.opType, inputs: n.input, outputs: n.output, attributes: attributes)
    }

    static func smallInt(_ v: Int64, _ label: String) throws -> Int {
        // Attribute ints are sizes, axes, pads: anything this large is hostile (INT64_MAX in Slice ends is clamped).
        if v > Int64(Int32.max) { return Int(Int32.max) }
        if v < Int64(Int32.min) { return Int(Int32.min) }
        return Int(v)
    }

    /// Converts a TensorProto, checking that its data matches its declared shape and type.
    static func tensor(_ t: Onnx_TensorProto, what: String) throws -> Tensor {
        if t.dataLocation == .external || !t.externalData.isEmpty {
            throw InferenceError(.unsupported, "\(what) refers to external data; only self-contained ONNX files are supported")
        }
        if t.hasSegment { throw InferenceError(.unsupported, "\(what) is segmented; not supported") }
        guard let type = ElementType(rawValue: t.dataType) else {
            throw InferenceError(.unsupported, "\(what) has element type \(ElementType.onnxName(t.dataType))")
        }
        guard t.dims.count <= maxRank else { throw InferenceError(.invalidGraph, "\(what) has rank \(t.dims.count)") }
        var count = 1
        var shape: [Int] = []
        for d in t.dims {
            guard d >= 0, d <= Int64(maxDimension) else {
                throw InferenceError(.invalidGraph, "\(what) has absurd dimension \(d)")
            }
            let (m, o) = count.multipliedReportingOverflow(by: Int(d))
            guard !o, m <= maxTensorElements else {
                throw InferenceError(.invalidGraph, "\(what) declares \(t.dims) elements: too large")
            }
            count = m
            shape.append(Int(d))
        }
        func mismatch(_ have: Int, _ unit: String) -> InferenceError {
            InferenceError(.invalidGraph, "\(what) declares shape \(shape) (\(count) elements of \(type)) but holds \(have) \(unit)")
        }
        if t.hasRawData {
            guard t.rawData.count == count * type.byteSize else { throw mismatch(t.rawData.count, "bytes of data") }
            return Tensor(type: type, shape: shape, bytes: [UInt8](t.rawData))
        }
        switch type {
        case .float32:
            guard t.floatData.count == count else { throw mismatch(t.floatData.count, "floats") }
            return Tensor(floats: t.floatData, shape: shape)
        case .int64:
            guard t.int64Data.count == count else { throw mismatch(t.int64Data.count, "int64s") }
            return Tensor(int64s: t.int64Data, shape: shape)
        case .int32:
            guard t.int32Data.count == count else { throw mismatch(t.int32Data.count, "int32s") }
            return Tensor(elements: t.int32Data, type: .int32, shape: shape)
        case .uint8:
            guard t.int32Data.count == count else { throw mismatch(t.int32Data.count, "values") }
            return Tensor(elements: t.int32Data.map { UInt8(truncatingIfNeeded: $0) }, type: .uint8, shape: shape)
        case .int8:
            guard t.int32Data.count == count else { throw mismatch(t.int32Data.count, "values") }
            return Tensor(elements: t.int32Data.map { Int8(truncatingIfNeeded: $0) }, type: .int8, shape: shape)
        }
    }

    /// Kahn's algorithm; a node left over sits on a cycle (or reads a value nothing defines).
    static func topologicalOrder(_ nodes: [Graph.Node], defined: Set<String>) throws -> [Graph.Node] {
        var producer: [String: Int] = [:]
        for (i, n) in nodes.enumerated() {
            for o in n.outputs where !o.isEmpty {
                if defined.contains(o) || producer[o] != nil {
                    throw InferenceError(.invalidGraph, "value '\(o)' is defined twice (second time by \(n.label))")
                }
                producer[o] = i
            }
        }
        var pending = [Int](repeating: 0, count: nodes.count)
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (i, n) in nodes.enumerated() {
            for v in n.inputs where !v.isEmpty && !defined.contains(v) {
                guard let p = producer[v] else {
                    throw InferenceError(.invalidGraph, "\(n.label) reads '\(v)', which no node, input or initializer defines")
                }
                pending[i] += 1
                consumers[p].append(i)
            }
        }
        var ready = (0..<nodes.count).filter { pending[$0] == 0 }
        var order: [Graph.Node] = []
        order.reserveCapacity(nodes.count)
        var head = 0
        while head < ready.count {
            let i = ready[head]; head += 1
            order.append(nodes[i])
            for c in consumers[i] {
                pending[c] -= 1
                if pending[c] == 0 { ready.append(c) }
            }
        }
        if order.count != nodes.count {
            let stuck = nodes.indices.first { pending[$0] > 0 }!
            throw InferenceError(.invalidGraph, "the graph has a cycle (through \(nodes[stuck].label))")
        }
        return order
    }
}
