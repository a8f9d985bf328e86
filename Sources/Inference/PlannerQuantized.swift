import CKernels
import Foundation

/// QDQ fusion: DequantizeLinear -> {Conv, Gemm, MatMul, Add, pools} -> [Relu/Clip] -> QuantizeLinear chains become
/// single int8 kernel calls with fused requantization (and a following residual Add folded into the conv);
/// DequantizeLinear -> Relu/Clip -> QuantizeLinear alone becomes a 256-entry table.
extension Planner {
    /// The QuantizeLinear that ends a fusable chain, with the Relu/Clip folded in as clamp bounds.
    struct QTail {
        var output: String
        var params: QParams
        var type: ElementType
        var lo: Int32
        var hi: Int32
        var nodes: [Int]
    }

    func fuseQuantized(_ index: Int, _ node: Graph.Node) throws -> Bool {
        switch node.op {
        case "Conv": return try quantizedConv(node)
        case "Gemm", "MatMul": return try quantizedGemm(node)
        case "Add": return try quantizedAdd(node)
        case "MaxPool", "AveragePool", "GlobalAveragePool": return try quantizedPool(node)
        case "Relu", "Clip": return try quantizedActivation(index, node)
        default: return false
        }
    }

    func typeRange(_ t: ElementType) -> (Int32, Int32) { t == .int8 ? (-128, 127) : (0, 255) }

    /// Quantizes a float bound the way QuantizeLinear would.
    func quantizedBound(_ v: Float, _ p: QParams, _ t: ElementType) -> Int32 {
        let (lo, hi) = typeRange(t)
        if v == .infinity { return hi }
        if v == -.infinity { return lo }
        let q = (v / p.scale).rounded(.toNearestOrEven)
        return Int32(max(Float(lo), min(Float(hi), max(-65536, min(65536, q)) + Float(p.zp))))
    }

    func soleConsumer(_ name: String) -> Int? {
        guard !wantedSet.contains(name), let c = consumers[name], c.count == 1 else { return nil }
        return c[0]
    }

    func quantizeAfter(_ name: String) throws -> QTail? {
        guard var idx = soleConsumer(name) else { return nil }
        var nodes: [Int] = []
        var bounds: (Float, Float) = (-.infinity, .infinity)
        var node = graph.nodes[idx]
        if node.op == "Relu" || node.op == "Clip" {
            guard node.inputs.dropFirst().allSatisfy({ $0.isEmpty || values[$0]?.isConstant == true }) else { return nil }
            bounds = try clipBounds(node)
            nodes.append(idx)
            guard let next = soleConsumer(node.outputs[0]) else { return nil }
            idx = next
            node = graph.nodes[idx]
        }
        guard node.op == "QuantizeLinear", let (params, type) = try scalarQParams(node), type == .uint8 || type == .int8 else {
            return nil
        }
        nodes.append(idx)
        return QTail(output: node.outputs[0], params: params, type: type, lo: quantizedBound(bounds.0, params, type),
                     hi: quantizedBound(bounds.1, params, type), nodes: nodes)
    }

    /// Marks the chain's nodes done and defines its QuantizeLinear output: a new int8 buffer with the tail's
    /// quantization, in the given layout.
    func defineTailOutput(_ tail: QTail, shape: [Int], nhwc: Bool) throws -> PValue {
        fused.formUnion(tail.nodes)
        let out = PValue(name: tail.output, type: tail.type, shape: shape)
        out.nhwc = nhwc
        out.quant = tail.params
        out.buffer = try newBuffer(count: out.count, type: tail.type, what: tail.output)
        define(tail.output, out)
        return out
    }

    /// Bias as int32 in the accumulator's scale (in_scale * w_scale[n]).
    func accumulatorBias(_ node: Graph.Node, _ i: Int, inScale: Float, wScale: [Float], n: Int) throws -> [Int32]?? {
        guard let bv = try input(node, i) else { return .some(nil) }
        let scales = (0..<n).map { inScale * wScale[wScale.count == 1 ? 0 : $0] }
        if let bq = bv.qconst, bq.q.type == .int32, bq.q.count == n, bq.zp.allSatisfy({ $0 == 0 }) {
            let bs = (0..<n).map { bq.scale[bq.scale.count == 1 ? 0 : $0] }
            if zip(bs, scales).allSatisfy({ abs($0 - $1) <= 1e-6 * abs($1) }) {
                return .some(bq.q.elements(as: Int32.self))
            }
        }
        guard let bt = constant(bv), bt.count == n else { return nil }
        return .some(zip(bt.floats, scales).map { b, s in
            Int32(max(-2_147_483_648, min(2_147_483_647, (Double(b) / Double(s)).rounded(.toNearestOrEven))))
        })
    }

