/// Quantization of a run-time uint8/int8 tensor (per tensor).
struct QParams: Equatable {
    var scale: Float
    var zp: Int32
}

/// A value while planning: its logical (ONNX, NCHW) shape and type, and how it is held.
final class PValue {
    /// DequantizeLinear of a constant integer tensor: floats are made only if a float consumer needs them.
    struct QConst {
        var q: Tensor
        var scale: [Float]
        var zp: [Int32]
        var axis: Int
    }

    /// DequantizeLinear of a run-time quantized value: a DQ step is emitted only if a float consumer needs it.
    struct DQ {
        var source: PValue
        var params: QParams
    }

    let name: String
    var type: ElementType
    var shape: [Int]
    /// Rank-4 value stored as N,H,W,C (the logical shape stays N,C,H,W).
    var nhwc = false
    var buffer: Buffer?
    var constant: Tensor?
    var qconst: QConst?
    var dq: DQ?
    var quant: QParams?

    init(name: String, type: ElementType, shape: [Int]) {
        self.name = name
        self.type = type
        self.shape = shape
    }

    var count: Int { elementCount(shape) }
    var isConstant: Bool { constant != nil || qconst != nil }
    /// NHWC and NCHW hold the same bytes when H*W == 1 or C == 1.
    var layoutFree: Bool { shape.count != 4 || shape[2] * shape[3] == 1 || shape[1] == 1 }
}

/// Product of dimensions, saturating (so absurd shapes are caught by size checks instead of overflowing).
func elementCount(_ shape: [Int]) -> Int {
    var n = 1
    for d in shape {
        let (m, o) = n.multipliedReportingOverflow(by: max(d, 0))
        if o || m > 1 << 60 { return 1 << 60 }
        n = m
    }
    return n
}
