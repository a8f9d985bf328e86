import CKernels
import Foundation

/// Weights packed once for the active kernel variant, with the per-channel requantization multipliers.
final class PackedConv: @unchecked Sendable {
    let packed: UnsafeMutableRawPointer
    let bytes: Int
    let scratchBytes: Int
    /// The kernels chose their byte format for these weights (AVX2: 7-bit-safe weights run on vpmaddubsw; same
    /// results as the int16 format, faster).
    let byteFormat: Bool

    init(desc: ick_conv_desc, weights: [Int8], bias: [Int32]?, label: String) throws {
        var d = desc
        let check = ick_conv_check(&d)
        guard check == ICK_OK else {
            throw InferenceError(.unsupported, "\(label): the int8 kernels reject this convolution (\(String(cString: ick_error_text(check))))")
        }
        bytes = ick_conv_packed_size(&d)
        scratchBytes = ick_conv_scratch_size(&d)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 64), alignment: 64)
        let rc: Int32 = weights.withUnsafeBufferPointer { w in
            if let bias {
                return bias.withUnsafeBufferPointer { ick_conv_pack(&d, w.baseAddress, $0.baseAddress, buffer) }
            }
            return ick_conv_pack(&d, w.baseAddress, nil, buffer)
        }
        guard rc == ICK_OK else {
            buffer.deallocate()
            throw InferenceError(.kernel, "\(label): packing weights failed (\(String(cString: ick_error_text(rc))))")
        }
        packed = buffer
        byteFormat = ick_conv_packed_bytes(buffer) == 1
    }

    deinit { packed.deallocate() }
}

private func kernelFailure(_ label: String, _ rc: Int32) -> InferenceError {
    InferenceError(.kernel, "\(label): kernel failed (\(String(cString: ick_error_text(rc))))")
}

/// Splits `batch` images over the pool: whole images when there are enough, else pixel ranges of each image.
private func forEachImagePart(_ ctx: RunContext, batch: Int, pixels: Int,
                              _ body: (_ image: Int, _ begin: Int32, _ end: Int32, _ thread: Int) -> Void) {
    let threads = ctx.pool.threadCount
    let chunks = batch >= threads || pixels < 64 ? 1 : (threads + batch - 1) / batch
    ctx.pool.parallelFor(batch * chunks) { u, t in
        let n = u / chunks, c = u % chunks
        body(n, Int32(pixels * c / chunks), Int32(pixels * (c + 1) / chunks), t)
    }
}

/// Int8 convolution (also Gemm/MatMul as a 1x1 conv) with fused bias, requantization, Relu/Clip and residual Add.
final class QConvStep: Step {
    let label: String
    var desc: ick_conv_desc
    let weights: PackedConv
    var requant: ick_requant
    let input: Buffer, output: Buffer, residual: Buffer?
    let batch: Int, inImageBytes: Int, outImageBytes: Int, outPixels: Int
    let macs: Int
    private var failure: Int32 = 0

    init(label: String, desc: ick_conv_desc, weights: PackedConv, requant: ick_requant, input: Buffer, output: Buffer,
         residual: Buffer?, batch: Int) {
        self.label = label
        self.desc = desc
        self.weights = weights
        self.requant = requant
        self.input = input
        self.output = output
        self.residual = residual
        self.batch = batch
        var d = desc
        let oh = Int(ick_conv_out_h(&d)), ow = Int(ick_conv_out_w(&d))
        inImageBytes = Int(desc.in_h) * Int(desc.in_w) * Int(desc.in_c)
        outImageBytes = oh * ow * Int(desc.out_c)
        outPixels = oh * ow
        macs = batch * outPixels * Int(desc.out_c) * Int(desc.kernel_h * desc.kernel_w) * Int(desc.in_c / desc.groups)
    }

    func run(_ ctx: RunContext) throws {
        failure = 0
        forEachImagePart(ctx, batch: batch, pixels: outPixels) { n, begin, end, t in
            var rq = requant
            if let residual { rq.residual = UnsafeRawPointer(residual.ptr + n * outImageBytes) }
            let rc = ick_conv_run(&desc, weights.packed, &rq, input.ptr + n * inImageBytes,
                                  output.ptr + n * outImageBytes, begin, end, ctx.scratch(t))
            if rc != ICK_OK { failure = rc }
        }
        if failure != ICK_OK { throw kernelFailure(label, failure) }
    }
}

