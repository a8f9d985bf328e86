/// A procedural head: an implicit function from a point in head coordinates (mm; x to the
/// patient's left, y posterior, z superior, origin near the centre of the brain) to a
/// tissue class and its HU value. Every shape parameter is drawn from the seed.

/// An ellipsoid with axes along x, y, z (after an optional rotation about z).
struct Ellipsoid: Sendable {
    var center: Vec3
    var radii: Vec3
    var yaw: Double = 0            // rotation about z, radians
    private var c = 1.0, s = 0.0
    private var inv: Vec3

    init(_ center: Vec3, _ radii: Vec3, yaw: Double = 0) {
        self.center = center; self.radii = radii; self.yaw = yaw
        c = DetMath.cos(yaw); s = DetMath.sin(yaw)
        inv = 1 / radii
    }

    /// Normalised radius: < 1 inside.
    @inline(__always)
    func norm2(_ p: Vec3) -> Double {
        let d = p - center
        let l = Vec3(c * d.x + s * d.y, -s * d.x + c * d.y, d.z) * inv
        return (l * l).sum()
    }

    var boundingRadius: Double { max(radii.x, radii.y, radii.z) }
}

/// HU values of the normal tissues of one head.
struct TissueHU: Sendable {
    var grey, white, csf, deepGrey, cerebellum, brainstem: Double
    var cortical, diploe, skullBase, petrous: Double
    var skin, fat, muscle, deepSoft, falx: Double
    static let air = -1000.0

    init(rng: inout SeededGenerator, denseBone: Bool) {
        grey = rng.uniform(33, 40)
        white = grey - rng.uniform(7, 11)
        csf = rng.uniform(2, 9)
        deepGrey = grey - rng.uniform(0, 2)
        cerebellum = (grey + white) / 2 + rng.uniform(0, 3)
        brainstem = white + rng.uniform(2, 5)
        cortical = rng.uniform(1300, 1800) + (denseBone ? 400 : 0)
        diploe = rng.uniform(450, 850)
        skullBase = rng.uniform(900, 1400) + (denseBone ? 600 : 0)
        petrous = rng.uniform(1700, 2200) + (denseBone ? 500 : 0)
        skin = rng.uniform(35, 50)
        fat = rng.uniform(-110, -70)
        muscle = rng.uniform(40, 55)
        deepSoft = rng.uniform(35, 50)
        falx = rng.uniform(45, 65)
    }
}

/// Where the brain is pushed by a large lesion (midline shift, sulcal effacement).
struct MassEffect: Sendable {
    var center: Vec3          // the lesion
    var shift: Double         // mm, signed along x (away from the lesion)
    var reach: Double = 85    // mm, falloff in y/z

    @inline(__always)
    func displacement(_ p: Vec3) -> Double {
        let dy = p.y - center.y, dz = p.z - center.z
        let r = (dy * dy + dz * dz).squareRoot() / reach
        let lateral = max(0, 1 - (p.x / 62) * (p.x / 62))   // the brain surface stays put
        return shift * DetMath.bump(r) * lateral
    }

    /// 1 at the lesion, falling to 0 (how much sulci are effaced).
    @inline(__always)
    func effacement(_ p: Vec3) -> Double { DetMath.bump(DetMath.length(p - center) / 55) }
}

/// One result of sampling the head.
struct AnatomySample {
    var hu: Double
    var tissue: Tissue
    /// Depth below the inner table surface (mm, > 0 inside the cavity), or -1 outside.
    var depth: Double
    /// Radial distance inward from the inner table (mm); for extra-axial bleeds.
    var radialDepth: Double
    /// Index of the ventricle part (see `Head.ventricleParts`), or -1.
    var ventricle: Int
    /// Point after mass-effect displacement (where brain structures are looked up).
    var q: Vec3
}

