import Foundation

/// Bleeds in real slices: 3-D regions (patient coordinates, so a bleed spans neighbouring
/// slices consistently) restricted by each slice's segmentation.
struct RealBleed: Sendable {
    enum Shape: Sendable {
        case extraAxial(anchor: Vec3, radius: Double, maxThickness: Double, epidural: Bool, side: Double)
        case intraparenchymal(center: Vec3, radius: Double, irregularity: WaveField, rim: Double, edemaDrop: Double)
        case intraventricular(level: Double)
        case subarachnoid(anchor: Vec3, radius: Double)
    }
    var subtype: Subtype
    var shape: Shape
    var blood: Double
}

extension RealAnatomyLibrary {
    /// CSF far from the inner table and near the middle of the cavity: the ventricles.
    @inline(__always)
    static func isVentricle(_ s: Slice, _ idx: Int, _ columns: Int, _ spacing: [Double]) -> Bool {
        guard s.region[idx] == Region.csf.rawValue, s.tableDistance[idx] > 20 else { return false }
        let di = (Double(idx / columns) - s.centroid.0) * spacing[0], dj = (Double(idx % columns) - s.centroid.1) * spacing[1]
        return di * di + dj * dj < 35 * 35
    }

    /// mm^2 of ventricle-like and of peripheral CSF over the brain slices.
    static func csfAreas(_ exam: Exam) -> (ventricles: Double, peripheral: Double) {
        var v = 0, p = 0
        for k in exam.brainSlices {
            let s = exam.slices[k]
            for idx in s.region.indices where s.region[idx] == Region.csf.rawValue {
                if isVentricle(s, idx, exam.columns, exam.spacing) { v += 1 } else if s.tableDistance[idx] < 15 { p += 1 }
            }
        }
        let a = exam.spacing[0] * exam.spacing[1]
        return (Double(v) * a, Double(p) * a)
    }

    static func canHold(_ exam: Exam, _ s: Subtype) -> Bool {
        let areas = csfAreas(exam)
        switch s {
        case .intraventricular: return areas.ventricles >= 150
        case .subarachnoid: return areas.peripheral >= 150
        default: return true
        }
    }

    /// Renders one series: the seed picks the exam, the subtypes and every bleed.
    public func render(_ config: PhantomConfig) throws -> GeneratedSeries {
        var rng = SeededGenerator(seed: deriveSeed(config.seed, 7))
        let chosen = PhantomCase.drawSubtypes(config.subtypes, rng: &rng)
        let candidates = exams.filter { e in chosen.allSatisfy { Self.canHold(e, $0) } }
        guard !candidates.isEmpty else {
            throw PhantomError.realAnatomy("no real exam has the anatomy for \(chosen.map(\.rawValue).joined(separator: "+")) "
                                           + "(too little CSF found for intraventricular/subarachnoid blood)")
        }
        let exam = rng.pick(candidates)
        var bleeds: [RealBleed] = []
        for s in chosen { bleeds.append(try makeBleed(s, exam, &rng)) }
        let encoding = config.encoding ?? (rng.chance(0.5) ? .unsigned12 : .signed16(padding: rng.pick([-2000, -1500])))
        var slices: [GeneratedSlice] = []
        for k in exam.slices.indices {
            slices.append(renderSlice(exam, k, bleeds, encoding))
        }
        return GeneratedSeries(seed: config.seed, anatomy: "real:\(exam.name)", requestedSubtypes: chosen, mimics: [],
                               midlineShift: 0, rows: exam.rows, columns: exam.columns, pixelSpacing: exam.spacing,
                               orientation: exam.orientation, tiltDegrees: exam.tilt, encoding: encoding,
                               description: "SYNTHETIC BLEED IN REAL HEAD", slices: slices)
    }

    /// Segmentation classes of a real-anatomy render, per slice (for tests).
    func regions(examNamed name: String) -> [[UInt8]]? {
        exams.first { "real:\($0.name)" == name || $0.name == name }?.slices.map(\.region)
    }