extension QConvStep: ImageStep {
    var images: Int { batch }
    var imageBuffers: [(Buffer, Int)] {
        [(input, inImageBytes), (output, outImageBytes)] + (residual.map { [($0, outImageBytes)] } ?? [])
    }
    func runImage(_ n: Int, _ at: ImageSlot) -> Int32 {
        var rq = requant
        if let residual { rq.residual = UnsafeRawPointer(residual.image(n, outImageBytes, at)) }
        return ick_conv_run(&desc, weights.packed, &rq, input.image(n, inImageBytes, at),
                            output.image(n, outImageBytes, at), 0, Int32(outPixels), at.scratch)
    }
}

/// Int8 MaxPool / AveragePool on NHWC images.
final class QPoolStep: Step {
    let label: String
    var desc: ick_pool_desc
    let isMax: Bool
    let input: Buffer, output: Buffer
    let batch: Int
    let inZP: Int32, ratio: Float, outZP: Int32, lo: Int32, hi: Int32
    private var failure: Int32 = 0

    init(label: String, desc: ick_pool_desc, isMax: Bool, input: Buffer, output: Buffer, batch: Int,
         inZP: Int32 = 0, ratio: Float = 1, outZP: Int32 = 0, lo: Int32 = 0, hi: Int32 = 0) {
        self.label = label
        self.desc = desc
        self.isMax = isMax
        self.input = input
        self.output = output
        self.batch = batch
        self.inZP = inZP
        self.ratio = ratio
        self.outZP = outZP
        self.lo = lo
        self.hi = hi
    }

    func run(_ ctx: RunContext) throws {
        failure = 0
        let inImage = Int(desc.in_h * desc.in_w * desc.channels), outImage = Int(desc.out_h * desc.out_w * desc.channels)
        forEachImagePart(ctx, batch: batch, pixels: Int(desc.out_h * desc.out_w)) { n, begin, end, _ in
            let rc = isMax
                ? ick_maxpool(&desc, input.ptr + n * inImage, output.ptr + n * outImage, begin, end)
                : ick_avgpool(&desc, input.ptr + n * inImage, output.ptr + n * outImage, inZP, ratio, outZP, lo, hi, begin, end)
            if rc != ICK_OK { failure = rc }
        }
        if failure != ICK_OK { throw kernelFailure(label, failure) }
    }
}

extension QPoolStep: ImageStep {
    var images: Int { batch }
    private var inImage: Int { Int(desc.in_h * desc.in_w * desc.channels) }
    private var outImage: Int { Int(desc.out_h * desc.out_w * desc.channels) }
    var imageBuffers: [(Buffer, Int)] { [(input, inImage), (output, outImage)] }
    func runImage(_ n: Int, _ at: ImageSlot) -> Int32 {
        let src = input.image(n, inImage, at), dst = output.image(n, outImage, at), end = desc.out_h * desc.out_w
        return isMax ? ick_maxpool(&desc, src, dst, 0, end)
            : ick_avgpool(&desc, src, dst, inZP, ratio, outZP, lo, hi, 0, end)
    }
}

/// Int8 GlobalAveragePool: [N, H*W, C] -> [N, C].
final class QGlobalAvgPoolStep: Step {
    let label: String
    let input: Buffer, output: Buffer
    let batch: Int, pixels: Int32, channels: Int32, type: ick_qtype
    let inZP: Int32, ratio: Float, outZP: Int32, lo: Int32, hi: Int32
    private var failure: Int32 = 0

    init(label: String, input: Buffer, output: Buffer, batch: Int, pixels: Int, channels: Int, type: ick_qtype,
         inZP: Int32, ratio: Float, outZP: Int32, lo: Int32, hi: Int32) {
        self.label = label
        self.input = input
        self.output = output
        self.batch = batch
        self.pixels = Int32(pixels)
        self.channels = Int32(channels)
        self.type = type
        self.inZP = inZP
        self.ratio = ratio
        self.outZP = outZP
        self.lo = lo
        self.hi = hi
    }

