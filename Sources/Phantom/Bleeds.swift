/// Hemorrhages as implicit regions over the head's anatomy. Each bleed decides, from the
/// anatomy at a point, whether blood is there; what it replaces is in `Renderer`.

struct Bleed: Sendable {
    enum Shape: Sendable {
        /// Extra-axial collection against the inner table around direction `axis`:
        /// thickness `maxThickness` at the centre falling to 0 at angular radius `cosExtent`.
        /// Epidural: biconvex (elliptic profile) and stopped by sutures (`bone`);
        /// subdural: crescent (flat profile, long), crosses sutures, stopped by the falx.
        case epidural(axis: Vec3, cosExtent: Double, maxThickness: Double, bone: Int)
        case subdural(axis: Vec3, cosExtent: Double, maxThickness: Double, side: Double)
        /// Irregular clot with an oedema rim (oedema lowers HU, is not blood).
        case intraparenchymal(center: Vec3, radius: Double, irregularity: WaveField, rim: Double, edemaDrop: Double)
        /// Blood in chosen ventricle parts; in `layered` parts only posterior (dependent, the
        /// patient lies supine) of `level` (y, mm) — a fluid level; `cast` parts fill completely.
        case intraventricular(layered: [Int], level: Double, cast: [Int])
        /// Subarachnoid spaces (sulci, cisterns, fissures, convexity CSF) within a region:
        /// a ball (convexity SAH) or the basal cisterns below `basalTop` (z, mm).
        case subarachnoid(center: Vec3, radius: Double, basal: Bool, basalTop: Double)
    }

    var subtype: Subtype
    var shape: Shape
    var blood: Double            // HU of acute blood, 50...90
    var texture: WaveField       // slight clot inhomogeneity (+-3 HU, clamped to 50...90)
    /// Centre used for mass effect and a coarse bound.
    var center: Vec3
    var boundRadius: Double

    /// Volume-ish size used to decide mass effect (mm).
    var size: Double

    /// Blood HU at p (always within 50...90).
    @inline(__always)
    func bloodHU(_ p: Vec3) -> Double { min(90, max(50, blood + 3 * texture.value(p))) }

    enum Effect { case none, blood, edema(Double) }

    /// What this bleed does at head point p with anatomy `a`.
    @inline(__always)
    func effect(at p: Vec3, anatomy a: AnatomySample, head: Head) -> Effect {
        let r = p - center
        if (r * r).sum() > boundRadius * boundRadius { return .none }
        switch shape {
        case let .epidural(axis, cosExtent, maxThickness, bone):
            guard a.depth > 0, a.tissue.isIntracranial else { return .none }
            guard let t = angular(p, axis, cosExtent) else { return .none }
            let thickness = maxThickness * (1 - t).squareRoot()
            guard a.radialDepth < thickness, head.bone(p) == bone else { return .none }
            return .blood
        case let .subdural(axis, cosExtent, maxThickness, side):
            guard a.depth > 0, a.tissue.isIntracranial, p.x * side > 1.5 else { return .none }
            guard let t = angular(p, axis, cosExtent) else { return .none }
            let thickness = maxThickness * (1 - t * t * t)
            return a.radialDepth < thickness ? .blood : .none
        case let .intraparenchymal(c, radius, irregularity, rim, edemaDrop):
            guard a.tissue.isParenchyma else { return .none }
            let dist = DetMath.length(p - c)
            let u = dist > 1e-6 ? (p - c) * (24 / dist) : Vec3(0, 0, 0)
            let rr = radius * (1 + 0.22 * irregularity.value(u))
            if dist < rr { return .blood }
            if dist < rr + rim { return .edema(edemaDrop * (1 - 0.5 * (dist - rr) / rim)) }
            return .none
        case let .intraventricular(layered, level, cast):
            guard a.ventricle >= 0 else { return .none }
            if cast.contains(a.ventricle) { return .blood }
            if layered.contains(a.ventricle) && p.y > level { return .blood }
            return .none
        case let .subarachnoid(c, radius, basal, basalTop):
            guard a.tissue.isSubarachnoidSpace else { return .none }
            if basal {
                return p.z < basalTop && p.z > -40 ? .blood : .none
            }
            return DetMath.length(p - c) < radius ? .blood : .none
        }
    }

    /// Normalised angular distance from `axis` (0 at the axis, 1 at the edge), or nil outside.
    @inline(__always)
    private func angular(_ p: Vec3, _ axis: Vec3, _ cosExtent: Double) -> Double? {
        let len = DetMath.length(p)
        if len < 1e-6 { return nil }
        let c = DetMath.dot(p, axis) / len
        if c <= cosExtent { return nil }
        return (1 - c) / (1 - cosExtent)
    }
}

