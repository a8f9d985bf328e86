import Foundation

/// One rendered slice.
public struct PhantomSlice: Sendable {
    public let index: Int
    /// Stored pixel values (row-major, matrix x matrix), as the DICOM file holds them
    /// (bit pattern of UInt16 for the unsigned encoding).
    public let stored: [Int16]
    /// HU after blur and noise, before quantisation; NaN outside the field of view.
    public let hu: [Float]
    /// Bleed mask: OR of `Subtype.maskBit` per pixel (slivers under `PhantomRenderer.minimumArea` removed).
    public let mask: [UInt8]
    /// Underlying anatomy per pixel (`Tissue.rawValue`), bleeds not drawn.
    public let tissue: [UInt8]

    /// Subtypes present on this slice (its RSNA labels, "any" = not empty).
    public var subtypes: [Subtype] { Subtype.present(in: mask) }
}

public struct PhantomSeries: Sendable {
    public let phantomCase: PhantomCase
    public let slices: [PhantomSlice]
    /// Subtypes visible on at least one slice.
    public var presentSubtypes: [Subtype] { Subtype.present(in: slices.map(\.mask)) }
}

/// How a pixel integrates across the slice: the mean over the whole thickness (a box slice-
/// sensitivity profile, close to an axial scan's), by the midpoint rule on `planes` equal sub-slabs.
/// Inside one tissue three of them (the centre and +-t/3) give the mean. Where bone or air crosses
/// the slab they do not: a real thick slice cut tangentially through the skull (the vertex, the
/// fossae of the skull base, the orbital roofs) shows a graded rim whose HU runs through blood's
/// 50-100, a classic mimic of an extra-axial bleed, and three planes can only mix in thirds (brain
/// and a third of bone: about 500 HU). So every pixel also samples the two outermost sub-slabs (skull
/// and scalp are layered along the normal, so a bone or air edge in the slab shows in those five;
/// a structure thinner than a fifth of the slab, such as a small calcification, can hide between), and
/// where the five differ by more than `refineAbove` HU the pixel takes all `planes`. (Before
/// 2026-11-30 every pixel was 0.5 x centre + 0.25 x each of +-t/3, and air at the centre skipped the
/// rest, which also cut the scalp off where the vertex is cut tangentially.)
enum SliceProfile {
    static let refineAbove = 150.0
    static let planes = 15   // an odd multiple of 3, so that 0 and +-t/3 are sub-slab midpoints

    /// Offsets along the normal (mm) of the sub-slab midpoints other than the centre: -t/3 and +t/3
    /// (with the centre, the mean where the slab is uniform), the outermost two, and the rest.
    struct Offsets: Sendable { var thirds: [Double]; var edges: [Double]; var refine: [Double] }

    static func offsets(thickness t: Double) -> Offsets {
        let mid = { (k: Int) in (Double(k) + 0.5) / Double(planes) * t - t / 2 }
        let thirds = [planes / 6, planes - 1 - planes / 6], edges = [0, planes - 1]
        let rest = (0..<planes).filter { $0 != planes / 2 && !thirds.contains($0) && !edges.contains($0) }
        return Offsets(thirds: thirds.map(mid), edges: edges.map(mid), refine: rest.map(mid))
    }
}

/// Long tails of the scanner's in-plane point-spread (and scatter): every pixel receives a little of
/// its surroundings, so the brain within 5-10 mm of the skull reads brighter. The real GE exam's brain
/// rises towards the inner table by about 45, 26, 20, 17, 13 and 10 HU at 1-2, 2-3, 3-4, 4-5, 6-7 and
/// 9-10 mm (mid-brain, lateral thirds), against 3-7 HU for the generator without tails; 0.85 img +
/// 0.10 G(2 mm) + 0.05 G(8 mm) fits that to 4.8 HU rms (`Training/diagnostics/psf_fit.py`, docs/model.md,
/// "Experiment k2"). A Gaussian is made of three passes of a box filter (variance r(r+1) for boxes of
/// 2r+1 pixels), so no transcendental function is needed and the pixels stay bit-identical across
/// platforms. Outside the field of view the image is still air (-1000) when this runs.
enum PointSpreadTails {
    static let narrow = (weight: Float(0.10), sigmaMM: 2.0)
    static let wide = (weight: Float(0.05), sigmaMM: 8.0)

