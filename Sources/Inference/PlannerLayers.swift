import CKernels
import Foundation

/// Sizes of a 2-D convolution or pooling window over an NCHW-shaped input.
struct WindowGeometry {
    var n = 0, c = 0, h = 0, w = 0
    var kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1
    var pt = 0, pl = 0, pb = 0, pr = 0
    var oh = 0, ow = 0
}

extension Planner {
    /// Output size, padding and strides of a Conv / pooling node (auto_pad, ceil_mode, dilations).
    func window(_ node: Graph.Node, input: [Int], kernel: [Int]) throws -> WindowGeometry {
        guard input.count == 4 else {
            throw InferenceError(.unsupported, "\(node.label): only 2-D (NCHW) inputs are supported, got shape \(input)")
        }
        guard kernel.count == 2, kernel.allSatisfy({ $0 >= 1 && $0 <= 1 << 16 }) else {
            throw InferenceError(.invalidGraph, "\(node.label): bad kernel shape \(kernel)")
        }
        var g = WindowGeometry(n: input[0], c: input[1], h: input[2], w: input[3])
        (g.kh, g.kw) = (kernel[0], kernel[1])
        let s = try node.ints("strides") ?? [1, 1], d = try node.ints("dilations") ?? [1, 1]
        guard s.count == 2, d.count == 2, s.allSatisfy({ $0 >= 1 && $0 <= 1 << 16 }), d.allSatisfy({ $0 >= 1 && $0 <= 1 << 16 }) else {
            throw InferenceError(.invalidGraph, "\(node.label): bad strides \(s) or dilations \(d)")
        }
        (g.sh, g.sw, g.dh, g.dw) = (s[0], s[1], d[0], d[1])
        let ceil = try node.int("ceil_mode", 0) != 0
        let autoPad = try node.string("auto_pad", "NOTSET")
        let ekh = (g.kh - 1) * g.dh + 1, ekw = (g.kw - 1) * g.dw + 1
        switch autoPad {
        case "NOTSET":
            let p = try node.ints("pads") ?? [0, 0, 0, 0]
            guard p.count == 4, p.allSatisfy({ $0 >= 0 && $0 <= 1 << 16 }) else {
                throw InferenceError(.invalidGraph, "\(node.label): bad pads \(p)")
            }
            (g.pt, g.pl, g.pb, g.pr) = (p[0], p[1], p[2], p[3])
        case "VALID": break
        case "SAME_UPPER", "SAME_LOWER":
            let oh = (g.h + g.sh - 1) / g.sh, ow = (g.w + g.sw - 1) / g.sw
            let th = max(0, (oh - 1) * g.sh + ekh - g.h), tw = max(0, (ow - 1) * g.sw + ekw - g.w)
            if autoPad == "SAME_UPPER" { (g.pt, g.pl) = (th / 2, tw / 2) } else { (g.pt, g.pl) = (th - th / 2, tw - tw / 2) }
            (g.pb, g.pr) = (th - g.pt, tw - g.pl)
        default: throw InferenceError(.unsupported, "\(node.label): auto_pad '\(autoPad)'")
        }
        func outSize(_ i: Int, _ pa: Int, _ pe: Int, _ k: Int, _ st: Int) -> Int {
            let span = i + pa + pe - k
            if span < 0 { return 0 }
            var o = (ceil ? (span + st - 1) / st : span / st) + 1
            if ceil && (o - 1) * st >= i + pa { o -= 1 }
            return o
        }
        g.oh = outSize(g.h, g.pt, g.pb, ekh, g.sh)
        g.ow = outSize(g.w, g.pl, g.pr, ekw, g.sw)
        guard g.oh > 0, g.ow > 0 else {
            throw InferenceError(.invalidGraph, "\(node.label): window \(kernel) larger than the padded input \(input)")
        }
        return g
    }

    func convGeometry(_ node: Graph.Node, x: [Int], w: [Int]) throws -> (WindowGeometry, groups: Int, oc: Int) {
        guard w.count == 4 else { throw InferenceError(.unsupported, "\(node.label): only 2-D convolution (weight \(w))") }
        if let ks = try node.ints("kernel_shape"), ks != Array(w[2...]) {
            throw InferenceError(.invalidGraph, "\(node.label): kernel_shape \(ks) differs from weight shape \(w)")
        }
        let g = try window(node, input: x, kernel: Array(w[2...]))
        let groups = try node.int("group", 1)
        guard groups >= 1, g.c % groups == 0, w[0] % groups == 0, w[1] * groups == g.c else {
            throw InferenceError(.invalidGraph, "\(node.label): input has \(g.c) channels, weight \(w) with group \(groups)")
        }
        return (g, groups, w[0])
    }

