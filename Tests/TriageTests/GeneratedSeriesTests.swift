import DICOMIntake
import Foundation
import Phantom
@testable import Triage
import XCTest

/// The trained detector on generated series: each subtype, negatives with mimics. Tiers and the
/// Grad-CAM peak against the generator's bleed mask. Needs Models/default (else skipped).
final class GeneratedSeriesTests: XCTestCase {
    typealias S = TriageTestSupport

    /// A check of the model's quality more than of the pipeline, and slow in a debug build (about 10
    /// minutes here for 8 cases; release, as `make model-check` builds it: 75 s for 20), so it is
    /// opt-in: `make model-check`. The localisation chain itself is
    /// checked in `make test` by TriagePipelineTests.testCAMPeakLandsOnTheGeneratedBleedWithAModelOfKnownEvidence.
    /// The CAM is scored at its own resolution (the peak's cell of the feature grid on the mask) next to
    /// the strict 3-pixel figure and the rate a random cell inside the head would get.
    /// Runs, 2026-11-30: model 0.2.0: tiers 5/8 (every negative alerts); 14 key slices with a bleed:
    /// peak within 3 px 0, peak cell on the mask 3 (chance 13 %): failed. Model 0.3.0: tiers 7/8
    /// (negative-mimics-2 alerts); 22 key slices: within 3 px 3, peak cell on the mask 12 (55 %,
    /// chance 12 %): passed. With 20 cases (2026-11-30 20:16-20:20 UTC, release): 0.5.0 tiers 17/20, CAM
    /// 40 of 71; candidates h1 41 of 73, i1 36 of 63 (pass), g2 29 of 63 (fails; 9 of 21 on the first 8).
    /// With the calvarial shift (2026-12-01 00:44 UTC): 0.5.0 tiers 17/20, CAM 43 of 74; candidate k1 18/20, 61 of 62.
    func testTrainedModelOnGeneratedSeries() throws {
        guard ProcessInfo.processInfo.environment["ICHTRIAGE_MODEL_CHECK"] == "1" else {
            throw XCTSkip("model quality check is opt-in (make model-check): 20 generated series, about 75 s in a release build and far longer in debug")
        }
        let model = try S.trainedModel()
        let pipeline = TriagePipeline(modelFolder: model)
        XCTAssertNil(pipeline.bundleProblem)
        let root = try S.tempDir("generated")
        // The first 8 cases (seeds 91000-91007) were the whole check until 2026-11-30; 5 positive series
        // could not separate models whose localisation differs on 56 (docs/model.md, "Candidates i1, i2 and i3"), so
        // two more seeds per subtype and two more negatives follow them.
        var cases: [(name: String, seed: UInt64, subtypes: [Subtype], mimics: Bool)] =
            Subtype.allCases.enumerated().map { ($1.rawValue, 91_000 + UInt64($0), [$1], false) }
        cases += [("negative", 91_005, [], false), ("negative-mimics", 91_006, [], true), ("negative-mimics-2", 91_007, [], true)]
        for round in 0..<2 {
            cases += Subtype.allCases.enumerated().map {
                ("\($1.rawValue)-\(round + 2)", 91_100 + UInt64(round * Subtype.allCases.count + $0), [$1], false)
            }
        }
        cases += [("negative-2", 91_110, [], false), ("negative-mimics-3", 91_111, [], true)]
        var correct = 0
        var cam: [CAMScore] = []
        var lines: [String] = []
        var correctFirst8 = 0, camFirst8: [CAMScore] = []  // the check as it was, for comparison with earlier runs
        for (n, c) in cases.enumerated() {
            var config = PhantomConfig(seed: c.seed)
            config.subtypes = c.subtypes
            config.sliceCount = 28
            config.sliceThickness = 5
            config.tiltDegrees = 0
            config.mimics = c.mimics
            let phantom = PhantomRenderer.render(try PhantomCase(config))
            var writer = try DatasetWriter(root: root.appendingPathComponent(c.name))
            _ = try writer.add(phantom.output, folder: "series")
            try writer.finish()
            let found = DICOMIntake.scan(folder: root.appendingPathComponent(c.name).path).series
            XCTAssertEqual(found.count, 1)
            guard let series = found.first else { continue }
            let a = pipeline.analyze(series)
            let positive = !phantom.presentSubtypes.isEmpty
            let alerted = a.record.tier == .critical || a.record.tier == .suspect
            if alerted == positive { correct += 1; if n < 8 { correctFirst8 += 1 } }
            // CAM peak against the bleed mask, for key slices whose slice has a bleed. The generated slice
            // is found by position (not by index: the intake's order need not be the generator's).
            let generated = phantom.output.slices
            for key in a.keyImages {
                guard let slice = series.slices.first(where: { $0.sopInstanceUID == key.keySlice.sopInstanceUID }),
                      let k = CAMScore.generatedIndex(of: slice, in: generated)
                else { continue }
                let mask = generated[k].mask, tissue = phantom.slices[k].tissue
                guard mask.contains(where: { $0 != 0 }) else { continue }
                let m = phantom.phantomCase.geometry.matrix
                let score = CAMScore(mask: mask, tissue: tissue, matrix: m, peak: key.camPeak, grid: key.camGrid)
                cam.append(score)
                if n < 8 { camFirst8.append(score) }
            }
            lines.append("\(c.name): tier \(a.record.tier.rawValue), any \(String(format: "%.3f", a.record.probabilities[.any] ?? -1)) (present: \(phantom.presentSubtypes.map(\.rawValue)))")
        }
        print("generated series with \(model.path):\n" + lines.joined(separator: "\n"))
        let strict = cam.filter(\.peakNearMask).count, inCell = cam.filter(\.peakCellOnMask).count
        let chance = cam.isEmpty ? 0 : cam.map(\.chance).reduce(0, +) / Double(cam.count)
        print("tiers as expected: \(correct)/\(cases.count); key slices with a bleed: \(cam.count); CAM peak within 3 px of the mask: \(strict); "
            + "CAM peak cell (\(cam.first.map { "\($0.grid.rows)x\($0.grid.columns)" } ?? "-") grid) on the mask: \(inCell) (a random cell inside the head would be: \(String(format: "%.0f %%", 100 * chance)))")
        print("the first 8 cases alone (the check before 2026-11-30 20:20 UTC): tiers \(correctFirst8)/8, CAM peak cell on the mask "
            + "\(camFirst8.filter(\.peakCellOnMask).count) of \(camFirst8.count)")
        // three in four cases (6 of 8 before the check grew to 20 cases)
        XCTAssertGreaterThanOrEqual(4 * correct, 3 * cases.count, lines.joined(separator: "\n"))
        if !cam.isEmpty { XCTAssertGreaterThan(Double(inCell) / Double(cam.count), 0.5) }
    }
}