    func quantizedConv(_ node: Graph.Node) throws -> Bool {
        guard let xv = try input(node, 0), let xdq = xv.dq, let wv = try input(node, 1), let wq = wv.qconst,
              wq.q.type == .int8, wq.q.shape.count == 4, xv.shape.count == 4, wq.zp.allSatisfy({ $0 == 0 }),
              wq.scale.count == 1 || (wq.axis == 0 && wq.scale.count == wq.q.shape[0]),
              let tail = try quantizeAfter(node.outputs[0]), tail.type == xdq.source.type else { return false }
        let (g, groups, oc) = try convGeometry(node, x: xv.shape, w: wq.q.shape)
        guard g.dh == 1, g.dw == 1,
              case .some(let bias) = try accumulatorBias(node, 2, inScale: xdq.params.scale, wScale: wq.scale, n: oc) else {
            return false
        }
        var d = ick_conv_desc()
        (d.in_h, d.in_w, d.in_c, d.out_c) = (Int32(g.h), Int32(g.w), Int32(g.c), Int32(oc))
        (d.kernel_h, d.kernel_w, d.stride_h, d.stride_w) = (Int32(g.kh), Int32(g.kw), Int32(g.sh), Int32(g.sw))
        (d.pad_top, d.pad_left, d.pad_bottom, d.pad_right) = (Int32(g.pt), Int32(g.pl), Int32(g.pb), Int32(g.pr))
        d.groups = Int32(groups)
        d.type = qtype(tail.type)
        d.in_zp = xdq.params.zp
        let src = try nhwc(xdq.source)
        try emitQConv(node, desc: d, weights: wq, bias: bias, input: src, inScale: xdq.params.scale, tail: tail,
                      batch: g.n, outShape: [g.n, oc, g.oh, g.ow])
        return true
    }

    func quantizedGemm(_ node: Graph.Node) throws -> Bool {
        guard let av = try input(node, 0), let adq = av.dq, let bv = try input(node, 1), let bq = bv.qconst,
              bq.q.type == .int8, bq.q.shape.count == 2, av.shape.count >= 2, bq.zp.allSatisfy({ $0 == 0 }),
              let tail = try quantizeAfter(node.outputs[0]), tail.type == adq.source.type else { return false }
        var transB = false
        if node.op == "Gemm" {
            guard av.shape.count == 2, try node.int("transA", 0) == 0, try node.float("alpha", 1) == 1 else { return false }
            if node.input(2) != nil, try node.float("beta", 1) != 1 { return false }
            transB = try node.int("transB", 0) != 0
        }
        let (k, n) = transB ? (bq.q.shape[1], bq.q.shape[0]) : (bq.q.shape[0], bq.q.shape[1])
        guard av.shape.last == k, bq.scale.count == 1 || (bq.axis == (transB ? 0 : 1) && bq.scale.count == n) else { return false }
        guard case .some(let bias) = try accumulatorBias(node, 2, inScale: adq.params.scale, wScale: bq.scale, n: n) else {
            return false
        }
        var w = bq
        if !transB {
            let (s, mv) = try TensorOps.transpose(bq.q.shape, perm: [1, 0], node.label)
            w.q = TensorOps.apply(mv, inputs: [bq.q], outShape: s, type: .int8)
        }
        w.q.shape = [n, k, 1, 1]
        let m = av.count / k
        var d = ick_conv_desc()
        (d.in_h, d.in_w, d.in_c, d.out_c) = (1, Int32(m), Int32(k), Int32(n))
        (d.kernel_h, d.kernel_w, d.stride_h, d.stride_w, d.groups) = (1, 1, 1, 1, 1)
        d.type = qtype(tail.type)
        d.in_zp = adq.params.zp
        try emitQConv(node, desc: d, weights: w, bias: bias, input: try plain(adq.source), inScale: adq.params.scale,
                      tail: tail, batch: 1, outShape: Array(av.shape.dropLast()) + [n])
        return true
    }