    private func renderSlice(_ exam: Exam, _ k: Int, _ bleeds: [RealBleed], _ encoding: PixelEncoding) -> GeneratedSlice {
        let s = exam.slices[k]
        let n = exam.rows * exam.columns
        var mask = [UInt8](repeating: 0, count: n)
        var bloodHU = [Float](repeating: 0, count: n)
        var inBlood = [Float](repeating: 0, count: n)
        var edema = [Float](repeating: 0, count: n)
        let parenchyma = Region.parenchyma.rawValue, csf = Region.csf.rawValue, other = Region.otherIntracranial.rawValue
        for idx in 0..<n {
            let r = s.region[idx]
            guard r == parenchyma || r == csf || r == other else { continue }
            let p = exam.point(k, idx / exam.columns, idx % exam.columns)
            for b in bleeds {
                switch effect(b, exam, s, idx, p, r) {
                case .none: break
                case .blood:
                    mask[idx] |= b.subtype.maskBit
                    if inBlood[idx] == 0 { inBlood[idx] = 1; bloodHU[idx] = Float(b.blood) }
                case .edema(let d): edema[idx] = max(edema[idx], Float(d))
                }
            }
        }
        // Blood keeps the real image's noise (the slice minus its smoothed self) and gets
        // partial-volume edges (the blurred blood fraction).
        var base = s.hu.map { $0.isNaN ? -1000 : $0 }
        var smooth = base
        PhantomRenderer.blur5(&smooth, exam.columns, rows: exam.rows)
        var alpha = inBlood, blood = bloodHU
        // The blur is the scanner's ~0.5 mm resolution: only where pixels are finer than 1 mm.
        if exam.spacing[0] < 1 {
            PhantomRenderer.blur5(&alpha, exam.columns, rows: exam.rows)
            PhantomRenderer.blur5(&blood, exam.columns, rows: exam.rows)
            PhantomRenderer.blur5(&edema, exam.columns, rows: exam.rows)
        }
        for idx in 0..<n {
            let r = s.region[idx]
            guard r == parenchyma || r == csf || r == other else { continue }
            let a = alpha[idx]
            if a > 0 {
                // Clamped: next to bone the smoothed image carries bone, not noise.
                let texture = min(15, max(-15, base[idx] - smooth[idx]))
                let bl = blood[idx] / a    // the bleed's own HU near its edge, not diluted by the blur
                base[idx] = base[idx] * (1 - a) + (bl + texture) * a
            }
            base[idx] -= edema[idx]
        }
        PhantomRenderer.removeSlivers(&mask, pixelArea: exam.spacing[0] * exam.spacing[1])
        var stored = [Int16](repeating: encoding.paddingStored, count: n)
        for idx in 0..<n where !s.hu[idx].isNaN { stored[idx] = encoding.store(base[idx]) }
        return GeneratedSlice(stored: stored, mask: mask, position: s.position, thickness: s.thickness,
                              sliceLocation: s.sliceLocation)
    }

    private func effect(_ b: RealBleed, _ exam: Exam, _ s: Slice, _ idx: Int, _ p: Vec3, _ r: UInt8) -> Bleed.Effect {
        switch b.shape {
        case let .extraAxial(anchor, radius, maxThickness, epidural, side):
            let dist = DetMath.length(p - anchor)
            guard dist < radius else { return .none }
            let t = dist / radius
            let thickness = epidural ? maxThickness * (1 - t * t).squareRoot() : maxThickness * (1 - t * t * t * t * t * t)
            guard Double(s.tableDistance[idx]) < thickness else { return .none }
            if !epidural {   // a subdural stays on its side of the falx
                let dj = (Double(idx % exam.columns) - s.centroid.1) * exam.spacing[1]
                if dj * side < 2 { return .none }
            }
            return .blood
        case let .intraparenchymal(c, radius, irregularity, rim, drop):
            guard r == Region.parenchyma.rawValue else { return .none }
            let dist = DetMath.length(p - c)
            let u = dist > 1e-6 ? (p - c) * (24 / dist) : Vec3(0, 0, 0)
            let rr = radius * (1 + 0.22 * irregularity.value(u))
            if dist < rr { return .blood }
            if dist < rr + rim { return .edema(drop * (1 - 0.5 * (dist - rr) / rim)) }
            return .none
        case let .intraventricular(level):
            return Self.isVentricle(s, idx, exam.columns, exam.spacing) && p.y > level ? .blood : .none
        case let .subarachnoid(anchor, radius):
            guard r == Region.csf.rawValue, !Self.isVentricle(s, idx, exam.columns, exam.spacing) else { return .none }
            return DetMath.length(p - anchor) < radius ? .blood : .none
        }
    }

