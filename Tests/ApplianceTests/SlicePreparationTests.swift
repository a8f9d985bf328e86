@testable import Appliance
import DICOMIntake
import Foundation
import Triage
import XCTest

/// Incremental inference in the service: slices offered as they arrive are prepared in the
/// background and handed to the analysis of their series, for the model that prepared them only.
final class SlicePreparationTests: XCTestCase {
    private var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    private var sharedData: URL {
        if let path = ProcessInfo.processInfo.environment["ICHTRIAGE_SHARED_DATA"] { return URL(fileURLWithPath: path) }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/real-head-ct")
    }

    func testPreparedSlicesReachTheAnalysisOfTheirSeriesForTheSameModelOnly() throws {
        let modelFolder = packageRoot.appendingPathComponent("Models/default")
        guard FileManager.default.fileExists(atPath: modelFolder.appendingPathComponent("model.onnx").path) else {
            throw XCTSkip("no model bundle at \(modelFolder.path)")
        }
        let exam = sharedData.appendingPathComponent("ge-hispeed-human")
        guard FileManager.default.fileExists(atPath: exam.path) else { throw XCTSkip("no test data at \(exam.path)") }
        var series = try XCTUnwrap(DICOMIntake.scan(folder: exam.path).series.first)
        series.slices = Array(series.slices.prefix(12))  // the trained model is slow in a debug build
        series.spacings = Array(series.spacings.prefix(11))
        let pipeline = TriagePipeline(modelFolder: modelFolder)
        XCTAssertNil(pipeline.bundleProblem)

        let preparation = SlicePreparation(capacity: 10)
        for slice in series.slices { preparation.offer(slice, pipeline: pipeline, model: "model-a") }
        var thin = series.slices[0]
        thin.sopInstanceUID += ".9"
        thin.sliceThickness = 0.625
        preparation.offer(thin, pipeline: pipeline, model: "model-a")
        let deadline = Date().addingTimeInterval(300)
        while preparation.count < 10 && Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        Thread.sleep(forTimeInterval: 2)  // the queue drains; capacity keeps 10 of the 12
        XCTAssertEqual(preparation.count, 10, "capacity bounds what is kept; the thin slice is never prepared")

        XCTAssertTrue(preparation.take(for: series, model: "model-b").isEmpty, "prepared with another model: not used")
        XCTAssertEqual(preparation.count, 0, "taken slices are forgotten either way")

        for slice in series.slices { preparation.offer(slice, pipeline: pipeline, model: "model-a") }
        while preparation.count < 10 && Date() < deadline { Thread.sleep(forTimeInterval: 0.2) }
        Thread.sleep(forTimeInterval: 2)
        let prepared = preparation.take(for: series, model: "model-a")
        XCTAssertEqual(prepared.count, 10)
        let incremental = pipeline.analyze(series, prepared: prepared)
        let whole = pipeline.analyze(series)
        XCTAssertNotEqual(whole.record.tier, .notAnalysable, whole.record.reason ?? "")
        XCTAssertEqual(incremental.record.probabilities, whole.record.probabilities)
    }
}
