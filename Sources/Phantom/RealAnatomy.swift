import DICOMIntake
import Foundation

/// Bleeds inserted into the slices of real head CT exams (read with the project's DICOM
/// intake). The anatomy is found by thresholds: bone > 300 HU, the cranial cavity = what
/// bone encloses, parenchyma 18...60 HU and CSF -5...18 HU inside it, the inner table =
/// distance 0 from bone. Blood replaces the real HU but keeps the real noise texture.
public struct RealAnatomyLibrary: Sendable {
    /// Per-pixel class of a real slice.
    enum Region: UInt8 { case outside = 0, bone, parenchyma, csf, otherIntracranial, padding = 255 }

    struct Slice: Sendable {
        var hu: [Float]                 // NaN = padding (outside the field of view)
        var region: [UInt8]
        var tableDistance: [Float]      // mm to the nearest bone pixel (in plane); inside the cavity
        var position: [Double]
        var thickness: Double
        var sliceLocation: Double
        var cavityArea: Double          // mm^2
        var centroid: (Double, Double)  // row, column of the cavity
    }

    struct Exam: Sendable {
        var name: String
        var rows: Int, columns: Int
        var spacing: [Double]           // row, column spacing (mm)
        var orientation: [Double]
        var tilt: Double
        var slices: [Slice]

        /// Patient position of pixel (i, j) of slice k.
        @inline(__always)
        func point(_ k: Int, _ i: Int, _ j: Int) -> Vec3 {
            let p = slices[k].position, o = orientation
            let a = Double(j) * spacing[1], b = Double(i) * spacing[0]
            return Vec3(p[0] + a * o[0] + b * o[3], p[1] + a * o[1] + b * o[4], p[2] + a * o[2] + b * o[5])
        }

        var maxCavity: Double { slices.map(\.cavityArea).max() ?? 0 }
        /// Slices through the bulk of the brain (where bleeds are placed).
        var brainSlices: [Int] { slices.indices.filter { slices[$0].cavityArea > 0.45 * maxCavity } }
    }

    let exams: [Exam]
    /// Exams found but not used, with the reason (e.g. a skull phantom with no brain inside).
    public let excluded: [(name: String, reason: String)]
    public var examNames: [String] { exams.map(\.name) }

    /// Reads every axial CT head series under `folder`. `downsample` (1, 2, 4) averages
    /// blocks of pixels (tests use 4 for speed).
    public static func load(from folder: URL, downsample: Int = 1) throws -> RealAnatomyLibrary {
        guard FileManager.default.fileExists(atPath: folder.path) else {
            throw PhantomError.realAnatomy("no folder \(folder.path) (set ICHTRIAGE_SHARED_DATA or --real-data)")
        }
        guard [1, 2, 4].contains(downsample) else { throw PhantomError.badArgument("downsample must be 1, 2 or 4") }
        var config = IntakeConfiguration()
        config.paddingHU = .nan
        let scan = DICOMIntake.scan(folder: folder.path, configuration: config)
        var exams: [Exam] = []
        for series in scan.series where series.slices.count >= 10 {
            let first = series.slices[0]
            guard let ps = first.pixelSpacing, ps.count == 2, first.imageOrientation.count == 6,
                  series.slices.allSatisfy({ $0.rows == first.rows && $0.columns == first.columns }) else { continue }
            let images: [HUImage]
            do { images = try HUDecoder.decode(series: series, configuration: config) } catch {
                throw PhantomError.realAnatomy("cannot decode \(series.description): \(error)")
            }
            let f = downsample
            let rows = first.rows / f, cols = first.columns / f
            var slices: [Slice] = []
            for (s, img) in zip(series.slices, images) {
                let hu = f == 1 ? img.pixels : Self.shrink(img.pixels, first.rows, first.columns, f)
                // The position of a shrunk pixel is the centre of its block.
                let shift = Double(f - 1) / 2
                let o = s.imageOrientation
                let pos = (0..<3).map { s.imagePosition[$0] + shift * ps[1] * o[$0] + shift * ps[0] * o[3 + $0] }
                slices.append(segment(hu, rows: rows, columns: cols, spacing: [ps[0] * Double(f), ps[1] * Double(f)],
                                      position: pos, thickness: s.sliceThickness ?? series.sliceThicknesses.first ?? 5,
                                      sliceLocation: s.positionAlongNormal))
            }
            // Named by its folder (e.g. ge-hispeed-human, S2010): descriptions may be empty.
            let name = URL(fileURLWithPath: first.path).deletingLastPathComponent().lastPathComponent
            exams.append(Exam(name: name, rows: rows, columns: cols, spacing: [ps[0] * Double(f), ps[1] * Double(f)],
                              orientation: first.imageOrientation, tilt: series.gantryTilt, slices: slices))
        }
        var usable: [Exam] = [], excluded: [(String, String)] = []
        for e in exams {
            if e.maxCavity < 5000 {
                excluded.append((e.name, "no brain tissue found inside the skull (largest soft-tissue cavity \(Int(e.maxCavity)) mm^2)"))
            } else {
                usable.append(e)
            }
        }
        guard !usable.isEmpty else {
            throw PhantomError.realAnatomy("no axial head CT series with brain inside a recognisable skull under \(folder.path)"
                                           + excluded.map { "; \($0.0): \($0.1)" }.joined())
        }
        return RealAnatomyLibrary(exams: usable, excluded: excluded)
    }

