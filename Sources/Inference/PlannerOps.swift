import CKernels
import Foundation

/// Per-operator planning: constant folding, shape inference and step emission.
extension Planner {
    static let foldable: Set<String> = [
        "Identity", "Cast", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Gather", "Concat", "Slice", "Transpose",
        "Add", "Sub", "Mul", "Div", "QuantizeLinear", "Relu", "Clip", "Sigmoid", "Tanh",
    ]

    func visit(_ index: Int, _ node: Graph.Node) throws {
        switch node.op {
        case "Constant": return try constantNode(node)
        case "Shape":
            let v = try required(node, 0)
            var dims = v.shape
            let start = try node.int("start", 0), end = try node.int("end", dims.count)
            let s = max(0, min(dims.count, start < 0 ? start + dims.count : start))
            let e = max(s, min(dims.count, end < 0 ? end + dims.count : end))
            dims = Array(dims[s..<e])
            return defineConstant(node, Tensor(int64s: dims.map(Int64.init), shape: [dims.count]))
        case "DequantizeLinear": return try dequantizeNode(node)
        default: break
        }
        let inputs = try node.inputs.map { $0.isEmpty ? nil : try value($0, node) }
        if Planner.foldable.contains(node.op), inputs.allSatisfy({ $0 == nil || $0!.isConstant }) {
            return try fold(node, inputs.map { $0.flatMap { constant($0) } })
        }
        if try fuseQuantized(index, node) { return }
        switch node.op {
        case "Identity", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Cast": try reshapeNode(node)
        case "QuantizeLinear": try quantizeNode(node)
        case "Relu", "Clip", "Sigmoid", "Tanh": try unaryNode(node)
        case "Add", "Sub", "Mul", "Div": try binaryNode(node)
        case "Conv": try floatConv(node)
        case "Gemm", "MatMul": try floatGemm(node)
        case "MaxPool", "AveragePool", "GlobalAveragePool": try floatPool(node)
        case "Transpose", "Slice", "Concat", "Gather": try moveNode(node)
        case "LSTM": try lstmNode(node)
        default: throw InferenceError(.unsupported, "\(node.label): operator '\(node.op)' is not supported")
        }
    }

    // MARK: constants

    func constantNode(_ node: Graph.Node) throws {
        if case .tensor(let t)? = node.attributes["value"] { return defineConstant(node, t) }
        if case .float(let f)? = node.attributes["value_float"] { return defineConstant(node, Tensor(floats: [f], shape: [])) }
        if case .floats(let f)? = node.attributes["value_floats"] { return defineConstant(node, Tensor(floats: f, shape: [f.count])) }
        if case .int(let i)? = node.attributes["value_int"] { return defineConstant(node, Tensor(int64s: [Int64(i)], shape: [])) }
        if case .ints(let i)? = node.attributes["value_ints"] {
            return defineConstant(node, Tensor(int64s: i.map(Int64.init), shape: [i.count]))
        }
        throw InferenceError(.unsupported, "\(node.label): only tensor, float(s) and int(s) constants are supported")
    }

    func dequantizeNode(_ node: Graph.Node) throws {
        let x = try required(node, 0)
        let scaleV = try required(node, 1)
        let scale = try requireConstant(scaleV, node, "the scale").floats
        var zp = [Int32](repeating: 0, count: scale.count)
        if let z = try input(node, 2) {
            let zt = try requireConstant(z, node, "the zero point")
            guard zt.count == scale.count else {
                throw InferenceError(.invalidGraph, "\(node.label): zero point has \(zt.count) values, scale \(scale.count)")
            }
            guard zt.type == x.type else {
                throw InferenceError(.invalidGraph, "\(node.label): zero point type \(zt.type) differs from input type \(x.type)")
            }
            zp = zt.asInts().map { Int32($0) }
        }
        guard scale.allSatisfy({ $0.isFinite }) else {
            throw InferenceError(.invalidGraph, "\(node.label): scale is not finite")
        }
        guard [.uint8, .int8, .int32].contains(x.type) else {
            throw InferenceError(.unsupported, "\(node.label): dequantizing \(x.type) is not supported")
        }
        var axis = try node.int("axis", 1)
        if scale.count > 1 {
            axis = try TensorOps.normalizeAxis(axis, rank: x.shape.count, node.label)
            guard x.shape[axis] == scale.count else {
                throw InferenceError(.invalidGraph, "\(node.label): \(scale.count) scales for axis \(axis) of shape \(x.shape)")
            }
        }
        let out = PValue(name: node.outputs[0], type: .float32, shape: x.shape)
        if let c = constant(x) {
            out.qconst = PValue.QConst(q: c, scale: scale, zp: zp, axis: axis)
        } else {
            guard scale.count == 1, x.type != .int32 else {
                throw InferenceError(.unsupported, "\(node.label): per-axis or int32 dequantization of a run-time tensor")
            }
            out.dq = PValue.DQ(source: x, params: QParams(scale: scale[0], zp: zp[0]))
            out.nhwc = x.nhwc
        }
        define(node.outputs[0], out)
    }

