import Foundation

/// A block move between an input and the output of a data-movement op (Transpose, Slice, Concat, Gather),
/// in elements. The same description drives constant folding (on `Tensor`s) and run-time `CopyStep`s.
struct MoveSpec {
    var input: Int
    var srcOffset: Int
    var dstOffset: Int
    var shape: [Int]
    var srcStrides: [Int]
    var dstStrides: [Int]
}

/// Shape and data-movement arithmetic shared by constant folding and run-time steps.
enum TensorOps {
    static func normalizeAxis(_ a: Int, rank: Int, _ what: String) throws -> Int {
        let r = a < 0 ? a + rank : a
        guard r >= 0, r < max(rank, 1) else {
            throw InferenceError(.invalidGraph, "\(what): axis \(a) is out of range for rank \(rank)")
        }
        return r
    }

    static func transpose(_ shape: [Int], perm: [Int]?, _ what: String) throws -> ([Int], [MoveSpec]) {
        let p = perm ?? Array((0..<shape.count).reversed())
        guard p.count == shape.count, Set(p) == Set(0..<shape.count) else {
            throw InferenceError(.invalidGraph, "\(what): perm \(p) is not a permutation of rank \(shape.count)")
        }
        let s = contiguousStrides(shape)
        let out = p.map { shape[$0] }
        return (out, [MoveSpec(input: 0, srcOffset: 0, dstOffset: 0, shape: out, srcStrides: p.map { s[$0] },
                               dstStrides: contiguousStrides(out))])
    }

    static func slice(_ shape: [Int], starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?, _ what: String) throws
        -> ([Int], [MoveSpec]) {
        guard starts.count == ends.count else { throw InferenceError(.invalidGraph, "\(what): starts and ends differ in length") }
        let ax = try (axes ?? Array(0..<starts.count)).map { try normalizeAxis($0, rank: shape.count, what) }
        let st = steps ?? [Int](repeating: 1, count: starts.count)
        guard ax.count == starts.count, st.count == starts.count, Set(ax).count == ax.count else {
            throw InferenceError(.invalidGraph, "\(what): axes/steps do not match starts")
        }
        var out = shape
        let s = contiguousStrides(shape)
        var srcStrides = s
        var offset = 0
        for (i, a) in ax.enumerated() {
            let dim = shape[a], step = st[i]
            guard step != 0 else { throw InferenceError(.invalidGraph, "\(what): slice step 0") }
            var b = max(min(starts[i], 1 << 40), -(1 << 40)), e = max(min(ends[i], 1 << 40), -(1 << 40))
            if b < 0 { b += dim }
            if e < 0 { e += dim }
            let count: Int
            if step > 0 {
                b = min(max(b, 0), dim); e = min(max(e, 0), dim)
                count = e > b ? (e - b + step - 1) / step : 0
            } else {
                b = min(max(b, 0), dim - 1); e = min(max(e, -1), dim - 1)
                count = b > e ? (b - e + (-step) - 1) / (-step) : 0
            }
            out[a] = count
            offset += count > 0 ? b * s[a] : 0
            srcStrides[a] = s[a] * step
        }
        return (out, [MoveSpec(input: 0, srcOffset: offset, dstOffset: 0, shape: out, srcStrides: srcStrides,
                               dstStrides: contiguousStrides(out))])
    }

    static func concat(_ shapes: [[Int]], axis: Int, _ what: String) throws -> ([Int], [MoveSpec]) {
        guard let first = shapes.first else { throw InferenceError(.invalidGraph, "\(what): no inputs") }
        let a = try normalizeAxis(axis, rank: first.count, what)
        var out = first
        out[a] = 0
        for s in shapes {
            guard s.count == first.count, (0..<s.count).allSatisfy({ $0 == a || s[$0] == first[$0] }) else {
                throw InferenceError(.invalidGraph, "\(what): input shapes \(shapes) do not match outside axis \(a)")
            }
            out[a] += s[a]
        }
        let os = contiguousStrides(out)
        var moves: [MoveSpec] = []
        var at = 0
        for (i, s) in shapes.enumerated() {
            moves.append(MoveSpec(input: i, srcOffset: 0, dstOffset: at * os[a], shape: s,
                                  srcStrides: contiguousStrides(s), dstStrides: os))
            at += s[a]
        }
        return (out, moves)
    }

