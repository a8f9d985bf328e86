import DICOMIntake
import Foundation
import Phantom
@testable import Triage
import XCTest

/// The trained detector on generated series: each subtype, negatives with mimics. Tiers and the
/// Grad-CAM peak against the generator's bleed mask. Needs Models/default (else skipped).
final class GeneratedSeriesTests: XCTestCase {
    typealias S = TriageTestSupport

    /// A check of the model's quality more than of the pipeline, and slow in a debug build
    /// (about 6 minutes here), so it is opt-in: `make model-check`. The shipped model does not pass
    /// it yet (last run, model 0.2.0, 2026-11-30: tiers as expected on 5/8 series (every negative
    /// alerts), CAM peak inside the mask on 0 of 14 key slices with a bleed); README "Not done yet".
    func testTrainedModelOnGeneratedSeries() throws {
        guard ProcessInfo.processInfo.environment["ICHTRIAGE_MODEL_CHECK"] == "1" else {
            throw XCTSkip("model quality check is opt-in (make model-check): slow in debug builds, and the shipped model does not pass it yet")
        }
        let model = try S.trainedModel()
        let pipeline = TriagePipeline(modelFolder: model)
        XCTAssertNil(pipeline.bundleProblem)
        let root = try S.tempDir("generated")
        var cases: [(name: String, subtypes: [Subtype], mimics: Bool)] = Subtype.allCases.map { ($0.rawValue, [$0], false) }
        cases += [("negative", [], false), ("negative-mimics", [], true), ("negative-mimics-2", [], true)]
        var correct = 0, camInside = 0, camChecked = 0
        var lines: [String] = []
        for (n, c) in cases.enumerated() {
            var config = PhantomConfig(seed: 91_000 + UInt64(n))
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
            if alerted == positive { correct += 1 }
            // CAM peak inside the bleed mask (within 3 px of it), for key slices whose slice has a bleed.
            let byPosition = Dictionary(uniqueKeysWithValues: zip(series.slices.map(\.sopInstanceUID), series.slices.indices))
            for key in a.keyImages {
                guard let i = byPosition[key.keySlice.sopInstanceUID] else { continue }
                // The generator's slice k is the k-th along z; the intake orders by position too.
                let mask = phantom.slices[i].mask
                guard mask.contains(where: { $0 != 0 }) else { continue }
                camChecked += 1
                let m = phantom.phantomCase.geometry.matrix
                let r = Int(key.camPeak.row.rounded()), col = Int(key.camPeak.column.rounded())
                var hit = false
                for y in max(0, r - 3)...min(m - 1, r + 3) { for x in max(0, col - 3)...min(m - 1, col + 3) where mask[y * m + x] != 0 { hit = true } }
                if hit { camInside += 1 }
            }
            lines.append("\(c.name): tier \(a.record.tier.rawValue), any \(String(format: "%.3f", a.record.probabilities[.any] ?? -1)) (present: \(phantom.presentSubtypes.map(\.rawValue)))")
        }
        print("generated series with \(model.path):\n" + lines.joined(separator: "\n"))
        print("tiers as expected: \(correct)/\(cases.count); CAM peak inside the bleed mask: \(camInside)/\(camChecked) key slices with a bleed")
        XCTAssertGreaterThanOrEqual(correct, cases.count - 2, lines.joined(separator: "\n"))
        if camChecked > 0 { XCTAssertGreaterThan(Double(camInside) / Double(camChecked), 0.5) }
    }
}
