/// Things that look a little like blood on CT but are not: what negatives (and some
/// positives) carry so that a detector cannot win by "bright = bleed".
struct Mimics: Sendable {
    /// Calcifications: pineal, choroid plexus, falx, basal ganglia (all denser than acute blood).
    var calcifications: [(shape: Ellipsoid, hu: Double)] = []
    /// Beam hardening between the petrous bones (a dark Hounsfield bar across the pons), HU drop.
    var hounsfieldBar = 0.0
    /// Cupping artefact: brain next to the inner table reads brighter (a subdural mimic), HU rise.
    var rimBrightening = 0.0
    /// Denser skull base and petrous bone (more partial volume into the posterior fossa).
    var denseBone = false

    var names: [String] {
        var n: [String] = calcificationNames
        if hounsfieldBar > 0 { n.append("beam-hardening") }
        if rimBrightening > 0 { n.append("inner-table-cupping") }
        if denseBone { n.append("dense-skull-base") }
        return n
    }
    private var calcificationNames: [String] = []

    static func draw(rng: inout SeededGenerator, rich: Bool) -> Mimics {
        var m = Mimics()
        let p = rich ? 0.65 : 0.3
        if rng.chance(p) {
            let r = rng.uniform(1.5, 4)
            m.calcifications.append((Ellipsoid(Vec3(0, 20, 3), Vec3(r, r, r)), rng.uniform(150, 600)))
            m.calcificationNames.append("pineal-calcification")
        }
        if rng.chance(p) {
            let r = rng.uniform(2, 4)
            let hu = rng.uniform(100, 350)
            for side in [1.0, -1.0] {
                m.calcifications.append((Ellipsoid(Vec3(side * 18, 26, 10), Vec3(r, r * 1.4, r)), hu))
            }
            m.calcificationNames.append("choroid-plexus-calcification")
        }
        if rng.chance(p * 0.5) {
            let y = rng.uniform(-30, 30)
            m.calcifications.append((Ellipsoid(Vec3(0, y, rng.uniform(30, 50)), Vec3(0.9, rng.uniform(3, 8), rng.uniform(1.5, 3))),
                                     rng.uniform(200, 800)))
            m.calcificationNames.append("falx-calcification")
        }
        if rng.chance(p * 0.3) {
            let hu = rng.uniform(90, 200)
            for side in [1.0, -1.0] {
                m.calcifications.append((Ellipsoid(Vec3(side * 21, -6, 0), Vec3(2.5, 5, 3)), hu))
            }
            m.calcificationNames.append("basal-ganglia-calcification")
        }
        if rng.chance(rich ? 0.6 : 0.3) { m.hounsfieldBar = rng.uniform(15, 35) }
        if rng.chance(rich ? 0.4 : 0.15) { m.rimBrightening = rng.uniform(6, 14) }
        m.denseBone = rng.chance(rich ? 0.4 : 0.15)
        return m
    }

    /// Calcification at p, if any.
    @inline(__always)
    func calcification(at p: Vec3) -> Double? {
        for c in calcifications where c.shape.norm2(p) < 1 { return c.hu }
        return nil
    }

    /// Artefact HU offset for an intracranial point.
    @inline(__always)
    func artefact(at p: Vec3, radialDepth: Double) -> Double {
        var delta = 0.0
        if hounsfieldBar > 0 && p.z < -24 && p.z > -52 && abs(p.x) < 42 {
            delta -= hounsfieldBar * DetMath.bump((p.y - 8) / 5)
        }
        if rimBrightening > 0 && radialDepth >= 0 && radialDepth < 3 {
            delta += rimBrightening * (1 - radialDepth / 3)
        }
        return delta
    }
}
