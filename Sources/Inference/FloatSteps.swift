import CKernels
import Foundation

/// Elementwise float activation, in place allowed.
final class UnaryStep: Step {
    enum Kind { case relu, clip(Float, Float), sigmoid, tanh }
    let label: String
    let kind: Kind
    let x: Buffer, y: Buffer, count: Int

    init(label: String, kind: Kind, x: Buffer, y: Buffer, count: Int) {
        self.label = label
        self.kind = kind
        self.x = x
        self.y = y
        self.count = count
    }

    func run(_ ctx: RunContext) throws {
        let s = x.ptr.assumingMemoryBound(to: Float.self), d = y.ptr.assumingMemoryBound(to: Float.self)
        forEachChunk(ctx, count) { b, e in
            switch kind {
            case .relu: for i in b..<e { d[i] = max(s[i], 0) }
            case .clip(let lo, let hi): for i in b..<e { d[i] = min(max(s[i], lo), hi) }
            case .sigmoid: for i in b..<e { d[i] = sigmoid(s[i]) }
            case .tanh: for i in b..<e { d[i] = Foundation.tanh(s[i]) }
            }
        }
    }
}

@inline(__always) func sigmoid(_ x: Float) -> Float {
    x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
}

/// Broadcasting float binary op (NumPy rules); strides of broadcast dimensions are 0.
final class BinaryStep: Step {
    enum Op { case add, sub, mul, div }
    let label: String
    let op: Op
    let a: Buffer, b: Buffer, y: Buffer
    let shape: [Int], aStrides: [Int], bStrides: [Int]

    init(label: String, op: Op, a: Buffer, aShape: [Int], b: Buffer, bShape: [Int], y: Buffer, shape: [Int]) {
        self.label = label
        self.op = op
        self.a = a
        self.b = b
        self.y = y
        self.shape = shape
        aStrides = BinaryStep.broadcastStrides(aShape, to: shape)
        bStrides = BinaryStep.broadcastStrides(bShape, to: shape)
    }

    static func broadcastStrides(_ s: [Int], to out: [Int]) -> [Int] {
        let padded = [Int](repeating: 1, count: out.count - s.count) + s
        var strides = [Int](repeating: 0, count: out.count)
        var acc = 1
        for d in stride(from: out.count - 1, through: 0, by: -1) {
            strides[d] = padded[d] == 1 ? 0 : acc
            acc *= padded[d]
        }
        return strides
    }

    func run(_ ctx: RunContext) throws {
        let pa = a.ptr.assumingMemoryBound(to: Float.self), pb = b.ptr.assumingMemoryBound(to: Float.self)
        var out = y.ptr.assumingMemoryBound(to: Float.self)
        shape.withUnsafeBufferPointer { sh in
            aStrides.withUnsafeBufferPointer { sa in
                bStrides.withUnsafeBufferPointer { sb in
                    walk(0, sh, sa, sb, pa, pb, &out)
                }
            }
        }
    }

    private func walk(_ d: Int, _ sh: UnsafeBufferPointer<Int>, _ sa: UnsafeBufferPointer<Int>,
                      _ sb: UnsafeBufferPointer<Int>, _ pa: UnsafePointer<Float>, _ pb: UnsafePointer<Float>,
                      _ out: inout UnsafeMutablePointer<Float>) {
        if d == sh.count {
            let x = pa.pointee, z = pb.pointee
            switch op {
            case .add: out.pointee = x + z
            case .sub: out.pointee = x - z
            case .mul: out.pointee = x * z
            case .div: out.pointee = x / z
            }
            out += 1
            return
        }
        for i in 0..<sh[d] { walk(d + 1, sh, sa, sb, pa + i * sa[d], pb + i * sb[d], &out) }
    }
}

/// C[m][n] = bias[n] + sum_k A[m][k] * W[n][k] (Gemm, MatMul), over `batches` independent products.
final class GemmStep: Step {
    let label: String
    let a: Buffer, w: Buffer, bias: Buffer?, c: Buffer
    let m: Int, n: Int, k: Int, batches: Int, aBatchStride: Int, wBatchStride: Int
    /// When set, C starts as this [M,N] tensor (Gemm's C input of full shape) and bias is added on top.
    let initial: Buffer?
    var macs: Int { batches * m * n * k }

    init(label: String, a: Buffer, w: Buffer, bias: Buffer?, c: Buffer, m: Int, n: Int, k: Int, batches: Int = 1,
         aBatchStride: Int = 0, wBatchStride: Int = 0, initial: Buffer? = nil) {
        self.label = label
        self.a = a
        self.w = w
        self.bias = bias
        self.c = c
        self.m = m
        self.n = n
        self.k = k
        self.batches = batches
        self.aBatchStride = aBatchStride
        self.wBatchStride = wBatchStride
        self.initial = initial
    }

