import DICOMIntake

/// The NOT ANALYSABLE checks, from the series header first (cheap) and then from the decoded images.
enum SeriesChecks {
    /// A reason the series cannot be analysed, from what the headers say; nil when it can.
    static func headerProblem(_ series: CTSeries, _ config: TriageConfiguration) -> String? {
        if series.slices.count < config.minimumSlices {
            return "too few slices: \(series.slices.count), at least \(config.minimumSlices) needed"
        }
        let part = series.bodyPartExamined.uppercased().filter { $0 != " " && $0 != "_" && $0 != "-" }
        if !part.isEmpty && !config.headBodyParts.contains(part) {
            return "not a head: BodyPartExamined is '\(series.bodyPartExamined)'"
        }
        if let gap = series.spacings.max(), gap > config.maximumSliceGapMm {
            return "slice gap too large: \(format(gap)) mm between consecutive slices, at most \(format(config.maximumSliceGapMm)) mm allowed"
        }
        return nil
    }

    /// What one decoded image looks like, for the head check.
    struct ImageStats: Sendable {
        /// Width (mm) of the body outline on the row through the tissue's centroid; 0 when no tissue.
        var outlineWidthMm: Double
        var airFraction: Double
        /// Pixels inside the filled outline: tissue above -300 HU and whatever it encloses (air inside a
        /// skull included), so the check below can pick the slices that cut the head widest.
        var enclosedPixels = 0
        /// Share of the enclosed pixels that are soft tissue, brain or blood (`softTissueHU`).
        var softTissueFraction = 0.0
    }

    /// Brain (20 to 45 HU), blood (50 to 90), CSF (0 to 15), scalp and muscle all lie here; air, fat and
    /// bone do not.
    static let softTissueHU: ClosedRange<Float> = -20...100

    static func stats(hu: [Float], rows: Int, columns: Int, columnSpacingMm: Double) -> ImageStats {
        var air = 0, tissue = 0
        var rowSum = 0.0
        for y in 0..<rows {
            for x in 0..<columns {
                let v = hu[y * columns + x]
                if v < -500 { air += 1 }
                if v > -300 { tissue += 1; rowSum += Double(y) }
            }
        }
        let airFraction = Double(air) / Double(max(1, rows * columns))
        guard tissue > 0 else { return ImageStats(outlineWidthMm: 0, airFraction: airFraction) }
        // The centroid row avoids the couch/headrest below the head, which can be wider than the head.
        let cy = Int(rowSum / Double(tissue))
        var first = -1, last = -1
        for x in 0..<columns where hu[cy * columns + x] > -300 {
            if first < 0 { first = x }
            last = x
        }
        let width = first < 0 ? 0 : Double(last - first + 1) * columnSpacingMm
        let enclosed = enclosedByTissue(hu: hu, rows: rows, columns: columns)
        var inside = 0, soft = 0
        for p in 0..<hu.count where enclosed[p] {
            inside += 1
            if softTissueHU.contains(hu[p]) { soft += 1 }
        }
        return ImageStats(outlineWidthMm: width, airFraction: airFraction, enclosedPixels: inside,
                          softTissueFraction: inside == 0 ? 0 : Double(soft) / Double(inside))
    }

    /// Tissue above -300 HU and every pixel it encloses: the complement of what can be reached from the
    /// image border through pixels at or below -300 HU (4-connected flood fill).
    static func enclosedByTissue(hu: [Float], rows: Int, columns: Int) -> [Bool] {
        var outside = [Bool](repeating: false, count: rows * columns)
        var stack: [Int] = []
        func visit(_ p: Int) {
            if !outside[p] && hu[p] <= -300 { outside[p] = true; stack.append(p) }
        }
        for x in 0..<columns { visit(x); visit((rows - 1) * columns + x) }
        for y in 0..<rows { visit(y * columns); visit(y * columns + columns - 1) }
        while let p = stack.popLast() {
            let y = p / columns, x = p % columns
            if x > 0 { visit(p - 1) }
            if x + 1 < columns { visit(p + 1) }
            if y > 0 { visit(p - columns) }
            if y + 1 < rows { visit(p + columns) }
        }
        return outside.map { !$0 }
    }