struct Head: Sendable {
    // Brain envelope (inner table surface): semi-axes in mm.
    var a: Double, b: Double, cUp: Double, cDown: Double
    var offset: Vec3
    var yaw: Double, roll: Double
    var hu: TissueHU
    var innerTable: Double, diploe: Double, outerTable: Double, scalp: Double
    var convexityCSF: Double, cortex: Double, sulcusDepth: Double, sulcusWidth: Double
    var ventricleScale: Double
    var baseThickness: Double
    var shape: WaveField, thickness: WaveField, sulci: WaveField, folia: WaveField, cells: WaveField, texture: WaveField
    var ventricleParts: [Ellipsoid] = []
    var deepNuclei: [Ellipsoid] = []
    var petrous: [Ellipsoid] = []
    var mastoids: [Ellipsoid] = []
    var sphenoid: Ellipsoid
    var orbits: [Ellipsoid] = []
    var globes: [Ellipsoid] = []
    var massEffect: MassEffect?
    private let cy, sy, cr, sr: Double

    /// Area (mm^2) of the brain envelope's widest axial cross-section, pi a b: the reference for how
    /// small a slice's cranial cavity is (`PhantomRenderer.calvarialShift`).
    var equatorialArea: Double { Double.pi * a * b }

    /// Ventricle part indices (for layering and casts).
    static let lateralBodyL = 0, lateralBodyR = 1, frontalHornL = 2, frontalHornR = 3,
               atriumL = 4, atriumR = 5, temporalHornL = 6, temporalHornR = 7, third = 8, fourth = 9

    init(rng: inout SeededGenerator, denseBone: Bool) {
        a = rng.uniform(60, 68); b = rng.uniform(76, 86)
        cUp = rng.uniform(62, 72); cDown = rng.uniform(72, 80)
        offset = Vec3(rng.uniform(-4, 4), rng.uniform(-6, 6), rng.uniform(-4, 4))
        yaw = DetMath.radians(rng.uniform(-6, 6)); roll = DetMath.radians(rng.uniform(-4, 4))
        cy = DetMath.cos(yaw); sy = DetMath.sin(yaw); cr = DetMath.cos(roll); sr = DetMath.sin(roll)
        hu = TissueHU(rng: &rng, denseBone: denseBone)
        innerTable = rng.uniform(1.2, 2.0); diploe = rng.uniform(1.8, 4.5); outerTable = rng.uniform(1.4, 2.4)
        scalp = rng.uniform(4, 7)
        convexityCSF = rng.uniform(0.8, 2.8)
        cortex = rng.uniform(2.5, 3.5)
        sulcusDepth = rng.uniform(9, 16)
        sulcusWidth = rng.uniform(0.05, 0.11)
        ventricleScale = rng.uniform(0.7, 1.5)
        baseThickness = rng.uniform(3, 5)
        shape = WaveField(waves: 3, wavelength: 90...160, rng: &rng)
        thickness = WaveField(waves: 3, wavelength: 40...90, rng: &rng)
        sulci = WaveField(waves: 5, wavelength: 18...34, rng: &rng)   // 5 waves: less regular gyri
        texture = WaveField(waves: 3, wavelength: 15...40, rng: &rng)
        folia = WaveField(waves: 2, wavelength: 5...8, rng: &rng)
        cells = WaveField(waves: 3, wavelength: 5...9, rng: &rng)
        let v = ventricleScale
        // Lateral ventricles (L = patient left = +x), frontal horns, atria, temporal horns.
        ventricleParts = [
            Ellipsoid(Vec3(6 + 2 * v, -2, 16), Vec3(4.5 * v, 24, 5 * v), yaw: -0.08),
            Ellipsoid(Vec3(-6 - 2 * v, -2, 16), Vec3(4.5 * v, 24, 5 * v), yaw: 0.08),
            Ellipsoid(Vec3(8 + v, -24, 9), Vec3(4 * v + 1, 10, 6 * v), yaw: 0.35),
            Ellipsoid(Vec3(-8 - v, -24, 9), Vec3(4 * v + 1, 10, 6 * v), yaw: -0.35),
            Ellipsoid(Vec3(16 + 2 * v, 24, 10), Vec3(6 * v, 11, 7 * v), yaw: -0.3),
            Ellipsoid(Vec3(-16 - 2 * v, 24, 10), Vec3(6 * v, 11, 7 * v), yaw: 0.3),
            Ellipsoid(Vec3(30, 2, -16), Vec3(2.5 * v, 12, 2.5 * v), yaw: 0.35),
            Ellipsoid(Vec3(-30, 2, -16), Vec3(2.5 * v, 12, 2.5 * v), yaw: -0.35),
            Ellipsoid(Vec3(0, 2, 0), Vec3(1.2 + 1.2 * v, 12, 8), yaw: 0),
            Ellipsoid(Vec3(0, 36, -36), Vec3(6, 4, 6), yaw: 0),
        ]
        deepNuclei = [
            Ellipsoid(Vec3(10, 10, 2), Vec3(8, 12, 8)), Ellipsoid(Vec3(-10, 10, 2), Vec3(8, 12, 8)),       // thalami
            Ellipsoid(Vec3(22, -6, 0), Vec3(6, 15, 10), yaw: -0.2), Ellipsoid(Vec3(-22, -6, 0), Vec3(6, 15, 10), yaw: 0.2), // lentiform
            Ellipsoid(Vec3(13, -18, 10), Vec3(4, 8, 8)), Ellipsoid(Vec3(-13, -18, 10), Vec3(4, 8, 8)),     // caudate heads
        ]
        for side in [1.0, -1.0] {
            petrous.append(Ellipsoid(Vec3(side * 32, 14, -42), Vec3(22, 6, 7), yaw: side * -0.75))
            mastoids.append(Ellipsoid(Vec3(side * 50, 26, -46), Vec3(12, 12, 12)))
            orbits.append(Ellipsoid(Vec3(side * 30, -64, -36), Vec3(17, 20, 16)))
            globes.append(Ellipsoid(Vec3(side * 31, -74, -36), Vec3(12, 12, 12)))
        }
        sphenoid = Ellipsoid(Vec3(0, -18, -40), Vec3(rng.uniform(10, 16), rng.uniform(9, 13), rng.uniform(7, 10)))
    }

