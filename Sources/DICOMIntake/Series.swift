import Foundation

/// One slice of a series, in the order the series was assembled.
public struct CTSlice: Sendable, Equatable {
    public var path: String
    public var sopInstanceUID: String
    public var instanceNumber: Int?
    public var rows: Int
    public var columns: Int
    /// Row spacing, column spacing (mm); nil when the file does not say.
    public var pixelSpacing: [Double]?
    public var sliceThickness: Double?
    public var imagePosition: [Double]
    public var imageOrientation: [Double]
    /// ImagePositionPatient projected on the slice normal (mm); the sort key.
    public var positionAlongNormal: Double
}

/// A complete, ordered CT head series ready for preprocessing.
public struct CTSeries: Sendable {
    public var studyInstanceUID: String
    public var seriesInstanceUID: String
    /// 1-based part when a series had to be split (differing orientation or matrix size), else nil.
    public var part: Int?
    public var description: String
    public var studyDate: String
    public var studyTime: String
    public var accessionNumber: String
    public var bodyPartExamined: String
    /// For the status screen only; never log.
    public var patientInitials: String
    /// Ordered along the slice normal (foot to head for a head-first axial series).
    public var slices: [CTSlice]
    /// Distinct slice thicknesses (mm), ascending.
    public var sliceThicknesses: [Double]
    /// Distances between consecutive slice positions along the normal (mm), in slice order.
    public var spacings: [Double]
    /// Gantry/detector tilt in degrees: GantryDetectorTilt, or measured from the geometry when the
    /// file does not say. 0 for an untilted series.
    public var gantryTilt: Double
    /// Duplicate SOP instances dropped while assembling.
    public var duplicatesDropped: Int
    public var warnings: [String]

    /// Key identifying the series (and the part, when split).
    public var key: String { part.map { "\(studyInstanceUID)/\(seriesInstanceUID)#\($0)" } ?? "\(studyInstanceUID)/\(seriesInstanceUID)" }
}

/// Groups kept slices into series, orders them and reports what is odd about them.
enum SeriesAssembly {
    static func assemble(_ headers: [SliceHeader], configuration: IntakeConfiguration) -> [CTSeries] {
        var groups: [String: [SliceHeader]] = [:]
        var order: [String] = []
        for h in headers {
            let key = "\(h.studyInstanceUID)/\(h.seriesInstanceUID)"
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(h)
        }
        return order.flatMap { assembleOne(groups[$0]!, configuration: configuration) }
    }

    /// One Study+Series group: drop duplicates, split by orientation/matrix, order and measure.
    static func assembleOne(_ all: [SliceHeader], configuration: IntakeConfiguration) -> [CTSeries] {
        var seen = Set<String>()
        var unique: [SliceHeader] = []
        for h in all.sorted(by: { $0.path < $1.path }) where seen.insert(h.sopInstanceUID).inserted {
            unique.append(h)
        }
        let duplicates = all.count - unique.count
        // Split by orientation (to 1e-3) and matrix size.
        var parts: [String: [SliceHeader]] = [:]
        var partOrder: [String] = []
        for h in unique {
            let o = h.imageOrientation!.map { String(format: "%.3f", $0) }.joined(separator: ",")
            let key = "\(o)|\(h.rows)x\(h.columns)"
            if parts[key] == nil { partOrder.append(key) }
            parts[key, default: []].append(h)
        }
        let split = partOrder.count > 1
        return partOrder.enumerated().map { index, key in
            var s = makeSeries(parts[key]!, configuration: configuration)
            s.duplicatesDropped = index == 0 ? duplicates : 0
            if duplicates > 0 && index == 0 { s.warnings.append("dropped \(duplicates) duplicate instance(s) (same SOPInstanceUID)") }
            if split {
                s.part = index + 1
                s.warnings.append("series split: images differ in orientation or matrix size (part \(index + 1) of \(partOrder.count), \(parts[key]!.first!.rows)x\(parts[key]!.first!.columns))")
            }
            return s
        }
    }

    /// One slice of a series; `normal` is the series' slice normal (the slice's own when alone).
    static func makeSlice(_ h: SliceHeader, normal: [Double]? = nil) -> CTSlice {
        let n = normal ?? Geometry.normal(h.imageOrientation!)
        return CTSlice(path: h.path, sopInstanceUID: h.sopInstanceUID, instanceNumber: h.instanceNumber,
                       rows: h.rows, columns: h.columns, pixelSpacing: h.pixelSpacing, sliceThickness: h.sliceThickness,
                       imagePosition: h.imagePosition!, imageOrientation: h.imageOrientation!,
                       positionAlongNormal: Geometry.dot(h.imagePosition!, n))
    }

