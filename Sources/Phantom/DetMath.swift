/// Deterministic math. libm's sin/exp may differ in the last bit between platforms; these
/// use only + - * / and sqrt (all exactly rounded under IEEE 754), so the generator's pixels
/// are the same on x86 and ARM.
typealias Vec3 = SIMD3<Double>

enum DetMath {
    static let pi = 3.141592653589793

    /// sin(x): reduction to [-pi/2, pi/2] and an odd polynomial (error < 1e-9).
    @inline(__always)
    static func sin(_ x: Double) -> Double {
        let twoPi = 2 * pi
        var r = x - twoPi * (x / twoPi).rounded()      // [-pi, pi]
        if r > pi / 2 { r = pi - r } else if r < -pi / 2 { r = -pi - r }
        let r2 = r * r
        return r * (1 + r2 * (-1.0 / 6 + r2 * (1.0 / 120 + r2 * (-1.0 / 5040 + r2 * (1.0 / 362_880
            + r2 * (-1.0 / 39_916_800 + r2 * (1.0 / 6_227_020_800)))))))
    }

    @inline(__always)
    static func cos(_ x: Double) -> Double { sin(x + pi / 2) }

    /// A smooth bump: 1 at 0, 0 from |t| >= 1 (cubic, C1). Used instead of exp(-t^2).
    @inline(__always)
    static func bump(_ t: Double) -> Double {
        let a = abs(t)
        if a >= 1 { return 0 }
        let u = 1 - a * a
        return u * u
    }

    @inline(__always)
    static func smoothstep(_ e0: Double, _ e1: Double, _ x: Double) -> Double {
        let t = min(max((x - e0) / (e1 - e0), 0), 1)
        return t * t * (3 - 2 * t)
    }

    @inline(__always)
    static func length(_ v: Vec3) -> Double { (v * v).sum().squareRoot() }

    @inline(__always)
    static func dot(_ a: Vec3, _ b: Vec3) -> Double { (a * b).sum() }

    static func degrees(_ radians: Double) -> Double { radians * 180 / pi }
    static func radians(_ degrees: Double) -> Double { degrees * pi / 180 }
}

/// A sum of a few random plane waves: a cheap, smooth, deterministic 3-D pattern used for
/// sulci, thickness variation and surface irregularity. Value roughly in [-1, 1].
struct WaveField: Sendable {
    private var k: [Vec3] = []
    private var phase: [Double] = []

    init(waves: Int, wavelength: ClosedRange<Double>, rng: inout SeededGenerator) {
        for _ in 0..<waves {
            let lambda = rng.uniform(wavelength.lowerBound, wavelength.upperBound)
            k.append(rng.direction() * (2 * DetMath.pi / lambda))
            phase.append(rng.uniform(0, 2 * DetMath.pi))
        }
    }

    @inline(__always)
    func value(_ p: Vec3) -> Double {
        var s = 0.0
        for i in 0..<k.count { s += DetMath.sin(DetMath.dot(k[i], p) + phase[i]) }
        return s / Double(k.count)
    }
}