    /// Constant folding of shape arithmetic and constant subgraphs.
    func fold(_ node: Graph.Node, _ c: [Tensor?]) throws {
        func need(_ i: Int) throws -> Tensor {
            guard i < c.count, let t = c[i] else { throw InferenceError(.invalidGraph, "\(node.label) lacks input \(i)") }
            return t
        }
        switch node.op {
        case "Identity": defineConstant(node, try need(0))
        case "Cast":
            let to = try node.int("to", 1)
            guard let t = ElementType(rawValue: Int32(to)) else {
                throw InferenceError(.unsupported, "\(node.label): cast to \(ElementType.onnxName(Int32(to)))")
            }
            let x = try need(0)
            let d = x.asDoubles().map { t == .float32 ? $0 : $0.rounded(.towardZero) }
            defineConstant(node, Tensor.fromDoubles(d, type: t, shape: x.shape))
        case "Reshape", "Flatten", "Squeeze", "Unsqueeze":
            let x = try need(0)
            var t = x
            t.shape = try reshapedShape(node, x.shape)
            defineConstant(node, t)
        case "Transpose", "Slice", "Concat", "Gather":
            let shapes = try c.map { try ($0 ?? need(0)).shape }
            let (out, moves) = try movePlan(node, shapes: shapes)
            let ins = c.compactMap { $0 }
            defineConstant(node, TensorOps.apply(moves, inputs: ins, outShape: out, type: ins[0].type))
        case "Add", "Sub", "Mul", "Div":
            let a = try need(0), b = try need(1)
            let isInt = a.type != .float32
            let f: (Double, Double) -> Double
            switch node.op {
            case "Add": f = { $0 + $1 }
            case "Sub": f = { $0 - $1 }
            case "Mul": f = { $0 * $1 }
            default: f = { y, z in isInt ? (z == 0 ? 0 : (y / z).rounded(.towardZero)) : y / z }
            }
            defineConstant(node, try TensorOps.binary(a, b, node.label, f))
        case "QuantizeLinear":
            let x = try need(0)
            guard let (qp, type) = try scalarQParams(node) else {
                throw InferenceError(.unsupported, "\(node.label): per-axis quantization of a constant")
            }
            let d = x.floats.map { v -> Double in
                let q = (v / qp.scale).rounded(.toNearestOrEven)
                return Double(max(-65536, min(65536, q))) + Double(qp.zp)
            }
            defineConstant(node, Tensor.fromDoubles(d, type: type, shape: x.shape))
        case "Relu", "Clip", "Sigmoid", "Tanh":
            let x = try need(0)
            let (lo, hi) = try clipBounds(node)
            let d = x.floats.map { v -> Double in
                switch node.op {
                case "Relu": return Double(max(v, 0))
                case "Clip": return Double(min(max(v, lo), hi))
                case "Sigmoid": return Double(sigmoid(v))
                default: return Double(Foundation.tanh(v))
                }
            }
            defineConstant(node, Tensor.fromDoubles(d, type: .float32, shape: x.shape))
        default:
            throw InferenceError(.unsupported, "\(node.label): cannot fold '\(node.op)'")
        }
    }

    // MARK: shapes