    /// Patient coordinates -> head coordinates (undo the head's position and tilt in the scanner).
    @inline(__always)
    func toHead(_ w: Vec3) -> Vec3 {
        let p = w - offset
        let x1 = cy * p.x + sy * p.y, y1 = -sy * p.x + cy * p.y
        return Vec3(cr * x1 - sr * p.z, y1, sr * x1 + cr * p.z)
    }

    /// Radial distance (mm) of p outside the inner-table surface (negative inside).
    @inline(__always)
    func innerTableDistance(_ p: Vec3) -> Double {
        let aEff = a * (1 + 0.07 * p.y / b)                   // wider at the back
        let c = p.z > 0 ? cUp : cDown
        let nx = p.x / aEff, ny = p.y / b, nz = p.z / c
        var rn = (nx * nx + ny * ny + nz * nz).squareRoot()
        rn *= 1 + 0.025 * shape.value(p)
        let len = DetMath.length(p)
        if rn < 1e-6 { return -100 }
        return len * (1 - 1 / rn)
    }

    /// Height of the floor of the cranial cavity (skull base) under (x, y). The fossae are
    /// sloped bowls, so an axial slice cuts the floor in a thin band, not a slab.
    @inline(__always)
    func floorZ(_ x: Double, _ y: Double) -> Double {
        let ax = abs(x)
        let lateral = DetMath.smoothstep(10, 28, ax)
        // Every part slopes, as the real fossae do (a flat plate would show as a slab of bone).
        let middle = -26 - 0.3 * (y + 6) - 14 * lateral * DetMath.bump((y + 6) / 24)  // clivus/sella -> middle fossa bowl
        let orbitRoof = -21 + 0.3 * (-30 - y) + 7 * DetMath.bump((ax - 24) / 18)   // domed orbital roofs, rising forwards
        let anterior = 1 - DetMath.smoothstep(-40, -24, y)
        var z = anterior * orbitRoof + (1 - anterior) * middle
        let posteriorFossa = -26 - 32 * DetMath.smoothstep(12, 48, y) * (1 - 0.3 * DetMath.smoothstep(30, 60, ax))
        let posterior = DetMath.smoothstep(6, 16, y)
        z = (1 - posterior) * z + posterior * posteriorFossa
        return z
    }