    // MARK: float layers

    func floatConv(_ node: Graph.Node) throws {
        let x = try nhwc(try required(node, 0))
        let wt = try requireConstant(try required(node, 1), node, "the weight")
        let (g, groups, oc) = try convGeometry(node, x: x.shape, w: wt.shape)
        // OIHW -> O,KH,KW,I/g so the inner loop runs over contiguous channels.
        let (_, moves) = try TensorOps.transpose(wt.shape, perm: [0, 2, 3, 1], node.label)
        let wp = TensorOps.apply(moves, inputs: [wt], outShape: [oc, g.kh, g.kw, wt.shape[1]], type: .float32)
        var bias: Buffer?
        if let bv = try input(node, 2) {
            let bt = try requireConstant(bv, node, "the bias")
            guard bt.count == oc else { throw InferenceError(.invalidGraph, "\(node.label): bias of \(bt.count) for \(oc) channels") }
            bias = Buffer(constant: bt, store: store)
        }
        let xb = try runtime(x)
        let out = try newValue(node, type: .float32, shape: [g.n, oc, g.oh, g.ow], nhwc: true)
        emit(FloatConvStep(label: node.label, x: xb, w: Buffer(constant: wp, store: store), bias: bias, y: out.buffer!,
                           n: g.n, ih: g.h, iw: g.w, ic: g.c, oh: g.oh, ow: g.ow, oc: oc, kh: g.kh, kw: g.kw,
                           sh: g.sh, sw: g.sw, pt: g.pt, pl: g.pl, dh: g.dh, dw: g.dw, groups: groups),
             reads: [xb], writes: [out.buffer!])
    }

    func floatPool(_ node: Graph.Node) throws {
        let x = try nhwc(try required(node, 0))
        guard x.type == .float32, x.shape.count == 4 else {
            throw InferenceError(.unsupported, "\(node.label): only float 4-D input (got \(x.type) \(x.shape))")
        }
        if node.outputs.count > 1 && !node.outputs[1].isEmpty {
            throw InferenceError(.unsupported, "\(node.label): the Indices output is not supported")
        }
        let g: WindowGeometry
        var kind = FloatPoolStep.Kind.max
        if node.op == "GlobalAveragePool" {
            g = WindowGeometry(n: x.shape[0], c: x.shape[1], h: x.shape[2], w: x.shape[3], kh: x.shape[2], kw: x.shape[3],
                               oh: 1, ow: 1)
            kind = .average(includePad: false)
        } else {
            guard let k = try node.ints("kernel_shape") else { throw InferenceError(.invalidGraph, "\(node.label): no kernel_shape") }
            g = try window(node, input: x.shape, kernel: k)
            if g.dh != 1 || g.dw != 1 { throw InferenceError(.unsupported, "\(node.label): dilated pooling") }
            if node.op == "AveragePool" { kind = .average(includePad: try node.int("count_include_pad", 0) != 0) }
        }
        let xb = try runtime(x)
        let out = try newValue(node, type: .float32, shape: [g.n, g.c, g.oh, g.ow], nhwc: true)
        emit(FloatPoolStep(label: node.label, kind: kind, x: xb, y: out.buffer!, n: g.n, ih: g.h, iw: g.w, c: g.c,
                           oh: g.oh, ow: g.ow, kh: g.kh, kw: g.kw, sh: g.sh, sw: g.sw, pt: g.pt, pl: g.pl, pb: g.pb, pr: g.pr),
             reads: [xb], writes: [out.buffer!])
    }

