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
    public var subtypes: [Subtype] {
        var bits: UInt8 = 0
        for m in mask { bits |= m }
        return Subtype.allCases.filter { bits & $0.maskBit != 0 }
    }
}

public struct PhantomSeries: Sendable {
    public let phantomCase: PhantomCase
    public let slices: [PhantomSlice]
    /// Subtypes visible on at least one slice.
    public var presentSubtypes: [Subtype] {
        Subtype.allCases.filter { s in slices.contains { $0.subtypes.contains(s) } }
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
        // Through-slice partial volume: the centre plane plus two planes at +-thickness/3.
        let offsets: [(Double, Double)] = c.config.partialVolume
            ? [(0, 0.5), (-g.thickness / 3, 0.25), (g.thickness / 3, 0.25)] : [(0, 1)]
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
                var acc = value(c, c.head.toHead(base), centre: true, tissue: &tissue[idx], mask: &mask[idx])
                // Air far outside the head stays air on the neighbouring planes: skip them.
                if offsets.count > 1 && !(tissue[idx] == Tissue.air.rawValue && acc <= TissueHU.air) {
                    acc *= offsets[0].1
                    var scratchTissue: UInt8 = 0, scratchMask: UInt8 = 0
                    for (along, weight) in offsets.dropFirst() {
                        let p = c.head.toHead(base + normal * along)
                        acc += weight * value(c, p, centre: false, tissue: &scratchTissue, mask: &scratchMask)
                    }
                }
                hu[idx] = Float(acc)
            }
        }
        if c.config.partialVolume { blur5(&hu, m) }
        if c.config.noise { addNoise(&hu, c, k) }
        removeSlivers(&mask, pixelArea: g.pixelSpacing * g.pixelSpacing)
        var stored = [Int16](repeating: c.encoding.paddingStored, count: count)
        for idx in 0..<count {
            if inside[idx] { stored[idx] = c.encoding.store(hu[idx]) } else { hu[idx] = .nan }
        }
        return PhantomSlice(index: k, stored: stored, hu: hu, mask: mask, tissue: tissue)
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