    func run(_ ctx: RunContext) throws {
        let pa = a.ptr.assumingMemoryBound(to: Float.self), pw = w.ptr.assumingMemoryBound(to: Float.self)
        let pc = c.ptr.assumingMemoryBound(to: Float.self)
        let pbias = bias.map { UnsafePointer($0.ptr.assumingMemoryBound(to: Float.self)) }
        if let initial { pc.update(from: initial.ptr.assumingMemoryBound(to: Float.self), count: m * n) }
        let acc: Int32 = initial == nil ? 0 : 1
        let parts = batches == 1 ? max(1, min(ctx.pool.threadCount, m / 16)) : 1
        for bt in 0..<batches {
            ctx.pool.parallelFor(parts) { p, _ in
                let r0 = m * p / parts, r1 = m * (p + 1) / parts
                if r1 > r0 {
                    ick_sgemm(Int32(r1 - r0), Int32(n), Int32(k), pa + bt * aBatchStride + r0 * k, k,
                              pw + bt * wBatchStride, k, pbias, pc + (bt * m + r0) * n, n, acc)
                }
            }
        }
    }
}

/// Float convolution on NHWC tensors (float models; not a speed path). Weights [O][KH][KW][I/g].
final class FloatConvStep: Step {
    let label: String
    let x: Buffer, w: Buffer, bias: Buffer?, y: Buffer
    let n: Int, ih: Int, iw: Int, ic: Int, oh: Int, ow: Int, oc: Int, kh: Int, kw: Int
    let sh: Int, sw: Int, pt: Int, pl: Int, dh: Int, dw: Int, groups: Int
    var macs: Int { n * oh * ow * oc * kh * kw * (ic / groups) }

    init(label: String, x: Buffer, w: Buffer, bias: Buffer?, y: Buffer, n: Int, ih: Int, iw: Int, ic: Int, oh: Int,
         ow: Int, oc: Int, kh: Int, kw: Int, sh: Int, sw: Int, pt: Int, pl: Int, dh: Int, dw: Int, groups: Int) {
        self.label = label
        self.x = x; self.w = w; self.bias = bias; self.y = y
        self.n = n; self.ih = ih; self.iw = iw; self.ic = ic; self.oh = oh; self.ow = ow; self.oc = oc
        self.kh = kh; self.kw = kw; self.sh = sh; self.sw = sw; self.pt = pt; self.pl = pl
        self.dh = dh; self.dw = dw; self.groups = groups
    }

    func run(_ ctx: RunContext) throws {
        let px = x.ptr.assumingMemoryBound(to: Float.self), pw = w.ptr.assumingMemoryBound(to: Float.self)
        let py = y.ptr.assumingMemoryBound(to: Float.self)
        let pb = bias?.ptr.assumingMemoryBound(to: Float.self)
        let icg = ic / groups, ocg = oc / groups
        ctx.pool.parallelFor(n * oh) { row, _ in
            let b = row / oh, oy = row % oh
            for ox in 0..<ow {
                let out = py + ((b * oh + oy) * ow + ox) * oc
                for o in 0..<oc {
                    let g = o / ocg
                    var s: Float = pb?[o] ?? 0
                    for ky in 0..<kh {
                        let iy = oy * sh - pt + ky * dh
                        if iy < 0 || iy >= ih { continue }
                        for kx in 0..<kw {
                            let ix = ox * sw - pl + kx * dw
                            if ix < 0 || ix >= iw { continue }
                            let xi = px + ((b * ih + iy) * iw + ix) * ic + g * icg
                            let wi = pw + ((o * kh + ky) * kw + kx) * icg
                            for c in 0..<icg { s += xi[c] * wi[c] }
                        }
                    }
                    out[o] = s
                }
            }
        }
    }
}

/// Float MaxPool / AveragePool / GlobalAveragePool on NHWC tensors.
final class FloatPoolStep: Step {
    enum Kind { case max, average(includePad: Bool) }
    let label: String
    let kind: Kind
    let x: Buffer, y: Buffer
    let n: Int, ih: Int, iw: Int, c: Int, oh: Int, ow: Int, kh: Int, kw: Int, sh: Int, sw: Int
    let pt: Int, pl: Int, pb: Int, pr: Int