    /// Which skull bone lies over p (sutures bound epidural bleeds): 0 frontal, 1/2 parietal
    /// (left/right), 3 occipital, 4/5 temporal (left/right).
    func bone(_ p: Vec3) -> Int {
        if abs(p.x) > 0.62 * a && p.z < 18 && p.y > -34 && p.y < 30 { return p.x > 0 ? 4 : 5 }
        if p.y < -18 + 0.25 * p.z { return 0 }
        if p.y > 52 - 0.5 * p.z { return 3 }
        return p.x > 0 ? 1 : 2
    }

    /// Index of the ventricle part containing q (with ipsilateral compression), or -1.
    @inline(__always)
    func ventricle(at q: Vec3) -> Int {
        // Quick reject: all parts lie in |x| < 40, -40 < y < 50, -45 < z < 30.
        if q.z > 32 || q.z < -45 || abs(q.x) > 40 { return -1 }
        for i in 0..<ventricleParts.count where ventricleParts[i].norm2(q) < 1 { return i }
        return -1
    }

    /// Samples the normal anatomy at head-coordinate point p.
    func sample(_ p: Vec3) -> AnatomySample {
        var s = AnatomySample(hu: TissueHU.air, tissue: .air, depth: -1, radialDepth: -1, ventricle: -1, q: p)
        let d = innerTableDistance(p)
        let tVar = 1 + 0.3 * thickness.value(p)
        let occipitalBoost = p.y > 40 ? 1 + 0.5 * DetMath.smoothstep(40, 80, p.y) : 1
        let tIn = innerTable * tVar, tDip = diploe * tVar * occipitalBoost, tOut = outerTable * tVar
        let bone = tIn + tDip + tOut
        if d > 0 {
            let temporalis = abs(p.x) > 0.6 * a && p.z < 25 && p.z > -45 && p.y < 25
            let scalpT = scalp + (temporalis ? 5 : 0)
            if d > bone + scalpT { return s }
            if d > bone {
                let e = d - bone
                s.tissue = .scalp
                if e > scalpT - 1.5 { s.hu = hu.skin }
                else if temporalis && e < 6 { s.hu = hu.muscle }
                else if e < 1.2 { s.hu = hu.muscle }
                else { s.hu = hu.fat }
                return s
            }
            s.tissue = .calvarium
            if d < tIn || d > tIn + tDip {
                s.hu = hu.cortical
            } else {
                s.hu = hu.diploe
                // Frontal sinus: air in the frontal bone low in the forehead.
                if p.y < -0.8 * b && abs(p.x) < 22 && p.z > -22 && p.z < 8 {
                    s.hu = -900; s.tissue = .sinusAir
                }
            }
            return s
        }
        let zf = floorZ(p.x, p.y)
        if p.z < zf {
            return skullBase(p, below: zf - p.z, s)
        }
        // Cranial cavity.
        let depth = min(-d, p.z - zf)
        s.depth = depth
        s.radialDepth = -d
        return brain(p, depth: depth, s)
    }

    private func skullBase(_ p: Vec3, below: Double, _ s0: AnatomySample) -> AnatomySample {
        var s = s0
        for m in mastoids where m.norm2(p) < 1 {
            s.tissue = cells.value(p) > 0.15 ? .sinusAir : .skullBase
            s.hu = s.tissue == .sinusAir ? -850 : hu.skullBase
            return s
        }
        for pe in petrous where pe.norm2(p) < 1 {
            s.tissue = .skullBase; s.hu = hu.petrous
            return s
        }
        if sphenoid.norm2(p) < 1 { s.tissue = .sinusAir; s.hu = -920; return s }
        if below < baseThickness {
            s.tissue = .skullBase; s.hu = hu.skullBase
            // Ethmoid cells under the anterior fossa.
            if p.y < -40 && abs(p.x) < 14 && cells.value(p) > 0.2 { s.tissue = .sinusAir; s.hu = -800 }
            return s
        }
        for g in globes where g.norm2(p) < 1 { s.tissue = .deepSoftTissue; s.hu = 15; return s }
        for o in orbits where o.norm2(p) < 1 { s.tissue = .deepSoftTissue; s.hu = hu.fat; return s }
        if p.y < -40 && abs(p.x) < 16 && cells.value(p) > 0.1 { s.tissue = .sinusAir; s.hu = -850; return s }
        s.tissue = .deepSoftTissue; s.hu = hu.deepSoft
        return s
    }