    static func makeSeries(_ headers: [SliceHeader], configuration: IntakeConfiguration) -> CTSeries {
        let first = headers[0]
        let normal = Geometry.normal(first.imageOrientation!)
        var slices = headers.map { makeSlice($0, normal: normal) }
        slices.sort {
            $0.positionAlongNormal != $1.positionAlongNormal
                ? $0.positionAlongNormal < $1.positionAlongNormal
                : ($0.instanceNumber ?? 0) < ($1.instanceNumber ?? 0)
        }
        var warnings: [String] = []
        let spacings = zip(slices.dropFirst(), slices).map { $0.positionAlongNormal - $1.positionAlongNormal }
        let thicknesses = Array(Set(slices.compactMap { $0.sliceThickness.map { ($0 * 1000).rounded() / 1000 } })).sorted()
        if thicknesses.count > 1 {
            warnings.append("mixed slice thickness: \(thicknesses.map { fmt($0) }.joined(separator: ", ")) mm")
        }
        if slices.count < configuration.minimumSlices {
            warnings.append("only \(slices.count) slice(s)")
        }
        let coincident = spacings.filter { $0 < 0.01 }.count
        if coincident > 0 { warnings.append("\(coincident) slice(s) share a position with another slice") }
        let positive = spacings.filter { $0 >= 0.01 }
        if let lo = positive.min(), let hi = positive.max() {
            let median = positive.sorted()[positive.count / 2]
            if hi - lo > configuration.spacingTolerance * median {
                warnings.append("uneven slice spacing: \(fmt(lo)) to \(fmt(hi)) mm (median \(fmt(median)) mm)")
            }
            // A gap leaves tissue uncovered: spacing beyond the slices' own thickness (or, without
            // thickness, well beyond the usual spacing).
            var gaps: [String] = []
            for (i, d) in spacings.enumerated() {
                let covered = [slices[i].sliceThickness, slices[i + 1].sliceThickness].compactMap { $0 }.max()
                let limit = covered.map { $0 * (1 + configuration.spacingTolerance) } ?? 1.5 * median
                if d > limit + 0.01 { gaps.append("\(fmt(d)) mm after slice \(i + 1)") }
            }
            if !gaps.isEmpty {
                let shown = gaps.prefix(5).joined(separator: ", ")
                warnings.append("\(gaps.count) gap(s) in coverage: \(shown)\(gaps.count > 5 ? ", ..." : "")")
            }
        }
        let tilt = gantryTilt(slices: slices, normal: normal, declared: first.gantryTilt)
        if abs(tilt) >= 0.5 { warnings.append("gantry tilt \(fmt(tilt)) degrees") }
        return CTSeries(
            studyInstanceUID: first.studyInstanceUID, seriesInstanceUID: first.seriesInstanceUID, part: nil,
            description: first.seriesDescription, studyDate: first.studyDate, studyTime: first.studyTime,
            accessionNumber: first.accessionNumber, bodyPartExamined: first.bodyPartExamined,
            patientInitials: first.patientInitials, slices: slices, sliceThicknesses: thicknesses,
            spacings: spacings, gantryTilt: tilt, duplicatesDropped: 0, warnings: warnings)
    }

    /// The declared tilt when non-zero; else the angle between the slice normal and the line through
    /// the slice positions (a tilted acquisition shears the stack even when the tag is absent).
    static func gantryTilt(slices: [CTSlice], normal: [Double], declared: Double?) -> Double {
        if let declared, declared != 0 { return declared }
        guard let a = slices.first?.imagePosition, let b = slices.last?.imagePosition, slices.count > 1 else { return 0 }
        let d = zip(b, a).map { $0 - $1 }
        let l = Geometry.length(d)
        guard l > 1e-6 else { return 0 }
        let cosine = min(1, abs(Geometry.dot(d, normal)) / l)
        let degrees = acos(cosine) * 180 / .pi
        return degrees < 0.5 ? 0 : (degrees * 10).rounded() / 10
    }

    static func fmt(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        return r == r.rounded() ? String(format: "%.0f", r) : String(format: "%g", r)
    }
}