    func reshapedShape(_ node: Graph.Node, _ shape: [Int]) throws -> [Int] {
        let count = elementCount(shape)
        switch node.op {
        case "Identity", "Cast": return shape
        case "Flatten":
            let a = try node.int("axis", 1)
            let axis = a < 0 ? a + shape.count : a
            guard axis >= 0, axis <= shape.count else { throw InferenceError(.invalidGraph, "\(node.label): axis \(a)") }
            return [elementCount(Array(shape[..<axis])), elementCount(Array(shape[axis...]))]
        case "Reshape":
            let spec = try requireConstant(try required(node, 1), node, "the target shape").asInts()
            let allowZero = try node.int("allowzero", 0) != 0
            var out = spec.enumerated().map { i, d in d == 0 && !allowZero && i < shape.count ? shape[i] : d }
            let minus = out.indices.filter { out[$0] == -1 }
            guard minus.count <= 1, out.allSatisfy({ $0 >= -1 }) else {
                throw InferenceError(.invalidGraph, "\(node.label): bad target shape \(spec)")
            }
            let known = elementCount(out.filter { $0 != -1 })
            if let m = minus.first {
                guard known > 0, count % known == 0 else {
                    throw InferenceError(.invalidGraph, "\(node.label): cannot reshape \(shape) to \(spec)")
                }
                out[m] = count / known
            }
            guard elementCount(out) == count, count < 1 << 60 else {
                throw InferenceError(.invalidGraph, "\(node.label): cannot reshape \(shape) (\(count) elements) to \(spec)")
            }
            return out
        case "Squeeze":
            let axes = try axesOf(node)
            if let axes {
                let ax = try axes.map { try TensorOps.normalizeAxis($0, rank: shape.count, node.label) }
                for a in ax where shape[a] != 1 {
                    throw InferenceError(.invalidGraph, "\(node.label): cannot squeeze axis \(a) of shape \(shape)")
                }
                return shape.enumerated().filter { !ax.contains($0.offset) }.map(\.element)
            }
            return shape.filter { $0 != 1 }
        case "Unsqueeze":
            guard let axes = try axesOf(node) else { throw InferenceError(.invalidGraph, "\(node.label): no axes") }
            let rank = shape.count + axes.count
            let ax = try axes.map { try TensorOps.normalizeAxis($0, rank: rank, node.label) }
            guard Set(ax).count == ax.count else { throw InferenceError(.invalidGraph, "\(node.label): repeated axes") }
            var out: [Int] = []
            var it = shape.makeIterator()
            for d in 0..<rank { out.append(ax.contains(d) ? 1 : it.next()!) }
            return out
        default:
            throw InferenceError(.unsupported, "\(node.label): not a reshape")
        }
    }

    func axesOf(_ node: Graph.Node) throws -> [Int]? {
        if let a = try node.ints("axes") { return a }
        if let v = try input(node, 1) { return try requireConstant(v, node, "axes").asInts() }
        return nil
    }

    func movePlan(_ node: Graph.Node, shapes: [[Int]]) throws -> ([Int], [MoveSpec]) {
        switch node.op {
        case "Transpose": return try TensorOps.transpose(shapes[0], perm: try node.ints("perm"), node.label)
        case "Concat": return try TensorOps.concat(shapes, axis: try node.int("axis", 0), node.label)
        case "Gather":
            let idx = try requireConstant(try required(node, 1), node, "Gather indices")
            return try TensorOps.gather(shapes[0], indices: idx.asInts(), indicesShape: idx.shape,
                                        axis: try node.int("axis", 0), node.label)
        case "Slice":
            if graph.opset < 10 {
                guard let st = try node.ints("starts"), let en = try node.ints("ends") else {
                    throw InferenceError(.invalidGraph, "\(node.label): no starts/ends")
                }
                return try TensorOps.slice(shapes[0], starts: st, ends: en, axes: try node.ints("axes"), steps: nil, node.label)
            }
            func ints(_ i: Int) throws -> [Int]? {
                guard let v = try input(node, i) else { return nil }
                return try requireConstant(v, node, "Slice input \(i)").asInts()
            }
            guard let st = try ints(1), let en = try ints(2) else {
                throw InferenceError(.invalidGraph, "\(node.label): no starts/ends")
            }
            return try TensorOps.slice(shapes[0], starts: st, ends: en, axes: try ints(3), steps: try ints(4), node.label)
        default: throw InferenceError(.unsupported, "\(node.label): not a data-movement op")
        }
    }

    func clipBounds(_ node: Graph.Node) throws -> (Float, Float) {
        if node.op == "Relu" { return (0, .infinity) }
        if node.op != "Clip" { return (-.infinity, .infinity) }
        if graph.opset < 11 {
            return (try node.float("min", -.greatestFiniteMagnitude), try node.float("max", .greatestFiniteMagnitude))
        }
        var lo = -Float.infinity, hi = Float.infinity
        if let v = try input(node, 1) { lo = try requireConstant(v, node, "Clip min").floats.first ?? lo }
        if let v = try input(node, 2) { hi = try requireConstant(v, node, "Clip max").floats.first ?? hi }
        return (lo, hi)
    }

    // MARK: run-time ops

    func reshapeNode(_ node: Graph.Node) throws {
        let x = try required(node, 0)
        if node.op == "Cast" {
            let to = try node.int("to", 1)
            guard to == Int(x.type.rawValue) else {
                throw InferenceError(.unsupported, "\(node.label): run-time Cast from \(x.type) to \(ElementType.onnxName(Int32(to)))")
            }
        }
        let shape = try reshapedShape(node, x.shape)
        let out = PValue(name: node.outputs[0], type: x.type, shape: shape)
        if node.op == "Identity" && shape.count == 4 {
            // Identity keeps the layout: no copy even for NHWC.
            out.nhwc = x.nhwc
            out.buffer = x.buffer
            out.dq = x.dq
            out.quant = x.quant
            if out.buffer == nil && out.dq == nil { out.buffer = try runtime(x) }
        } else if let dq = x.dq, x.buffer == nil {
            // Reshape the quantized source and keep the dequantization lazy.
            let src = try plain(dq.source)
            let alias = PValue(name: node.outputs[0] + "#q", type: src.type, shape: shape)
            alias.buffer = try runtime(src)
            alias.quant = src.quant
            out.dq = PValue.DQ(source: alias, params: dq.params)
        } else {
            let p = try plain(x)
            out.buffer = try runtime(p)
            out.quant = p.quant
        }
        define(node.outputs[0], out)
    }