    /// Emits the int8 conv, folding a following QDQ residual Add into its epilogue when the graph allows.
    func emitQConv(_ node: Graph.Node, desc: ick_conv_desc, weights w: PValue.QConst, bias: [Int32]?, input: PValue,
                   inScale: Float, tail: QTail, batch: Int, outShape: [Int]) throws {
        let key = "\(node.outputs[0])|\(desc.in_h)x\(desc.in_w)|\(desc.in_zp)|\(desc.type.rawValue)"
        let packed = try cache.get(key) {
            try PackedConv(desc: desc, weights: w.q.elements(as: Int8.self), bias: bias, label: node.label)
        }
        scratchBytes = max(scratchBytes, packed.scratchBytes)
        let oc = Int(desc.out_c)
        let mult = (0..<oc).map { inScale * w.scale[w.scale.count == 1 ? 0 : $0] / tail.params.scale }
        var rq = ick_requant()
        rq.mult = UnsafePointer(store.copy(mult.withUnsafeBytes { [UInt8]($0) }).assumingMemoryBound(to: Float.self))
        rq.out_zp = tail.params.zp
        (rq.lo, rq.hi) = (tail.lo, tail.hi)
        var outName = tail.output, outParams = tail.params
        var residual: Buffer?
        let rank4 = outShape.count == 4
        if let r = try residualAfter(tail, shape: outShape) {
            let res = rank4 ? try nhwc(r.source) : try plain(r.source)
            residual = try runtime(res)
            rq.residual_zp = r.params.zp
            rq.mid_ratio = tail.params.scale / r.sum.params.scale
            rq.residual_ratio = r.params.scale / r.sum.params.scale
            (rq.sum_zp, rq.sum_lo, rq.sum_hi) = (r.sum.params.zp, r.sum.lo, r.sum.hi)
            (outName, outParams) = (r.sum.output, r.sum.params)
            fused.formUnion(r.nodes)
        }
        fused.formUnion(tail.nodes)
        let inBuf = try runtime(input)
        let out = PValue(name: outName, type: tail.type, shape: outShape)
        out.nhwc = rank4
        out.quant = outParams
        out.buffer = try newBuffer(count: out.count, type: tail.type, what: "output '\(outName)' of \(node.label)")
        define(outName, out)
        emit(QConvStep(label: node.label, desc: desc, weights: packed, requant: rq, input: inBuf, output: out.buffer!,
                       residual: residual, batch: batch), reads: [inBuf, residual], writes: [out.buffer!])
    }

    /// Conv -> Q -> DQ -> Add(DQ(r)) -> [Relu] -> Q, with r already computed and of the same shape and type.
    func residualAfter(_ tail: QTail, shape: [Int]) throws
        -> (source: PValue, params: QParams, sum: QTail, nodes: [Int])? {
        guard let dqIdx = soleConsumer(tail.output) else { return nil }
        let dqNode = graph.nodes[dqIdx]
        guard dqNode.op == "DequantizeLinear", dqNode.inputs.first == tail.output,
              let (p, _) = try scalarQParams(dqNode), p == tail.params,
              let addIdx = soleConsumer(dqNode.outputs[0]) else { return nil }
        let add = graph.nodes[addIdx]
        guard add.op == "Add", add.inputs.count == 2, add.inputs[0] != add.inputs[1] else { return nil }
        let other = add.inputs[0] == dqNode.outputs[0] ? add.inputs[1] : add.inputs[0]
        guard let ov = values[other], let odq = ov.dq, ov.shape == shape, odq.source.type == tail.type,
              let sum = try quantizeAfter(add.outputs[0]), sum.type == tail.type else { return nil }
        return (odq.source, odq.params, sum, [dqIdx, addIdx] + sum.nodes)
    }

    /// DequantizeLinear -> Relu/Clip -> QuantizeLinear on a uint8/int8 tensor (an activation the quantizer left
    /// outside its conv, as in the detector's stem) as a 256-entry table: the input has only 256 values, and the
    /// table is made by the very operations of the unfused steps (ick_dequantize_f32, the activation as
    /// UnaryStep computes it, ick_quantize_f32), so the result is the same bit for bit, without the float tensors.
    func quantizedActivation(_ index: Int, _ node: Graph.Node) throws -> Bool {
        guard let xv = try input(node, 0), let xdq = xv.dq, let tail = try quantizeAfter(node.inputs[0]),
              tail.nodes.count == 2, tail.nodes[0] == index else { return false }
        let (lo, hi) = try clipBounds(node)
        let bytes = (0..<256).map { UInt8($0) }
        var f = [Float](repeating: 0, count: 256)
        ick_dequantize_f32(256, bytes, qtype(xdq.source.type), xdq.params.scale, xdq.params.zp, &f)
        for i in 0..<256 { f[i] = node.op == "Relu" ? max(f[i], 0) : min(max(f[i], lo), hi) }
        var table = [UInt8](repeating: 0, count: 256)
        ick_quantize_f32(256, f, tail.params.scale, tail.params.zp, qtype(tail.type), &table)
        let keepNHWC = xv.shape.count == 4 && xdq.source.nhwc
        let src = try runtime(keepNHWC ? try nhwc(xdq.source) : try plain(xdq.source))
        let out = try defineTailOutput(tail, shape: xv.shape, nhwc: keepNHWC)
        emit(QTableStep(label: "\(node.label) (int8 table)", x: src, y: out.buffer!, count: out.count, table: table,
                        images: xv.shape.count == 4 ? max(1, xv.shape[0]) : 1),
             reads: [src], writes: [out.buffer!])
        return true
    }