    static func apply(_ a: inout [Float], _ m: Int, pixelSpacing: Double) {
        let n = gaussian(a, m, radius: boxRadius(sigmaPixels: narrow.sigmaMM / pixelSpacing))
        let w = gaussian(a, m, radius: boxRadius(sigmaPixels: wide.sigmaMM / pixelSpacing))
        let keep = 1 - narrow.weight - wide.weight
        for i in a.indices { a[i] = keep * a[i] + narrow.weight * n[i] + wide.weight * w[i] }
    }

    /// r with r(r+1) closest to sigma^2: three boxes of 2r+1 pixels have that variance.
    static func boxRadius(sigmaPixels s: Double) -> Int {
        max(0, Int(((-1 + (1 + 4 * s * s).squareRoot()) / 2).rounded()))
    }

    /// Three box passes along rows, then three along columns; edges clamped.
    static func gaussian(_ a: [Float], _ m: Int, radius r: Int) -> [Float] {
        guard r > 0 else { return a }
        var x = a, t = [Float](repeating: 0, count: a.count)
        for alongColumns in [false, true] {
            for _ in 0..<3 {
                boxPass(x, into: &t, m, radius: r, alongColumns: alongColumns)
                swap(&x, &t)
            }
        }
        return x
    }

    /// One box of 2r+1 pixels along each row (or column) of the m x m image x, written to t.
    private static func boxPass(_ x: [Float], into t: inout [Float], _ m: Int, radius r: Int, alongColumns: Bool) {
        let scale = 1 / Float(2 * r + 1)
        let step = alongColumns ? m : 1   // from one pixel of the line to the next
        for i in 0..<m {
            for j in 0..<m {
                let k = alongColumns ? i : j   // the pixel's place along its line
                let first = i * m + j - k * step
                var sum: Float = 0
                for d in -r...r { sum += x[first + min(max(k + d, 0), m - 1) * step] }
                t[i * m + j] = sum * scale
            }
        }
    }
}

public enum PhantomRenderer {
    /// A bleed cross-section smaller than this (mm^2) on a slice is dropped from the mask and
    /// the labels (a reader would not call it either); its blood pixels stay in the image.
    public static let minimumArea = 3.0