    /// A reason from the images: empty, or a body outline of the wrong size for a head.
    static func imageProblem(_ stats: [ImageStats], _ config: TriageConfiguration) -> String? {
        let nonEmpty = stats.filter { $0.airFraction <= config.maximumAirFraction }
        if nonEmpty.isEmpty {
            return "not a head: every image is almost all air (over \(Int(config.maximumAirFraction * 100)) % below -500 HU)"
        }
        let widths = nonEmpty.map(\.outlineWidthMm).sorted()
        let median = widths[widths.count / 2]
        if median > config.maximumHeadWidthMm {
            return "not a head: body outline \(format(median)) mm wide (median over slices), a head is at most \(format(config.maximumHeadWidthMm)) mm"
        }
        if median < config.minimumHeadWidthMm {
            return "not a head: body outline only \(format(median)) mm wide (median over slices), at least \(format(config.minimumHeadWidthMm)) mm expected"
        }
        // A skull with air inside (a QA head phantom) has the right outline but nothing for the detector
        // to read; it must not be triaged as a head. The slices that cut the head widest decide, so
        // the skull base and the vertex (more bone, less brain) do not.
        if config.minimumSoftTissueFraction > 0 {
            let (soft, widest) = softTissueShare(nonEmpty)
            if soft < config.minimumSoftTissueFraction {
                return "no brain: inside the head outline only \(Int((soft * 100).rounded())) % of the pixels are soft tissue "
                    + "(-20 to 100 HU; median over the \(widest) widest slices), at least "
                    + "\(Int((config.minimumSoftTissueFraction * 100).rounded())) % expected; an air-filled phantom?"
            }
        }
        return nil
    }

    /// The soft-tissue check's figure: the median `softTissueFraction` over the slices that enclose at
    /// least half as many pixels as the widest one, and how many slices those are.
    static func softTissueShare(_ stats: [ImageStats]) -> (share: Double, slices: Int) {
        let widest = stats.map(\.enclosedPixels).max() ?? 0
        let fractions = stats.filter { Double($0.enclosedPixels) >= 0.5 * Double(widest) }.map(\.softTissueFraction).sorted()
        return fractions.isEmpty ? (0, 0) : (fractions[fractions.count / 2], fractions.count)
    }

    static func format(_ v: Double) -> String { String(format: "%.1f", v) }
}

/// Thin-slice series are averaged (in HU) into slabs of about `slabThicknessMm`, so the detector sees
/// the thickness it was trained on and a 300-slice series costs what a 60-slice one does.
struct SlabPlan: Sendable, Equatable {
    /// Slice indices of each slab, consecutive and in series order; one index per slab when not thin.
    var slabs: [[Int]]

    init(series: CTSeries, _ config: TriageConfiguration) {
        let n = series.slices.count
        let spacings = series.spacings.sorted()
        let median = spacings.isEmpty ? (series.sliceThicknesses.first ?? config.slabThicknessMm) : spacings[spacings.count / 2]
        guard median > 0, median < config.thinSliceSpacingMm, n > 1 else {
            slabs = (0..<n).map { [$0] }
            return
        }
        let per = max(1, Int((config.slabThicknessMm / median).rounded()))
        var groups = stride(from: 0, to: n, by: per).map { Array($0..<min($0 + per, n)) }
        // A short remainder joins the slab before it rather than standing as a thin slab of its own.
        if groups.count > 1, let tail = groups.last, tail.count * 2 < per {
            groups.removeLast()
            groups[groups.count - 1] += tail
        }
        slabs = groups
    }

    /// The slice that represents a slab (its middle one).
    static func centre(_ slab: [Int]) -> Int { slab[slab.count / 2] }
}

import Foundation