    /// Float Gemm (A[M,K] * op(B) * alpha + beta * C) and MatMul (batched, B broadcast).
    func floatGemm(_ node: Graph.Node) throws {
        var a = try plain(try required(node, 0))
        let b = try plain(try required(node, 1))
        guard a.type == .float32, b.type == .float32 else {
            throw InferenceError(.unsupported, "\(node.label): run-time \(node.op) on \(a.type) x \(b.type)")
        }
        if node.op == "Gemm" {
            guard a.shape.count == 2, b.shape.count == 2 else {
                throw InferenceError(.invalidGraph, "\(node.label): Gemm needs rank-2 inputs, got \(a.shape) and \(b.shape)")
            }
            let transA = try node.int("transA", 0) != 0, transB = try node.int("transB", 0) != 0
            let alpha = try node.float("alpha", 1), beta = try node.float("beta", 1)
            if transA { a = try transposed(a, node) }
            let (m, k) = (a.shape[0], a.shape[1])
            let kb = transB ? b.shape[1] : b.shape[0], n = transB ? b.shape[0] : b.shape[1]
            guard kb == k else { throw InferenceError(.invalidGraph, "\(node.label): A is \(a.shape), B is \(b.shape)") }
            let w = try weightRows(b, transposed: !transB, scale: alpha, node)
            var bias: Buffer?, initial: Buffer?
            if let cv = try input(node, 2), beta != 0 {
                let ct = try requireConstant(cv, node, "C")
                let cs = try TensorOps.broadcast([m, n], ct.shape, node.label)
                guard cs == [m, n] else { throw InferenceError(.invalidGraph, "\(node.label): C \(ct.shape) for output [\(m), \(n)]") }
                let scaled = Tensor(floats: ct.floats.map { $0 * beta }, shape: ct.shape)
                if ct.count == n || ct.count == 1 {
                    bias = Buffer(constant: Tensor(floats: ct.count == 1 ? [Float](repeating: scaled.floats[0], count: n) : scaled.floats,
                                                   shape: [n]), store: store)
                } else {
                    let full = try TensorOps.binary(Tensor(zeros: .float32, shape: [m, n]), scaled, node.label, +)
                    initial = Buffer(constant: full, store: store)
                }
            }
            let ab = try runtime(a)
            let out = try newValue(node, type: .float32, shape: [m, n])
            emit(GemmStep(label: node.label, a: ab, w: w, bias: bias, c: out.buffer!, m: m, n: n, k: k, initial: initial),
                 reads: [ab, w], writes: [out.buffer!])
            return
        }
        // MatMul: A [..., M, K] x B [..., K, N] (B rank 2 or the same batch dimensions).
        guard a.shape.count >= 2, b.shape.count >= 2 else {
            throw InferenceError(.unsupported, "\(node.label): MatMul with 1-D operands")
        }
        let k = a.shape[a.shape.count - 1], n = b.shape[b.shape.count - 1]
        guard b.shape[b.shape.count - 2] == k else {
            throw InferenceError(.invalidGraph, "\(node.label): A is \(a.shape), B is \(b.shape)")
        }
        let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
        let w: Buffer
        var batches = 1, m = a.shape[a.shape.count - 2], aStride = 0, wStride = 0
        if b.shape.count == 2 {
            m = a.count / k
            w = try weightRows(b, transposed: true, scale: 1, node)
        } else {
            guard batchA == batchB else {
                throw InferenceError(.unsupported, "\(node.label): MatMul batch broadcasting \(a.shape) x \(b.shape)")
            }
            batches = batchA.reduce(1, *)
            aStride = m * k
            wStride = n * k
            w = try runtime(try transposed(b, node, perm: Array(0..<(b.shape.count - 2)) + [b.shape.count - 1, b.shape.count - 2]))
        }
        let ab = try runtime(a)
        let out = try newValue(node, type: .float32, shape: Array(a.shape.dropLast()) + [n])
        emit(GemmStep(label: node.label, a: ab, w: w, bias: nil, c: out.buffer!, m: m, n: n, k: k, batches: batches,
                      aBatchStride: aStride, wBatchStride: wStride), reads: [ab, w], writes: [out.buffer!])
    }

    /// B as [N][K] rows (what ick_sgemm multiplies by), scaled; constant when B is.
    func weightRows(_ b: PValue, transposed: Bool, scale: Float, _ node: Graph.Node) throws -> Buffer {
        if let t = constant(b) {
            var rows = t
            if transposed {
                let (s, mv) = try TensorOps.transpose(t.shape, perm: [1, 0], node.label)
                rows = TensorOps.apply(mv, inputs: [t], outShape: s, type: .float32)
            }
            if scale != 1 { rows = Tensor(floats: rows.floats.map { $0 * scale }, shape: rows.shape) }
            return Buffer(constant: rows, store: store)
        }
        guard scale == 1 else { throw InferenceError(.unsupported, "\(node.label): alpha != 1 with a run-time B") }
        return try runtime(transposed ? try self.transposed(b, node) : b)
    }

    func transposed(_ v: PValue, _ node: Graph.Node, perm: [Int] = [1, 0]) throws -> PValue {
        let (shape, moves) = try TensorOps.transpose(v.shape, perm: perm, node.label)
        let src = try runtime(v)
        let out = PValue(name: v.name + "#T", type: v.type, shape: shape)
        out.buffer = try newBuffer(count: v.count, type: v.type, what: out.name)
        emit(CopyStep(label: "transpose \(v.name)", dst: out.buffer!, moves: moves.map {
            CopyStep.Move(src: src, srcOffset: $0.srcOffset, dstOffset: $0.dstOffset, shape: $0.shape,
                          srcStrides: $0.srcStrides, dstStrides: $0.dstStrides)
        }, elementSize: v.type.byteSize), reads: [src], writes: [out.buffer!])
        return out
    }

    // MARK: LSTM