    private func brain(_ p: Vec3, depth: Double, _ s0: AnatomySample) -> AnatomySample {
        var s = s0
        var q = p
        var efface = 0.0
        if let m = massEffect {
            q.x -= m.displacement(p)
            efface = m.effacement(p)
        }
        s.q = q
        let csfT = convexityCSF * (1 - 0.7 * efface)
        if depth < csfT { s.tissue = .convexityCSF; s.hu = hu.csf; return s }
        // Falx and interhemispheric fissure above the corpus callosum.
        let ax = abs(q.x)
        if ax < 1.6 && q.z > 22 - 0.15 * abs(q.y) && depth < 60 {
            if ax < 0.5 { s.tissue = .falx; s.hu = hu.falx } else { s.tissue = .sulcalCSF; s.hu = hu.csf }
            return s
        }
        let v = ventricle(at: q)
        if v >= 0 { s.ventricle = v; s.tissue = .ventricle; s.hu = hu.csf; return s }
        // Posterior fossa: brainstem, cisterns around it, cerebellum under the tentorium.
        let bsx = q.x / 12, bsy = (q.y - 12) / 13
        let bsr = bsx * bsx + bsy * bsy
        if q.z < -4 && q.z > -62 {
            if bsr < 1 { s.tissue = .brainstem; s.hu = hu.brainstem; return s }
            if bsr < 1.6 { s.tissue = .cisternCSF; s.hu = hu.csf; return s }    // prepontine/ambient
        }
        let tentorium = -8 - 0.45 * (q.y - 14)
        if q.y > 14 && q.z < tentorium {
            s.tissue = .cerebellum
            s.hu = hu.cerebellum + 3 * folia.value(q)
            if depth < csfT + 4 && folia.value(q * 0.7) > 0.75 { s.tissue = .sulcalCSF; s.hu = hu.csf }
            return s
        }
        // Suprasellar cistern and Sylvian fissures.
        if q.z < -8 && q.z > -24 {
            // Suprasellar cistern: a rounded star in front of the midbrain, narrowing upwards.
            let w = 14 * (1 - 0.4 * (q.z + 24) / 16)
            let sx = q.x / w, sy = (q.y + 11) / 11
            let star = sx * sx + sy * sy + 0.35 * DetMath.sin(5 * (q.x + q.y) / w) * 0.3
            if star < 1 { s.tissue = .cisternCSF; s.hu = hu.csf; return s }
        }
        if ax > 28 && ax < 56 && q.z > -22 && q.z < 8 {
            let plane = q.y - (-10 + 0.35 * (ax - 28))
            if abs(plane) < 1.2 + 0.6 * (1 - efface) { s.tissue = .cisternCSF; s.hu = hu.csf; return s }
        }
        for n in deepNuclei where n.norm2(q) < 1 { s.tissue = .deepGrey; s.hu = hu.deepGrey; return s }
        // Cortex with sulci: CSF where the sulcal field crosses zero, grey matter lining it.
        let cortexBottom = csfT + cortex
        if depth < csfT + sulcusDepth + cortex {
            let f = abs(sulci.value(q))
            let w = sulcusWidth * (1 - 0.8 * efface)
            if depth < csfT + sulcusDepth && f < w { s.tissue = .sulcalCSF; s.hu = hu.csf; return s }
            if depth < cortexBottom || f < w + 0.16 { s.tissue = .grey; s.hu = hu.grey; return s }
        }
        s.tissue = .white; s.hu = hu.white + 1.5 * texture.value(q)   // white matter is not uniform
        return s
    }
}