    func quantizedAdd(_ node: Graph.Node) throws -> Bool {
        guard let av = try input(node, 0), let bv = try input(node, 1), let adq = av.dq, let bdq = bv.dq,
              av.shape == bv.shape, adq.source.type == bdq.source.type,
              let tail = try quantizeAfter(node.outputs[0]), tail.type == adq.source.type else { return false }
        let toNHWC = av.shape.count == 4 && (adq.source.nhwc || bdq.source.nhwc)
        let a = toNHWC ? try nhwc(adq.source) : try plain(adq.source)
        let b = toNHWC ? try nhwc(bdq.source) : try plain(bdq.source)
        let ab = try runtime(a), bb = try runtime(b)
        let out = try defineTailOutput(tail, shape: av.shape, nhwc: toNHWC)
        emit(QAddStep(label: node.label, a: ab, b: bb, y: out.buffer!, count: out.count, type: qtype(tail.type),
                      aZP: adq.params.zp, aRatio: adq.params.scale / tail.params.scale, bZP: bdq.params.zp,
                      bRatio: bdq.params.scale / tail.params.scale, yZP: tail.params.zp, lo: tail.lo, hi: tail.hi,
                      images: av.shape.count == 4 ? max(1, av.shape[0]) : 1),
             reads: [ab, bb], writes: [out.buffer!])
        return true
    }

    func quantizedPool(_ node: Graph.Node) throws -> Bool {
        guard let xv = try input(node, 0), let xdq = xv.dq, xv.shape.count == 4,
              node.outputs.count == 1 || node.outputs[1].isEmpty,
              let tail = try quantizeAfter(node.outputs[0]), tail.type == xdq.source.type else { return false }
        let (tlo, thi) = typeRange(tail.type)
        // AveragePool keeps ONNX's QDQ semantics literally (dequantize, float average, quantize), as ONNX Runtime
        // does: the integer kernel's rounding differs by one step at ties. It is not on any speed path.
        if node.op == "AveragePool" { return false }
        let isMax = node.op == "MaxPool"
        if isMax && (tail.params != xdq.params || tail.lo != tlo || tail.hi != thi) { return false }
        let g: WindowGeometry
        if node.op == "GlobalAveragePool" {
            g = WindowGeometry(n: xv.shape[0], c: xv.shape[1], h: xv.shape[2], w: xv.shape[3], oh: 1, ow: 1)
        } else {
            guard let k = try node.ints("kernel_shape") else { throw InferenceError(.invalidGraph, "\(node.label): no kernel_shape") }
            g = try window(node, input: xv.shape, kernel: k)
            guard g.dh == 1, g.dw == 1 else { return false }
        }
        let src = try nhwc(xdq.source)
        let inBuf = try runtime(src)
        let out = try defineTailOutput(tail, shape: [g.n, g.c, g.oh, g.ow], nhwc: true)
        let ratio = xdq.params.scale / tail.params.scale
        if node.op == "GlobalAveragePool" {
            emit(QGlobalAvgPoolStep(label: node.label, input: inBuf, output: out.buffer!, batch: g.n, pixels: g.h * g.w,
                                    channels: g.c, type: qtype(tail.type), inZP: xdq.params.zp, ratio: ratio,
                                    outZP: tail.params.zp, lo: tail.lo, hi: tail.hi), reads: [inBuf], writes: [out.buffer!])
            return true
        }
        var d = ick_pool_desc()
        (d.in_h, d.in_w, d.channels, d.out_h, d.out_w) = (Int32(g.h), Int32(g.w), Int32(g.c), Int32(g.oh), Int32(g.ow))
        (d.kernel_h, d.kernel_w, d.stride_h, d.stride_w) = (Int32(g.kh), Int32(g.kw), Int32(g.sh), Int32(g.sw))
        (d.pad_top, d.pad_left, d.pad_bottom, d.pad_right) = (Int32(g.pt), Int32(g.pl), Int32(g.pb), Int32(g.pr))
        d.count_include_pad = Int32(try node.int("count_include_pad", 0))
        d.type = qtype(tail.type)
        guard ick_pool_check(&d) == ICK_OK else {
            throw InferenceError(.unsupported, "\(node.label): the int8 pooling kernel rejects this window")
        }
        emit(QPoolStep(label: node.label, desc: d, isMax: isMax, input: inBuf, output: out.buffer!, batch: g.n,
                       inZP: xdq.params.zp, ratio: ratio, outZP: tail.params.zp, lo: tail.lo, hi: tail.hi),
             reads: [inBuf], writes: [out.buffer!])
        return true
    }
}