/// Draws bleeds of the requested subtypes, sized from small to large.
enum BleedFactory {
    static func make(_ subtype: Subtype, head: Head, rng: inout SeededGenerator) -> Bleed {
        let blood = rng.uniform(52, 88)
        let texture = WaveField(waves: 2, wavelength: 6...14, rng: &rng)
        let size = rng.unit()                      // 0 small ... 1 large
        switch subtype {
        case .epidural:
            // Temporal most often, then parietal, frontal, occipital.
            let side = rng.sign()
            let site = rng.pick([(0.95, 0.0, 0.15), (0.95, 0.1, 0.15), (0.7, 0.2, 0.6), (0.45, -0.75, 0.45), (0.35, 0.85, 0.2)])
            var axis = Vec3(side * site.0, site.1 + rng.uniform(-0.12, 0.12), site.2 + rng.uniform(-0.1, 0.15))
            axis /= DetMath.length(axis)
            let surface = surfacePoint(head, axis)
            let thickness = 6 + 22 * size
            let extentDeg = 16 + 16 * size
            let cosExtent = DetMath.cos(DetMath.radians(extentDeg))
            return Bleed(subtype: .epidural,
                         shape: .epidural(axis: axis, cosExtent: cosExtent, maxThickness: thickness, bone: head.bone(surface)),
                         blood: blood, texture: texture, center: surface,
                         boundRadius: surfaceChord(surface, extentDeg) + thickness + 4, size: thickness)
        case .subdural:
            let side = rng.sign()
            var axis = Vec3(side * rng.uniform(0.75, 0.95), rng.uniform(-0.4, 0.4), rng.uniform(0.1, 0.55))
            axis /= DetMath.length(axis)
            let surface = surfacePoint(head, axis)
            let thickness = 2.5 + 17 * size * size
            let extentDeg = rng.uniform(40, 65)
            return Bleed(subtype: .subdural,
                         shape: .subdural(axis: axis, cosExtent: DetMath.cos(DetMath.radians(extentDeg)),
                                          maxThickness: thickness, side: side),
                         blood: blood, texture: texture, center: surface,
                         boundRadius: surfaceChord(surface, extentDeg) + thickness + 4, size: thickness)
        case .intraparenchymal:
            let side = rng.sign()
            // Basal ganglia, thalamus, lobar, cerebellar.
            let sites: [Vec3] = [Vec3(22, -6, 2), Vec3(11, 10, 3), Vec3(rng.uniform(25, 38), rng.uniform(-40, 40), rng.uniform(10, 40)),
                                 Vec3(20, 42, -34)]
            var c = rng.pick(sites)
            c.x *= side
            c += Vec3(rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-3, 3))
            let cerebellar = c.z < -20
            let radius = (cerebellar ? 4 : 4) + (cerebellar ? 10 : 20) * size
            let rim = rng.uniform(1.5, 3) + 0.25 * radius
            return Bleed(subtype: .intraparenchymal,
                         shape: .intraparenchymal(center: c, radius: radius,
                                                  irregularity: WaveField(waves: 3, wavelength: 14...30, rng: &rng),
                                                  rim: rim, edemaDrop: rng.uniform(5, 10)),
                         blood: blood, texture: texture, center: c, boundRadius: radius * 1.25 + rim + 1, size: radius * 1.2)
        case .intraventricular:
            let both = rng.chance(0.6)
            let first = rng.chance(0.5) ? Head.atriumL : Head.atriumR
            var layered = both ? [Head.atriumL, Head.atriumR] : [first]
            if size > 0.6 { layered += both ? [Head.lateralBodyL, Head.lateralBodyR] : [first - 4] }
            var cast: [Int] = []
            if rng.chance(0.3) { cast.append(Head.third) }
            if rng.chance(0.3) { cast.append(Head.fourth) }
            let level = 30 - 18 * size
            return Bleed(subtype: .intraventricular, shape: .intraventricular(layered: layered, level: level, cast: cast),
                         blood: min(blood, 80), texture: texture, center: Vec3(0, 10, 5), boundRadius: 80, size: 0)
        case .subarachnoid:
            let basal = rng.chance(0.45)
            var c = rng.direction()
            c.z = abs(c.z) * 0.8 + 0.1
            c /= DetMath.length(c)
            let surface = surfacePoint(head, c)
            let radius = 15 + 25 * size
            return Bleed(subtype: .subarachnoid,
                         shape: .subarachnoid(center: surface, radius: radius, basal: basal, basalTop: rng.uniform(-2, 10)),
                         blood: min(blood, 82), texture: texture,
                         center: basal ? Vec3(0, 0, -15) : surface, boundRadius: basal ? 90 : radius + 1, size: 0)
        }
    }

    /// The point of the inner table surface along direction u from the origin.
    static func surfacePoint(_ head: Head, _ u: Vec3) -> Vec3 {
        var lo = 0.0, hi = 150.0
        for _ in 0..<40 {
            let mid = (lo + hi) / 2
            if head.innerTableDistance(u * mid) < 0 { lo = mid } else { hi = mid }
        }
        return u * lo
    }

    private static func surfaceChord(_ surface: Vec3, _ extentDeg: Double) -> Double {
        2 * DetMath.length(surface) * DetMath.sin(DetMath.radians(extentDeg) / 2)
    }

    /// Midline shift for large bleeds (mm), pushing away from the bleed's side.
    static func massEffect(for bleeds: [Bleed]) -> MassEffect? {
        guard let big = bleeds.filter({ $0.size > 12 }).max(by: { $0.size < $1.size }) else { return nil }
        let shift = min(12, 0.45 * (big.size - 8))
        return MassEffect(center: big.center, shift: big.center.x > 0 ? -shift : shift)
    }
}