/// Where one key slice's CAM peak lies against the generator's bleed mask.
struct CAMScore {
    /// The peak (in source pixels) within 3 pixels of a bleed pixel.
    var peakNearMask: Bool
    /// The CAM cell holding the peak overlaps the bleed: the finest claim a CAM at this grid can make.
    var peakCellOnMask: Bool
    /// Share of the grid's cells inside the head that overlap the bleed: what a peak placed at random would score.
    var chance: Double
    var grid: (rows: Int, columns: Int)

    init(mask: [UInt8], tissue: [UInt8], matrix m: Int, peak: (row: Double, column: Double), grid: (rows: Int, columns: Int)) {
        self.grid = grid
        let r = Int(peak.row.rounded()), c = Int(peak.column.rounded())
        peakNearMask = Self.isNear(peak, mask: mask, matrix: m, within: 3)
        let cellH = m / grid.rows, cellW = m / grid.columns
        func cell(_ i: Int, _ j: Int) -> (bleed: Bool, head: Bool) {
            var bleed = false, head = false
            for y in (i * cellH)..<((i + 1) * cellH) {
                for x in (j * cellW)..<((j + 1) * cellW) {
                    if mask[y * m + x] != 0 { bleed = true }
                    let t = tissue[y * m + x]
                    if t != Tissue.air.rawValue && t != Tissue.outsideFieldOfView.rawValue { head = true }
                }
            }
            return (bleed, head)
        }
        let cells = (0..<grid.rows).flatMap { i in (0..<grid.columns).map { j in cell(i, j) } }
        peakCellOnMask = cells[min(grid.rows - 1, max(0, r) / cellH) * grid.columns + min(grid.columns - 1, max(0, c) / cellW)].bleed
        let inHead = cells.filter(\.head)
        chance = inHead.isEmpty ? 0 : Double(inHead.filter(\.bleed).count) / Double(inHead.count)
    }

    /// The generated slice a series slice came from, found by position along z (the intake's order
    /// need not be the generator's).
    static func generatedIndex(of slice: CTSlice, in generated: [GeneratedSlice]) -> Int? {
        generated.indices.min { abs(generated[$0].position[2] - slice.imagePosition[2]) < abs(generated[$1].position[2] - slice.imagePosition[2]) }
    }

    /// A bleed pixel lies within `radius` pixels (square neighbourhood) of the peak.
    static func isNear(_ peak: (row: Double, column: Double), mask: [UInt8], matrix m: Int, within radius: Int) -> Bool {
        let r = Int(peak.row.rounded()), c = Int(peak.column.rounded())
        for y in max(0, r - radius)...min(m - 1, r + radius) {
            for x in max(0, c - radius)...min(m - 1, c + radius) where mask[y * m + x] != 0 { return true }
        }
        return false
    }
}
