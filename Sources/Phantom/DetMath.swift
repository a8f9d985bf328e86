/// Deterministic math. libm's sin/exp may differ in the last bit between platforms; these
/// use only + - * / and sqrt (all exactly rounded under IEEE 754), so the generator's pixels
/// are the same on x86 and ARM.

/// A 3-D point/vector in mm. A plain struct rather than SIMD3<Double>: SIMD generics are
/// very slow in unoptimised (test) builds, and this is the generator's innermost type.
struct Vec3: Sendable, Equatable {
    var x: Double, y: Double, z: Double
    @inline(__always) init(_ x: Double, _ y: Double, _ z: Double) { self.x = x; self.y = y; self.z = z }
    @inline(__always) init(_ v: SIMD3<Double>) { x = v.x; y = v.y; z = v.z }
    @inline(__always) static func + (a: Vec3, b: Vec3) -> Vec3 { Vec3(a.x + b.x, a.y + b.y, a.z + b.z) }
    @inline(__always) static func - (a: Vec3, b: Vec3) -> Vec3 { Vec3(a.x - b.x, a.y - b.y, a.z - b.z) }
    @inline(__always) static func * (a: Vec3, b: Vec3) -> Vec3 { Vec3(a.x * b.x, a.y * b.y, a.z * b.z) }
    @inline(__always) static func * (a: Vec3, k: Double) -> Vec3 { Vec3(a.x * k, a.y * k, a.z * k) }
    @inline(__always) static func / (a: Vec3, k: Double) -> Vec3 { Vec3(a.x / k, a.y / k, a.z / k) }
    @inline(__always) static func / (k: Double, a: Vec3) -> Vec3 { Vec3(k / a.x, k / a.y, k / a.z) }
    @inline(__always) static func += (a: inout Vec3, b: Vec3) { a = a + b }
    @inline(__always) static func /= (a: inout Vec3, k: Double) { a = a / k }
    @inline(__always) func sum() -> Double { x + y + z }
}

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