    init(label: String, kind: Kind, x: Buffer, y: Buffer, n: Int, ih: Int, iw: Int, c: Int, oh: Int, ow: Int,
         kh: Int, kw: Int, sh: Int, sw: Int, pt: Int, pl: Int, pb: Int, pr: Int) {
        self.label = label
        self.kind = kind
        self.x = x; self.y = y
        self.n = n; self.ih = ih; self.iw = iw; self.c = c; self.oh = oh; self.ow = ow
        self.kh = kh; self.kw = kw; self.sh = sh; self.sw = sw; self.pt = pt; self.pl = pl; self.pb = pb; self.pr = pr
    }

    func run(_ ctx: RunContext) throws {
        let px = x.ptr.assumingMemoryBound(to: Float.self), py = y.ptr.assumingMemoryBound(to: Float.self)
        ctx.pool.parallelFor(n * oh) { row, _ in
            let b = row / oh, oy = row % oh
            let y0 = oy * sh - pt, y1 = min(y0 + kh, ih), yy0 = max(y0, 0)
            for ox in 0..<ow {
                let x0 = ox * sw - pl, x1 = min(x0 + kw, iw), xx0 = max(x0, 0)
                let out = py + ((b * oh + oy) * ow + ox) * c
                var count = max(0, y1 - yy0) * max(0, x1 - xx0)
                if case .average(true) = kind {
                    count = (min(y0 + kh, ih + pb) - y0) * (min(x0 + kw, iw + pr) - x0)
                }
                for ch in 0..<c {
                    var acc: Float = 0
                    var mx = -Float.infinity
                    for iy in yy0..<max(yy0, y1) {
                        for ix in xx0..<max(xx0, x1) {
                            let v = px[((b * ih + iy) * iw + ix) * c + ch]
                            acc += v
                            mx = max(mx, v)
                        }
                    }
                    if case .max = kind { out[ch] = mx } else { out[ch] = count > 0 ? acc / Float(count) : 0 }
                }
            }
        }
    }
}

/// Moves of N-d blocks between buffers with arbitrary element strides: Transpose, Slice, Concat, Gather and
/// layout changes (NCHW <-> NHWC) are all lists of such moves.
final class CopyStep: Step {
    struct Move {
        var src: Buffer
        var srcOffset: Int
        var dstOffset: Int
        var shape: [Int]
        var srcStrides: [Int]
        var dstStrides: [Int]
    }

    let label: String
    let dst: Buffer
    let moves: [Move]
    let elementSize: Int

    init(label: String, dst: Buffer, moves: [Move], elementSize: Int) {
        self.label = label
        self.dst = dst
        self.moves = moves
        self.elementSize = elementSize
    }

    func run(_ ctx: RunContext) throws {
        for m in moves {
            m.shape.withUnsafeBufferPointer { sh in
                m.srcStrides.withUnsafeBufferPointer { ss in
                    m.dstStrides.withUnsafeBufferPointer { ds in
                        stridedCopy(0, sh, ss, ds, UnsafeRawPointer(m.src.ptr + m.srcOffset * elementSize),
                                    dst.ptr + m.dstOffset * elementSize, elementSize)
                    }
                }
            }
        }
    }
}

/// Copies an N-d block; the innermost dimension is one memcpy when both sides are contiguous there.
func stridedCopy(_ d: Int, _ shape: UnsafeBufferPointer<Int>, _ ss: UnsafeBufferPointer<Int>,
                 _ ds: UnsafeBufferPointer<Int>, _ src: UnsafeRawPointer, _ dst: UnsafeMutableRawPointer, _ es: Int) {
    if shape.isEmpty { dst.copyMemory(from: src, byteCount: es); return }
    let last = shape.count - 1
    if d == last {
        let n = shape[d]
        if ss[d] == 1 && ds[d] == 1 {
            dst.copyMemory(from: src, byteCount: n * es)
        } else if es == 1 {
            for i in 0..<n { dst.storeBytes(of: src.load(fromByteOffset: i * ss[d], as: UInt8.self), toByteOffset: i * ds[d], as: UInt8.self) }
        } else if es == 4 {
            for i in 0..<n { dst.storeBytes(of: src.load(fromByteOffset: i * ss[d] * 4, as: UInt32.self), toByteOffset: i * ds[d] * 4, as: UInt32.self) }
        } else {
            for i in 0..<n { (dst + i * ds[d] * es).copyMemory(from: src + i * ss[d] * es, byteCount: es) }
        }
        return
    }
    for i in 0..<shape[d] {
        stridedCopy(d + 1, shape, ss, ds, src + i * ss[d] * es, dst + i * ds[d] * es, es)
    }
}

func contiguousStrides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
        s[d] = acc
        acc *= shape[d]
    }
    return s
}
