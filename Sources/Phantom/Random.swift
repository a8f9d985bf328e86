/// Seeded random numbers. Everything the generator draws comes from here, so a seed fixes
/// every head, bleed and noise pixel on every machine (no SystemRandomNumberGenerator, no
/// platform-dependent transcendental functions: see `DetMath`).

/// SplitMix64: turns any 64-bit value into a well-mixed one; used to derive independent
/// streams ("the noise of slice 7 of seed 42") from a seed and labels.
@usableFromInline
func splitMix64(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// Derives a stream seed from a parent seed and a list of labels.
func deriveSeed(_ seed: UInt64, _ labels: UInt64...) -> UInt64 {
    var s = splitMix64(seed)
    for label in labels { s = splitMix64(s ^ splitMix64(label &+ 0x632B_E59B_D9B4_E019)) }
    return s
}

/// xoshiro256** (Blackman & Vigna): fast, small state, good statistical quality.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    public init(seed: UInt64) {
        var x = seed
        func next() -> UInt64 { x = x &+ 0x9E37_79B9_7F4A_7C15; return splitMix64(x) }
        s0 = next(); s1 = next(); s2 = next(); s3 = next()
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    mutating func unit() -> Double { Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * unit() }

    /// Uniform integer in lo...hi (modulo bias is irrelevant at these ranges).
    mutating func int(_ lo: Int, _ hi: Int) -> Int { lo + Int(next() % UInt64(hi - lo + 1)) }

    mutating func chance(_ p: Double) -> Bool { unit() < p }

    /// +1 or -1.
    mutating func sign() -> Double { next() & 1 == 0 ? 1 : -1 }

    /// Approximately standard normal (Irwin-Hall sum of 4 uniforms, rescaled): no logs
    /// or cosines, so bit-identical everywhere; tails end at +-3.46, which suits noise.
    @inline(__always)
    mutating func gaussian() -> Double {
        let r = next()
        let a = Double(r & 0xFFFF), b = Double((r >> 16) & 0xFFFF)
        let c = Double((r >> 32) & 0xFFFF), d = Double(r >> 48)
        return ((a + b + c + d) / 65536.0 - 2.0) * 1.7320508075688772
    }

    /// A random unit vector.
    mutating func direction() -> Vec3 {
        while true {
            let v = Vec3(uniform(-1, 1), uniform(-1, 1), uniform(-1, 1))
            let n = (v * v).sum()
            if n > 0.01 && n <= 1 { return v / n.squareRoot() }
        }
    }

    mutating func pick<T>(_ items: [T]) -> T { items[int(0, items.count - 1)] }
}