    /// Renders every slice. Slices are independent and each draws its noise from its own
    /// stream, so the result does not depend on how many threads run.
    public static func render(_ c: PhantomCase) -> PhantomSeries {
        let n = c.geometry.count
        var out = [PhantomSlice?](repeating: nil, count: n)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: n) { k in
            let s = renderSlice(c, k)
            lock.lock(); out[k] = s; lock.unlock()
        }
        return PhantomSeries(phantomCase: c, slices: out.map { $0! })
    }

    public static func renderSlice(_ c: PhantomCase, _ k: Int) -> PhantomSlice {
        let g = c.geometry
        let m = g.matrix
        let count = m * m
        var hu = [Float](repeating: -1000, count: count)
        var mask = [UInt8](repeating: 0, count: count)
        var tissue = [UInt8](repeating: Tissue.outsideFieldOfView.rawValue, count: count)
        var inside = [Bool](repeating: false, count: count)
        // Through-slice partial volume: the mean over the slice thickness (SliceProfile).
        let profile: SliceProfile.Offsets? = c.config.partialVolume ? SliceProfile.offsets(thickness: g.thickness) : nil
        let half = Double(m - 1) / 2
        let fovRadius2 = (Double(m) / 2) * (Double(m) / 2)
        let origin = Vec3(g.position(k))
        let rowStep = Vec3(g.rowDirection) * g.pixelSpacing, colStep = Vec3(g.columnDirection) * g.pixelSpacing
        let normal = Vec3(g.normal)
        for i in 0..<m {
            let di = Double(i) - half
            for j in 0..<m {
                let dj = Double(j) - half
                if di * di + dj * dj > fovRadius2 { continue }
                let idx = i * m + j
                inside[idx] = true
                let base = origin + colStep * Double(i) + rowStep * Double(j)
                hu[idx] = Float(slabMean(c, base, normal, profile, tissue: &tissue[idx], mask: &mask[idx]))
            }
        }
        calvarialShift(&hu, tissue: tissue, c)
        if c.config.partialVolume { blur5(&hu, m) }
        if c.config.pointSpreadTails { PointSpreadTails.apply(&hu, m, pixelSpacing: g.pixelSpacing) }
        if c.config.noise { addNoise(&hu, c, k) }
        removeSlivers(&mask, pixelArea: g.pixelSpacing * g.pixelSpacing)
        var stored = [Int16](repeating: c.encoding.paddingStored, count: count)
        for idx in 0..<count {
            if inside[idx] { stored[idx] = c.encoding.store(hu[idx]) } else { hu[idx] = .nan }
        }
        return PhantomSlice(index: k, stored: stored, hu: hu, mask: mask, tissue: tissue)
    }

    /// The mean HU across the slice through `base` (patient coordinates) along `normal`, by
    /// `SliceProfile`'s rule; the centre plane alone without a profile (no partial volume). The tissue
    /// class and bleed bits are the centre plane's.
    @inline(__always)
    static func slabMean(_ c: PhantomCase, _ base: Vec3, _ normal: Vec3, _ profile: SliceProfile.Offsets?,
                         tissue: inout UInt8, mask: inout UInt8) -> Double {
        let centre = value(c, c.head.toHead(base), centre: true, tissue: &tissue, mask: &mask)
        guard let profile else { return centre }
        var scratchTissue: UInt8 = 0, scratchMask: UInt8 = 0
        func sample(_ along: Double) -> Double {
            value(c, c.head.toHead(base + normal * along), centre: false, tissue: &scratchTissue, mask: &scratchMask)
        }
        let low = sample(profile.edges[0]), high = sample(profile.edges[1])
        // Air at the centre and at both ends is air across the slab (the common case outside the head).
        if tissue == Tissue.air.rawValue && max(centre, low, high) <= TissueHU.air { return centre }
        let minus = sample(profile.thirds[0]), plus = sample(profile.thirds[1])
        if max(centre, low, high, minus, plus) - min(centre, low, high, minus, plus) < SliceProfile.refineAbove {
            return (centre + minus + plus) / 3
        }
        var sum = centre + low + high + minus + plus
        for along in profile.refine { sum += sample(along) }
        return sum / Double(SliceProfile.planes)
    }

    /// HU at head point p with bleeds, oedema, calcifications and artefacts; on the centre
    /// plane also the tissue class and the bleed bits.
    @inline(__always)
    static func value(_ c: PhantomCase, _ p: Vec3, centre: Bool, tissue: inout UInt8, mask: inout UInt8) -> Double {
        var a = c.head.sample(p)
        if a.tissue.isIntracranial, let calc = c.mimics.calcification(at: a.q) {
            a.tissue = .calcification
            a.hu = calc
        }
        var hu = a.hu
        var bits: UInt8 = 0
        if a.depth > 0 {
            var edema = 0.0
            var blood: Double?
            for b in c.bleeds {
                switch b.effect(at: p, anatomy: a, head: c.head) {
                case .none: break
                case .blood:
                    bits |= b.subtype.maskBit
                    if blood == nil { blood = b.bloodHU(p) }
                case .edema(let drop): edema = max(edema, drop)
                }
            }
            if let bl = blood { hu = bl } else if edema > 0 && a.tissue.isParenchyma { hu -= edema }
            if a.tissue != .calcification { hu += c.mimics.artefact(at: p, radialDepth: a.radialDepth) }
        }
        if centre {
            tissue = a.tissue.rawValue
            mask = bits
        }
        return hu
    }

    /// The calvarial shift: on slices whose cranial cavity is small, every intracranial pixel (brain,
    /// CSF, blood) reads denser by the same amount. Measured on the real GE exam (docs/phantom.md): the
    /// median of the brain away from the bone is 26-31 HU on slices whose cavity is 0.65 of the widest
    /// or more, 33-34 at 0.52-0.65, 42 at 0.37, 47 at 0.21 (vertex), 43-47 at 0.15-0.28 (skull base);
    /// the shift is uniform across the slice, not a rim. Whether that is calvarial beam hardening or
    /// scatter is not established; it is rendered as observed: `calvarialShiftHU` (per series, 8-30 HU;
    /// about 18 fits the GE exam) x (1 - smoothstep(0.2, 0.65, cavity / pi a b)), with pi a b the brain
    /// envelope's widest axial section and the cavity counted on the centre plane. Without it the
    /// generator's vertex brain stays at 28-32 HU and a detector trained on it calls the real vertex
    /// blood (every model up to candidates j1 and j2).
    static func calvarialShift(_ hu: inout [Float], tissue: [UInt8], _ c: PhantomCase) {
        guard c.calvarialShiftHU > 0 else { return }
        let cavity = tissue.indices.filter { Tissue(rawValue: tissue[$0])?.isIntracranial == true }
        guard !cavity.isEmpty else { return }
        let fraction = Double(cavity.count) * c.geometry.pixelSpacing * c.geometry.pixelSpacing / c.head.equatorialArea
        let shift = Float(c.calvarialShiftHU * (1 - DetMath.smoothstep(0.2, 0.65, fraction)))
        guard shift > 0 else { return }
        for idx in cavity { hu[idx] += shift }
    }

    /// Separable binomial blur [1 4 6 4 1]/16 (sigma 1 pixel): the scanner's in-plane
    /// resolution. Edges are clamped. `rows` defaults to a square image.
    static func blur5(_ a: inout [Float], _ columns: Int, rows: Int? = nil) {
        let m = columns, nRows = rows ?? columns
        var t = [Float](repeating: 0, count: a.count)
        a.withUnsafeBufferPointer { src in
            t.withUnsafeMutableBufferPointer { dst in
                for i in 0..<nRows {
                    let r = i * m
                    for j in 0..<m {
                        let j0 = max(j - 2, 0), j1 = max(j - 1, 0), j3 = min(j + 1, m - 1), j4 = min(j + 2, m - 1)
                        dst[r + j] = (src[r + j0] + 4 * src[r + j1] + 6 * src[r + j] + 4 * src[r + j3] + src[r + j4]) / 16
                    }
                }
            }
        }
        t.withUnsafeBufferPointer { src in
            a.withUnsafeMutableBufferPointer { dst in
                for i in 0..<nRows {
                    let i0 = max(i - 2, 0) * m, i1 = max(i - 1, 0) * m
                    let i3 = min(i + 1, nRows - 1) * m, i4 = min(i + 2, nRows - 1) * m
                    let r = i * m
                    for j in 0..<m {
                        dst[r + j] = (src[i0 + j] + 4 * src[i1 + j] + 6 * src[r + j] + 4 * src[i3 + j] + src[i4 + j]) / 16
                    }
                }
            }
        }
    }

    /// Correlated quantum noise: white noise smoothed by [1 2 1]/4 in both directions (CT
    /// noise has a mid-frequency texture, not salt-and-pepper), scaled to the head's SD;
    /// noisier low in the head where the skull base absorbs more photons.
    static func addNoise(_ a: inout [Float], _ c: PhantomCase, _ k: Int) {
        let m = c.geometry.matrix
        var rng = SeededGenerator(seed: deriveSeed(c.seed, 2, UInt64(k)))
        var w = [Float](repeating: 0, count: m * m)
        for i in 0..<w.count { w[i] = Float(rng.gaussian()) }
        var t = [Float](repeating: 0, count: m * m)
        for i in 0..<m {
            let r = i * m
            for j in 0..<m {
                t[r + j] = (w[r + max(j - 1, 0)] + 2 * w[r + j] + w[r + min(j + 1, m - 1)]) * 0.25
            }
        }
        let z = c.geometry.center(k).z
        let sd = c.noiseSD * (1 + 0.6 * (1 - DetMath.smoothstep(-45, -20, z)))
        let scale = Float(sd / 0.375)
        for i in 0..<m {
            let up = max(i - 1, 0) * m, r = i * m, dn = min(i + 1, m - 1) * m
            for j in 0..<m {
                a[r + j] += (t[up + j] + 2 * t[r + j] + t[dn + j]) * 0.25 * scale
            }
        }
    }

    static func removeSlivers(_ mask: inout [UInt8], pixelArea: Double) {
        let minPixels = Int((minimumArea / pixelArea).rounded(.up))
        for s in Subtype.allCases {
            var n = 0
            for v in mask where v & s.maskBit != 0 { n += 1 }
            if n > 0 && n < minPixels {
                for i in 0..<mask.count { mask[i] &= ~s.maskBit }
            }
        }
    }
}
