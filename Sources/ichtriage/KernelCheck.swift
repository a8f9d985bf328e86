import CKernels
import Foundation

/// `selftest`'s kernel check: every int8 kernel variant this CPU can run against the scalar
/// reference on a few convolution shapes (1x1 GEMM with remainders, 3x3 with padding and stride,
/// grouped, depthwise), uint8 and int8, bit for bit (the kernels' contract, ckernels.h). The full
/// matrix is `make test-kernels`; this is the installed binary checking itself on this CPU.
enum KernelCheck {
    struct Variant: Encodable {
        var name: String
        /// Compiled in and runnable on this CPU.
        var supported: Bool
        /// The variant the engine uses.
        var active: Bool
        /// Cases compared with the scalar reference (0 for scalar itself and unsupported variants).
        var cases: Int
        var passed: Bool
        var detail: String
    }

    struct Result: Encodable {
        var active: String
        var variants: [Variant]
        var passed: Bool { variants.allSatisfy(\.passed) }
    }

    /// (h, w, in_c, out_c, kernel, stride, pad, groups)
    static let shapes: [(Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32)] = [
        (1, 13, 17, 33, 1, 1, 0, 1),
        (3, 11, 31, 47, 1, 1, 0, 1),
        (9, 10, 5, 19, 3, 2, 1, 1),
        (8, 8, 32, 48, 3, 1, 1, 1),
        (5, 7, 64, 64, 3, 2, 1, 32),
        (11, 10, 37, 37, 3, 2, 1, 37),
    ]

    static func run() -> Result {
        let original = ick_isa_active()
        defer { _ = ick_isa_force(original) }  // the engine packs its weights for the variant it started with
        let all: [ick_isa] = (0..<Int(ICK_ISA_COUNT.rawValue)).map { ick_isa(rawValue: UInt32($0)) }
        var variants: [Variant] = []
        for isa in all {
            let name = String(cString: ick_isa_label(isa))
            let supported = ick_isa_supported(isa) != 0
            var v = Variant(name: name, supported: supported, active: isa == original, cases: 0, passed: true, detail: "")
            if !supported {
                v.detail = "not available on this CPU (not checked)"
            } else if isa == ICK_ISA_SCALAR {
                v.detail = "the reference"
            } else {
                var failures: [String] = []
                for (n, shape) in shapes.enumerated() {
                    for type in [ICK_U8, ICK_S8] {
                        v.cases += 1
                        if let why = compare(isa, shape: shape, type: type, seed: UInt64(n * 2 + Int(type.rawValue) + 1)) {
                            failures.append(why)
                        }
                    }
                }
                v.passed = failures.isEmpty
                v.detail = failures.isEmpty ? "bit-exact with scalar on \(v.cases) convolution cases"
                    : "\(failures.count) of \(v.cases) cases differ from scalar: " + failures.prefix(3).joined(separator: "; ")
            }
            variants.append(v)
        }
        return Result(active: String(cString: ick_isa_label(original)), variants: variants)
    }

    /// nil when `isa` gives the scalar result exactly, else why not.
    private static func compare(_ isa: ick_isa, shape s: (Int32, Int32, Int32, Int32, Int32, Int32, Int32, Int32),
                                type: ick_qtype, seed: UInt64) -> String? {
        var d = ick_conv_desc()
        (d.in_h, d.in_w, d.in_c, d.out_c) = (s.0, s.1, s.2, s.3)
        (d.kernel_h, d.kernel_w, d.stride_h, d.stride_w) = (s.4, s.4, s.5, s.5)
        (d.pad_top, d.pad_left, d.pad_bottom, d.pad_right) = (s.6, s.6, s.6, s.6)
        d.groups = s.7
        d.type = type
        d.in_zp = type == ICK_U8 ? 128 : -5
        d.batch = 1
        let label = "\(s.0)x\(s.1)x\(s.2)->\(s.3) k\(s.4) s\(s.5) g\(s.7) \(type == ICK_U8 ? "u8" : "s8")"
        guard Int(ick_conv_check(&d)) == Int(ICK_OK) else { return "\(label): descriptor refused" }
        var rng = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> UInt32 {
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17
            return UInt32(truncatingIfNeeded: rng >> 11)
        }
        let outPixels = Int(ick_conv_out_h(&d) * ick_conv_out_w(&d))
        let weights = (0..<Int(d.out_c * d.kernel_h * d.kernel_w * (d.in_c / d.groups))).map { _ in Int8(truncatingIfNeeded: next()) }
        let bias = (0..<Int(d.out_c)).map { _ in Int32(Int(next() % 20_001) - 10_000) }
        let input = (0..<Int(d.in_h * d.in_w * d.in_c)).map { _ in UInt8(truncatingIfNeeded: next()) }
        let mult = (0..<Int(d.out_c)).map { _ in Float(next() % 1000 + 1) * 1e-5 }

        func convolve(_ variant: ick_isa) -> [UInt8]? {
            guard Int(ick_isa_force(variant)) == Int(ICK_OK) else { return nil }
            let packedBytes = ick_conv_packed_size(&d), scratchBytes = ick_conv_scratch_size(&d)
            let packed = UnsafeMutableRawPointer.allocate(byteCount: max(packedBytes, 64), alignment: 64)
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(scratchBytes, 64), alignment: 64)
            defer { packed.deallocate(); scratch.deallocate() }
            var output = [UInt8](repeating: 0, count: outPixels * Int(d.out_c))
            let status: Int32 = mult.withUnsafeBufferPointer { m in
                var rq = ick_requant()
                rq.mult = m.baseAddress
                rq.out_zp = type == ICK_U8 ? 3 : -7
                (rq.lo, rq.hi) = type == ICK_U8 ? (0, 255) : (-128, 127)
                guard Int(ick_conv_pack(&d, weights, bias, packed)) == Int(ICK_OK) else { return Int32(ICK_ERR_ARG) }
                return input.withUnsafeBytes { inp in
                    output.withUnsafeMutableBytes { out in
                        ick_conv_run(&d, packed, &rq, inp.baseAddress, out.baseAddress, 0, Int32(outPixels), scratch)
                    }
                }
            }
            return Int(status) == Int(ICK_OK) ? output : nil
        }
        guard let reference = convolve(ICK_ISA_SCALAR) else { return "\(label): the scalar reference failed to run" }
        guard let actual = convolve(isa), actual.count == reference.count else { return "\(label): the variant failed to run" }
        guard let first = reference.indices.first(where: { reference[$0] != actual[$0] }) else { return nil }
        return "\(label): first difference at byte \(first)"
    }
}