    func lstmNode(_ node: Graph.Node) throws {
        let x = try plain(try required(node, 0))
        guard x.type == .float32, x.shape.count == 3 else {
            throw InferenceError(.unsupported, "\(node.label): X must be float32 [seq, batch, input], got \(x.type) \(x.shape)")
        }
        if try node.int("layout", 0) != 0 { throw InferenceError(.unsupported, "\(node.label): layout=1 (batch-first)") }
        if try node.int("input_forget", 0) != 0 { throw InferenceError(.unsupported, "\(node.label): input_forget=1") }
        if node.attributes["clip"] != nil { throw InferenceError(.unsupported, "\(node.label): cell clip") }
        if let acts = try node.strings("activations"), acts.enumerated().contains(where: { $1 != (["Sigmoid", "Tanh", "Tanh"][$0 % 3]) }) {
            throw InferenceError(.unsupported, "\(node.label): activations \(acts) (only Sigmoid, Tanh, Tanh)")
        }
        let direction = try node.string("direction", "forward")
        let dirs: [Bool]
        switch direction {
        case "forward": dirs = [false]
        case "reverse": dirs = [true]
        case "bidirectional": dirs = [false, true]
        default: throw InferenceError(.invalidGraph, "\(node.label): direction '\(direction)'")
        }
        let (seq, batch, inp) = (x.shape[0], x.shape[1], x.shape[2])
        let w = try requireConstant(try required(node, 1), node, "W")
        let r = try requireConstant(try required(node, 2), node, "R")
        let hs = try node.int("hidden_size", r.shape.last ?? 0)
        let D = dirs.count, G = 4 * hs
        guard hs > 0, w.shape == [D, G, inp], r.shape == [D, G, hs] else {
            throw InferenceError(.invalidGraph, "\(node.label): W \(w.shape) / R \(r.shape) do not fit X \(x.shape), hidden \(hs), \(D) direction(s)")
        }
        var bias = [Float](repeating: 0, count: D * G)
        if let bv = try input(node, 3) {
            let bt = try requireConstant(bv, node, "B")
            guard bt.shape == [D, 2 * G] else { throw InferenceError(.invalidGraph, "\(node.label): B \(bt.shape)") }
            let f = bt.floats
            for d in 0..<D { for j in 0..<G { bias[d * G + j] = f[d * 2 * G + j] + f[d * 2 * G + G + j] } }
        }
        if let sl = try input(node, 4) {
            guard let t = constant(sl), t.asInts().allSatisfy({ $0 == seq }) else {
                throw InferenceError(.unsupported, "\(node.label): sequence_lens other than the full length")
            }
        }
        func state(_ i: Int) throws -> Buffer? {
            guard let v = try input(node, i) else { return nil }
            guard v.shape == [D, batch, hs], v.type == .float32 else {
                throw InferenceError(.invalidGraph, "\(node.label): initial state \(v.shape), expected [\(D), \(batch), \(hs)]")
            }
            return try runtime(try plain(v))
        }
        let h0 = try state(5), c0 = try state(6)
        var peep: Buffer?
        if let pv = try input(node, 7) {
            let pt = try requireConstant(pv, node, "P")
            guard pt.shape == [D, 3 * hs] else { throw InferenceError(.invalidGraph, "\(node.label): P \(pt.shape)") }
            peep = Buffer(constant: pt, store: store)
        }
        let xb = try runtime(x)
        func out(_ i: Int, _ shape: [Int]) throws -> Buffer? {
            guard i < node.outputs.count, !node.outputs[i].isEmpty else { return nil }
            return try newValue(node, i, type: .float32, shape: shape).buffer
        }
        let y = try out(0, [seq, D, batch, hs]), yh = try out(1, [D, batch, hs]), yc = try out(2, [D, batch, hs])
        let gx = try newBuffer(count: seq * batch * G, type: .float32, what: "LSTM scratch")
        let gates = try newBuffer(count: batch * G, type: .float32, what: "LSTM scratch")
        let h = try newBuffer(count: batch * hs, type: .float32, what: "LSTM scratch")
        let c = try newBuffer(count: batch * hs, type: .float32, what: "LSTM scratch")
        emit(LSTMStep(label: node.label, x: xb, w: Buffer(constant: w, store: store), r: Buffer(constant: r, store: store),
                      bias: Buffer(constant: Tensor(floats: bias, shape: [D, G]), store: store), peep: peep,
                      initialH: h0, initialC: c0, y: y, yh: yh, yc: yc, gx: gx, gates: gates, h: h, c: c,
                      seq: seq, batch: batch, input: inp, hidden: hs, directions: dirs),
             reads: [xb, h0, c0], writes: [y, yh, yc, gx, gates, h, c].compactMap { $0 })
    }
}