    static func shrink(_ a: [Float], _ rows: Int, _ cols: Int, _ f: Int) -> [Float] {
        let r = rows / f, c = cols / f
        var out = [Float](repeating: 0, count: r * c)
        for i in 0..<r {
            for j in 0..<c {
                var sum: Float = 0
                for di in 0..<f { for dj in 0..<f { sum += a[(i * f + di) * cols + j * f + dj] } }
                out[i * c + j] = sum / Float(f * f)   // NaN if any padding: stays padding
            }
        }
        return out
    }

    /// Bone, cavity, parenchyma, CSF and distance to the inner table of one slice.
    static func segment(_ hu: [Float], rows: Int, columns: Int, spacing: [Double], position: [Double],
                        thickness: Double, sliceLocation: Double) -> Slice {
        let n = rows * columns
        var bone = [Bool](repeating: false, count: n)
        for i in 0..<n where hu[i] > 300 { bone[i] = true }
        // Close small gaps in the skull (sutures, partial volume, foramina) before filling.
        let radius = max(1, Int((2.0 / spacing[0]).rounded()))
        let closed = dilate(bone, rows, columns, radius)
        // Outside = reachable from the border without crossing (closed) bone.
        var outside = [Bool](repeating: false, count: n)
        var stack: [Int] = []
        for i in 0..<rows { for j in [0, columns - 1] { stack.append(i * columns + j) } }
        for j in 0..<columns { for i in [0, rows - 1] { stack.append(i * columns + j) } }
        while let v = stack.popLast() {
            if outside[v] || closed[v] { continue }
            outside[v] = true
            let i = v / columns, j = v % columns
            if i > 0 { stack.append(v - columns) }
            if i < rows - 1 { stack.append(v + columns) }
            if j > 0 { stack.append(v - 1) }
            if j < columns - 1 { stack.append(v + 1) }
        }
        // Cavity: enclosed, soft-tissue density, grown back to the real bone edge, largest component.
        var enclosed = [Bool](repeating: false, count: n)
        for i in 0..<n where !outside[i] && !closed[i] { enclosed[i] = true }
        let grown = dilate(enclosed, rows, columns, radius + 1)
        var cavity = [Bool](repeating: false, count: n)
        for i in 0..<n where grown[i] && !outside[i] && !bone[i] && hu[i] > -30 && hu[i] < 120 { cavity[i] = true }
        cavity = largestComponent(cavity, rows, columns)
        let dist = distanceToBone(bone, rows, columns, spacing[0])
        // Classify on a smoothed image: single noisy pixels of white matter dip below 18 HU.
        var smooth = hu.map { $0.isNaN ? -1000 : $0 }
        PhantomRenderer.blur5(&smooth, columns, rows: rows)
        PhantomRenderer.blur5(&smooth, columns, rows: rows)
        var csf = [Bool](repeating: false, count: n)
        for i in 0..<n where cavity[i] && smooth[i] >= -5 && smooth[i] < 18 { csf[i] = true }
        // CSF spaces are connected regions of some size; specks are noise or partial volume.
        csf = components(csf, rows, columns, minimumSize: Int((12 / (spacing[0] * spacing[1])).rounded(.up)))
        var region = [UInt8](repeating: Region.outside.rawValue, count: n)
        var area = 0, sumI = 0.0, sumJ = 0.0
        for i in 0..<n {
            if hu[i].isNaN { region[i] = Region.padding.rawValue; continue }
            if bone[i] { region[i] = Region.bone.rawValue; continue }
            guard cavity[i] else { continue }
            area += 1; sumI += Double(i / columns); sumJ += Double(i % columns)
            let v = smooth[i]
            region[i] = (csf[i] ? Region.csf : v >= 18 && v <= 60 ? Region.parenchyma : Region.otherIntracranial).rawValue
        }
        let centroid = area > 0 ? (sumI / Double(area), sumJ / Double(area)) : (Double(rows) / 2, Double(columns) / 2)
        return Slice(hu: hu, region: region, tableDistance: dist, position: position, thickness: thickness,
                     sliceLocation: sliceLocation, cavityArea: Double(area) * spacing[0] * spacing[1], centroid: centroid)
    }