    static func gather(_ shape: [Int], indices: [Int], indicesShape: [Int], axis: Int, _ what: String) throws
        -> ([Int], [MoveSpec]) {
        let a = try normalizeAxis(axis, rank: shape.count, what)
        let out = Array(shape[..<a]) + indicesShape + Array(shape[(a + 1)...])
        let s = contiguousStrides(shape), os = contiguousStrides(out)
        let inner = shape[(a + 1)...].reduce(1, *)
        let blockShape = Array(shape[..<a]) + Array(shape[(a + 1)...])
        let srcStrides = Array(s[..<a]) + Array(s[(a + 1)...])
        // Output dims: shape[..<a], then the indices' dims, then shape[(a+1)...]: the block keeps the first and last groups.
        let dstStrides = Array(os[..<a]) + Array(os[(a + indicesShape.count)...])
        var moves: [MoveSpec] = []
        for (i, raw) in indices.enumerated() {
            let idx = raw < 0 ? raw + shape[a] : raw
            guard idx >= 0, idx < shape[a] else {
                throw InferenceError(.invalidGraph, "\(what): index \(raw) out of range for dimension \(shape[a])")
            }
            moves.append(MoveSpec(input: 0, srcOffset: idx * s[a], dstOffset: i * inner, shape: blockShape,
                                  srcStrides: srcStrides, dstStrides: dstStrides))
        }
        return (out, moves)
    }

    /// Applies moves to constant tensors.
    static func apply(_ moves: [MoveSpec], inputs: [Tensor], outShape: [Int], type: ElementType) -> Tensor {
        var out = Tensor(zeros: type, shape: outShape)
        out.bytes.withUnsafeMutableBytes { dst in
            for m in moves {
                inputs[m.input].bytes.withUnsafeBytes { src in
                    m.shape.withUnsafeBufferPointer { sh in
                        m.srcStrides.withUnsafeBufferPointer { ss in
                            m.dstStrides.withUnsafeBufferPointer { ds in
                                if sh.contains(0) { return }
                                stridedCopy(0, sh, ss, ds, src.baseAddress! + m.srcOffset * type.byteSize,
                                            dst.baseAddress! + m.dstOffset * type.byteSize, type.byteSize)
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    static func broadcast(_ a: [Int], _ b: [Int], _ what: String) throws -> [Int] {
        let r = max(a.count, b.count)
        let pa = [Int](repeating: 1, count: r - a.count) + a, pb = [Int](repeating: 1, count: r - b.count) + b
        return try (0..<r).map { d in
            if pa[d] == pb[d] || pb[d] == 1 { return pa[d] }
            if pa[d] == 1 { return pb[d] }
            throw InferenceError(.invalidGraph, "\(what): shapes \(a) and \(b) cannot be broadcast")
        }
    }

    /// Elementwise binary op on constants (shape arithmetic in exported graphs, folded weights).
    static func binary(_ a: Tensor, _ b: Tensor, _ what: String, _ f: (Double, Double) -> Double) throws -> Tensor {
        let out = try broadcast(a.shape, b.shape, what)
        let sa = BinaryStep.broadcastStrides(a.shape, to: out), sb = BinaryStep.broadcastStrides(b.shape, to: out)
        let va = a.asDoubles(), vb = b.asDoubles()
        let n = elementCount(out)
        guard n <= 1 << 24 else { throw InferenceError(.invalidGraph, "\(what): constant result of shape \(out) is absurdly large") }
        var r = [Double](repeating: 0, count: n)
        let os = contiguousStrides(out)
        for i in 0..<n {
            var ia = 0, ib = 0, rem = i
            for d in 0..<out.count {
                let c = rem / os[d]
                rem -= c * os[d]
                ia += c * sa[d]
                ib += c * sb[d]
            }
            r[i] = f(va[ia], vb[ib])
        }
        return Tensor.fromDoubles(r, type: a.type, shape: out)
    }
}