    func quantizeNode(_ node: Graph.Node) throws {
        let x = try required(node, 0)
        guard x.type == .float32 else { throw InferenceError(.unsupported, "\(node.label): quantizing \(x.type)") }
        guard let (qp, type) = try scalarQParams(node), type == .uint8 || type == .int8 else {
            throw InferenceError(.unsupported, "\(node.label): only per-tensor uint8/int8 quantization of run-time tensors")
        }
        let src = try runtime(x)
        let out = try newValue(node, type: type, shape: x.shape, nhwc: x.nhwc)
        out.quant = qp
        emit(QuantizeStep(label: node.label, x: src, y: out.buffer!, count: x.count, scale: qp.scale, zp: qp.zp,
                          type: qtype(type), images: x.shape.count == 4 ? max(1, x.shape[0]) : 1),
             reads: [src], writes: [out.buffer!])
    }

    func unaryNode(_ node: Graph.Node) throws {
        let x = try required(node, 0)
        guard x.type == .float32 else { throw InferenceError(.unsupported, "\(node.label) on \(x.type)") }
        let src = try runtime(x)
        let out = try newValue(node, type: .float32, shape: x.shape, nhwc: x.nhwc)
        let kind: UnaryStep.Kind
        switch node.op {
        case "Relu": kind = .relu
        case "Sigmoid": kind = .sigmoid
        case "Tanh": kind = .tanh
        default: let (lo, hi) = try clipBounds(node); kind = .clip(lo, hi)
        }
        emit(UnaryStep(label: node.label, kind: kind, x: src, y: out.buffer!, count: x.count), reads: [src], writes: [out.buffer!])
    }

    func binaryNode(_ node: Graph.Node) throws {
        var a = try required(node, 0), b = try required(node, 1)
        guard a.type == .float32, b.type == .float32 else {
            throw InferenceError(.unsupported, "\(node.label): run-time \(node.op) on \(a.type)/\(b.type) (float32 only)")
        }
        let shape = try TensorOps.broadcast(a.shape, b.shape, node.label)
        var useNHWC = false
        if a.shape == b.shape, a.shape.count == 4, a.nhwc || b.nhwc {
            a = try nhwc(a); b = try nhwc(b); useNHWC = true
        } else {
            a = try plain(a); b = try plain(b)
        }
        let ba = try runtime(a), bb = try runtime(b)
        let out = try newValue(node, type: .float32, shape: shape, nhwc: useNHWC)
        let op: BinaryStep.Op = ["Add": .add, "Sub": .sub, "Mul": .mul, "Div": .div][node.op]!
        let sh = useNHWC ? [a.count] : shape
        emit(BinaryStep(label: node.label, op: op, a: ba, aShape: useNHWC ? sh : a.shape, b: bb,
                        bShape: useNHWC ? sh : b.shape, y: out.buffer!, shape: sh),
             reads: [ba, bb], writes: [out.buffer!])
    }

    func moveNode(_ node: Graph.Node) throws {
        var ins: [PValue] = []
        for (i, n) in node.inputs.enumerated() where !n.isEmpty {
            if node.op != "Concat" && i > 0 { break }
            ins.append(try plain(try value(n, node)))
        }
        guard let first = ins.first, ins.allSatisfy({ $0.type == first.type }) else {
            throw InferenceError(.invalidGraph, "\(node.label): inputs of different types")
        }
        let (shape, moves) = try movePlan(node, shapes: ins.map(\.shape))
        let srcs = try ins.map { try runtime($0) }
        let out = try newValue(node, type: first.type, shape: shape)
        out.quant = first.quant
        let m = moves.filter { !$0.shape.contains(0) }.map {
            CopyStep.Move(src: srcs[$0.input], srcOffset: $0.srcOffset, dstOffset: $0.dstOffset, shape: $0.shape,
                          srcStrides: $0.srcStrides, dstStrides: $0.dstStrides)
        }
        emit(CopyStep(label: node.label, dst: out.buffer!, moves: m, elementSize: first.type.byteSize),
             reads: srcs, writes: [out.buffer!])
    }
}