    /// Square dilation (separable running max).
    static func dilate(_ a: [Bool], _ rows: Int, _ cols: Int, _ r: Int) -> [Bool] {
        var t = [Bool](repeating: false, count: a.count)
        for i in 0..<rows {
            var last = -r - 1    // column of the last true seen
            for j in 0..<min(cols, r) where a[i * cols + j] { last = j }
            for j in 0..<cols {
                if j + r < cols && a[i * cols + j + r] { last = j + r }
                if last >= j - r { t[i * cols + j] = true }
            }
        }
        var out = [Bool](repeating: false, count: a.count)
        for j in 0..<cols {
            var last = -r - 1
            for i in 0..<min(rows, r) where t[i * cols + j] { last = i }
            for i in 0..<rows {
                if i + r < rows && t[(i + r) * cols + j] { last = i + r }
                if last >= i - r { out[i * cols + j] = true }
            }
        }
        return out
    }

    /// The largest 4-connected component of `a`.
    static func largestComponent(_ a: [Bool], _ rows: Int, _ cols: Int) -> [Bool] {
        let (label, sizes) = labelComponents(a, rows, cols)
        guard let best = sizes.indices.max(by: { sizes[$0] < sizes[$1] }) else { return a }
        return label.map { $0 == Int32(best + 1) }
    }

    /// The 4-connected components of `a` with at least `minimumSize` pixels.
    static func components(_ a: [Bool], _ rows: Int, _ cols: Int, minimumSize: Int) -> [Bool] {
        let (label, sizes) = labelComponents(a, rows, cols)
        return label.map { $0 > 0 && sizes[Int($0) - 1] >= minimumSize }
    }

    /// Component labels (1-based, 0 = background) and each component's size.
    static func labelComponents(_ a: [Bool], _ rows: Int, _ cols: Int) -> ([Int32], [Int]) {
        var label = [Int32](repeating: 0, count: a.count)
        var sizes: [Int] = []
        var stack: [Int] = []
        for start in a.indices where a[start] && label[start] == 0 {
            let current = Int32(sizes.count + 1)
            var size = 0
            stack.append(start); label[start] = current
            while let v = stack.popLast() {
                size += 1
                let i = v / cols, j = v % cols
                if i > 0 && a[v - cols] && label[v - cols] == 0 { label[v - cols] = current; stack.append(v - cols) }
                if i < rows - 1 && a[v + cols] && label[v + cols] == 0 { label[v + cols] = current; stack.append(v + cols) }
                if j > 0 && a[v - 1] && label[v - 1] == 0 { label[v - 1] = current; stack.append(v - 1) }
                if j < cols - 1 && a[v + 1] && label[v + 1] == 0 { label[v + 1] = current; stack.append(v + 1) }
            }
            sizes.append(size)
        }
        return (label, sizes)
    }

    /// Chamfer (3-4) distance to the nearest bone pixel, in mm.
    static func distanceToBone(_ bone: [Bool], _ rows: Int, _ cols: Int, _ spacing: Double) -> [Float] {
        let big: Int32 = 1 << 28
        var d = bone.map { $0 ? Int32(0) : big }
        for i in 0..<rows {
            for j in 0..<cols {
                var v = d[i * cols + j]
                if i > 0 {
                    v = min(v, d[(i - 1) * cols + j] + 3)
                    if j > 0 { v = min(v, d[(i - 1) * cols + j - 1] + 4) }
                    if j < cols - 1 { v = min(v, d[(i - 1) * cols + j + 1] + 4) }
                }
                if j > 0 { v = min(v, d[i * cols + j - 1] + 3) }
                d[i * cols + j] = v
            }
        }
        for i in stride(from: rows - 1, through: 0, by: -1) {
            for j in stride(from: cols - 1, through: 0, by: -1) {
                var v = d[i * cols + j]
                if i < rows - 1 {
                    v = min(v, d[(i + 1) * cols + j] + 3)
                    if j > 0 { v = min(v, d[(i + 1) * cols + j - 1] + 4) }
                    if j < cols - 1 { v = min(v, d[(i + 1) * cols + j + 1] + 4) }
                }
                if j < cols - 1 { v = min(v, d[i * cols + j + 1] + 3) }
                d[i * cols + j] = v
            }
        }
        let scale = Float(spacing / 3)
        return d.map { $0 >= big ? Float.infinity : Float($0) * scale }
    }
}