    func run(_ ctx: RunContext) throws {
        failure = 0
        let inImage = Int(pixels * channels)
        ctx.pool.parallelFor(batch) { n, _ in
            let rc = ick_global_avgpool(pixels, channels, type, input.ptr + n * inImage, 0,
                                        output.ptr + n * Int(channels), inZP, ratio, outZP, lo, hi)
            if rc != ICK_OK { failure = rc }
        }
        if failure != ICK_OK { throw kernelFailure(label, failure) }
    }
}

extension QGlobalAvgPoolStep: ImageStep {
    var images: Int { batch }
    var imageBuffers: [(Buffer, Int)] { [(input, Int(pixels * channels)), (output, Int(channels))] }
    func runImage(_ n: Int, _ at: ImageSlot) -> Int32 {
        ick_global_avgpool(pixels, channels, type, input.image(n, Int(pixels * channels), at), 0,
                           output.image(n, Int(channels), at), inZP, ratio, outZP, lo, hi)
    }
}

/// Splits n elements into one contiguous chunk per thread (at least `minChunk` each).
func forEachChunk(_ ctx: RunContext, _ n: Int, minChunk: Int = 16384, _ body: (_ begin: Int, _ end: Int) -> Void) {
    let parts = max(1, min(ctx.pool.threadCount, n / minChunk))
    ctx.pool.parallelFor(parts) { p, _ in body(n * p / parts, n * (p + 1) / parts) }
}

/// Standalone QDQ Add of two same-shaped int8/uint8 tensors.
final class QAddStep: Step {
    let label: String
    let a: Buffer, b: Buffer, y: Buffer
    let count: Int, type: ick_qtype
    let aZP: Int32, aRatio: Float, bZP: Int32, bRatio: Float, yZP: Int32, lo: Int32, hi: Int32
    /// Images in the batch when the tensors are batch-major images (rank 4); 1 otherwise.
    let images: Int

    init(label: String, a: Buffer, b: Buffer, y: Buffer, count: Int, type: ick_qtype, aZP: Int32, aRatio: Float,
         bZP: Int32, bRatio: Float, yZP: Int32, lo: Int32, hi: Int32, images: Int = 1) {
        self.images = images
        self.label = label
        self.a = a
        self.b = b
        self.y = y
        self.count = count
        self.type = type
        self.aZP = aZP
        self.aRatio = aRatio
        self.bZP = bZP
        self.bRatio = bRatio
        self.yZP = yZP
        self.lo = lo
        self.hi = hi
    }

    func run(_ ctx: RunContext) throws {
        forEachChunk(ctx, count) { s, e in
            ick_qadd(e - s, type, a.ptr + s, aZP, aRatio, b.ptr + s, bZP, bRatio, y.ptr + s, yZP, lo, hi)
        }
    }
}

extension QAddStep: ImageStep {
    var imageBuffers: [(Buffer, Int)] { [(a, count / images), (b, count / images), (y, count / images)] }
    func runImage(_ n: Int, _ at: ImageSlot) -> Int32 {
        let per = count / images
        ick_qadd(per, type, a.image(n, per, at), aZP, aRatio, b.image(n, per, at), bZP, bRatio, y.image(n, per, at),
                 yZP, lo, hi)
        return Int32(ICK_OK)
    }
}

/// An elementwise uint8/int8 -> uint8/int8 map given as a table indexed by the input byte (see
/// `Planner.quantizedActivation`).
final class QTableStep: Step {
    let label: String
    let x: Buffer, y: Buffer
    let count: Int
    /// Images in the batch when the tensor is a batch of images (rank 4); 1 otherwise.
    let images: Int
    private let table: UnsafeMutablePointer<UInt8>

    init(label: String, x: Buffer, y: Buffer, count: Int, table: [UInt8], images: Int = 1) {
        precondition(table.count == 256)
        self.label = label
        self.x = x
        self.y = y
        self.count = count
        self.images = images
        self.table = .allocate(capacity: 256)
        self.table.initialize(from: table, count: 256)
    }

    deinit { table.deallocate() }

    @inline(__always)
    private func apply(_ src: UnsafeMutableRawPointer, _ dst: UnsafeMutableRawPointer, _ n: Int) {
        let s = src.assumingMemoryBound(to: UInt8.self), d = dst.assumingMemoryBound(to: UInt8.self), t = table
        for i in 0..<n { d[i] = t[Int(s[i])] }
    }