    /// A point on the inner table of slice k, found by walking from the cavity centre at angle theta.
    private func tablePoint(_ exam: Exam, _ k: Int, angle: Double) -> (Vec3, Int)? {
        let s = exam.slices[k]
        var i = s.centroid.0, j = s.centroid.1
        let di = DetMath.sin(angle), dj = DetMath.cos(angle)
        while true {
            let ii = Int(i.rounded()), jj = Int(j.rounded())
            guard ii >= 0, ii < exam.rows, jj >= 0, jj < exam.columns else { return nil }
            let idx = ii * exam.columns + jj
            if s.region[idx] == Region.bone.rawValue { return nil }
            if s.region[idx] != Region.outside.rawValue && s.tableDistance[idx] <= Float(1.5 * exam.spacing[0]) {
                return (exam.point(k, ii, jj), jj)
            }
            i += di * 0.5; j += dj * 0.5
        }
    }

    private func makeBleed(_ subtype: Subtype, _ exam: Exam, _ rng: inout SeededGenerator) throws -> RealBleed {
        let blood = rng.uniform(52, 88)
        let size = rng.unit()
        let brain = exam.brainSlices
        let middle = Array(brain.dropFirst(brain.count / 5).dropLast(brain.count / 5))
        let pool = middle.isEmpty ? brain : middle
        switch subtype {
        case .epidural, .subdural:
            let epidural = subtype == .epidural
            for _ in 0..<200 {
                let k = rng.pick(pool)
                // Lateral convexity: within +-55 degrees of left or right.
                let side = rng.sign()
                let angle = (side > 0 ? 0 : DetMath.pi) + DetMath.radians(rng.uniform(-55, 55))
                guard let (anchor, j) = tablePoint(exam, k, angle: angle) else { continue }
                let sideSign = (Double(j) - exam.slices[k].centroid.1) >= 0 ? 1.0 : -1.0
                return RealBleed(subtype: subtype,
                                 shape: .extraAxial(anchor: anchor, radius: epidural ? 22 + 16 * size : rng.uniform(45, 75),
                                                    maxThickness: epidural ? 6 + 20 * size : 3 + 15 * size * size,
                                                    epidural: epidural, side: sideSign),
                                 blood: blood)
            }
        case .intraparenchymal:
            for _ in 0..<2000 {
                let k = rng.pick(pool)
                let s = exam.slices[k]
                let idx = rng.int(0, s.region.count - 1)
                guard s.region[idx] == Region.parenchyma.rawValue, s.tableDistance[idx] > 18 else { continue }
                let radius = 4 + 18 * size
                return RealBleed(subtype: .intraparenchymal,
                                 shape: .intraparenchymal(center: exam.point(k, idx / exam.columns, idx % exam.columns),
                                                          radius: radius,
                                                          irregularity: WaveField(waves: 3, wavelength: 14...30, rng: &rng),
                                                          rim: rng.uniform(1.5, 3) + 0.25 * radius, edemaDrop: rng.uniform(5, 10)),
                                 blood: blood)
            }
        case .intraventricular:
            var ys: [Double] = []
            for k in brain {
                let s = exam.slices[k]
                for idx in s.region.indices where Self.isVentricle(s, idx, exam.columns, exam.spacing) {
                    ys.append(exam.point(k, idx / exam.columns, idx % exam.columns).y)
                }
            }
            if !ys.isEmpty {
                ys.sort()
                // Supine: blood layers in the posterior (dependent) part, +y.
                let q = 0.85 - 0.45 * size
                return RealBleed(subtype: .intraventricular, shape: .intraventricular(level: ys[Int(q * Double(ys.count - 1))]),
                                 blood: min(blood, 80))
            }
        case .subarachnoid:
            for _ in 0..<200 {
                let k = rng.pick(brain)
                let angle = rng.uniform(0, 2 * DetMath.pi)
                guard let (anchor, _) = tablePoint(exam, k, angle: angle) else { continue }
                let radius = 20 + 25 * size
                // Accept only where the ball holds enough sulcal CSF to be seen.
                let s = exam.slices[k]
                var n = 0
                for idx in s.region.indices where s.region[idx] == Region.csf.rawValue
                    && !Self.isVentricle(s, idx, exam.columns, exam.spacing)
                    && DetMath.length(exam.point(k, idx / exam.columns, idx % exam.columns) - anchor) < radius { n += 1 }
                if Double(n) * exam.spacing[0] * exam.spacing[1] < 40 { continue }
                return RealBleed(subtype: .subarachnoid, shape: .subarachnoid(anchor: anchor, radius: radius), blood: min(blood, 82))
            }
        }
        throw PhantomError.realAnatomy("could not place a \(subtype.rawValue) bleed in \(exam.name)")
    }
}