    func run(_ ctx: RunContext) throws {
        forEachChunk(ctx, count) { b, e in apply(x.ptr + b, y.ptr + b, e - b) }
    }
}

extension QTableStep: ImageStep {
    var imageBuffers: [(Buffer, Int)] { [(x, count / images), (y, count / images)] }
    func runImage(_ n: Int, _ at: ImageSlot) -> Int32 {
        let per = count / images
        apply(x.image(n, per, at), y.image(n, per, at), per)
        return Int32(ICK_OK)
    }
}

/// QuantizeLinear (per tensor): float -> uint8/int8.
final class QuantizeStep: Step {
    let label: String
    let x: Buffer, y: Buffer
    let count: Int, scale: Float, zp: Int32, type: ick_qtype
    /// Images in the batch when the tensor is a batch of images (rank 4); 1 otherwise.
    let images: Int

    init(label: String, x: Buffer, y: Buffer, count: Int, scale: Float, zp: Int32, type: ick_qtype, images: Int = 1) {
        self.label = label
        self.x = x
        self.y = y
        self.count = count
        self.scale = scale
        self.zp = zp
        self.type = type
        self.images = images
    }

    func run(_ ctx: RunContext) throws {
        let src = x.ptr.assumingMemoryBound(to: Float.self)
        forEachChunk(ctx, count) { s, e in ick_quantize_f32(e - s, src + s, scale, zp, type, y.ptr + s) }
    }
}

extension QuantizeStep: ImageStep {
    var imageBuffers: [(Buffer, Int)] { [(x, count / images * 4), (y, count / images)] }
    func runImage(_ n: Int, _ at: ImageSlot) -> Int32 {
        let per = count / images
        ick_quantize_f32(per, x.image(n, per * 4, at).assumingMemoryBound(to: Float.self), scale, zp, type,
                         y.image(n, per, at))
        return Int32(ICK_OK)
    }
}

/// NCHW <-> NHWC of a batch of images (1- or 4-byte elements), image by image.
final class LayoutStep: Step {
    let label: String
    let src: Buffer, dst: Buffer
    let images: Int, channels: Int, pixels: Int, elementSize: Int
    let toNHWC: Bool

    init(label: String, src: Buffer, dst: Buffer, images: Int, channels: Int, pixels: Int, elementSize: Int,
         toNHWC: Bool) {
        self.label = label
        self.src = src
        self.dst = dst
        self.images = images
        self.channels = channels
        self.pixels = pixels
        self.elementSize = elementSize
        self.toNHWC = toNHWC
    }

    private var imageBytes: Int { channels * pixels * elementSize }

    func run(_ ctx: RunContext) throws {
        ctx.pool.parallelFor(images) { n, _ in
            _ = ick_layout_image(toNHWC ? 1 : 0, channels, pixels, elementSize, src.ptr + n * imageBytes,
                                 dst.ptr + n * imageBytes)
        }
    }
}

extension LayoutStep: ImageStep {
    var imageBuffers: [(Buffer, Int)] { [(src, imageBytes), (dst, imageBytes)] }
    func runImage(_ n: Int, _ at: ImageSlot) -> Int32 {
        ick_layout_image(toNHWC ? 1 : 0, channels, pixels, elementSize, src.image(n, imageBytes, at),
                         dst.image(n, imageBytes, at))
    }
}

/// DequantizeLinear (per tensor): uint8/int8 -> float.
final class DequantizeStep: Step {
    let label: String
    let x: Buffer, y: Buffer
    let count: Int, scale: Float, zp: Int32, type: ick_qtype

    init(label: String, x: Buffer, y: Buffer, count: Int, scale: Float, zp: Int32, type: ick_qtype) {
        self.label = label
        self.x = x
        self.y = y
        self.count = count
        self.scale = scale
        self.zp = zp
        self.type = type
    }

    func run(_ ctx: RunContext) throws {
        let dst = y.ptr.assumingMemoryBound(to: Float.self)
        forEachChunk(ctx, count) { s, e in ick_dequantize_f32(e - s, x.ptr + s, type, scale, zp, dst + s) }
    }
}
