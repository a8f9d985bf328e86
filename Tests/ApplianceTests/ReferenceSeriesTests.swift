import Foundation
import Indicators
import ModelStore
import XCTest
@testable import Appliance

/// The reference series kept on the appliance and the store's check that runs a new model on
/// them through the triage pipeline.
final class ReferenceSeriesTests: XCTestCase {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let defaultModel = packageRoot.appendingPathComponent("Models/default")

    private var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ichtriage-reference-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: root)
    }

    /// Made once, with a known bleed in the positive and none in the negative; found damaged by
    /// hash and made again; kept (not remade) when intact.
    func testReferenceSeriesAreMadeOnceVerifiedAndRemadeWhenDamaged() throws {
        let reference = ReferenceSeries.inStore(root.appendingPathComponent("models"))
        let first = try reference.load()
        XCTAssertEqual(first.map(\.member.name), ["positive", "negative"])
        for item in first { XCTAssertEqual(item.series.slices.count, ReferenceSeries.slices, item.member.name) }
        XCTAssertGreaterThan(first[0].bleedSlices, 0, "the positive reference series must hold its bleed")
        XCTAssertEqual(first[1].bleedSlices, 0)
        let index = reference.directory.appendingPathComponent("reference.json")
        let written = try FileManager.default.attributesOfItem(atPath: index.path)[.modificationDate] as? Date

        // Intact: used as it is.
        Thread.sleep(forTimeInterval: 0.05)
        _ = try reference.load()
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: index.path)[.modificationDate] as? Date, written)

        // One byte changed in a slice: no longer verifies, and the next load makes the set again.
        let slice = URL(fileURLWithPath: first[0].series.slices[5].path)
        var bytes = try Data(contentsOf: slice)
        bytes[bytes.count / 2] ^= 0x40
        try bytes.write(to: slice)
        XCTAssertNil(try? reference.verifiedIndex(), "a damaged reference slice must be noticed")
        let remade = try reference.load()
        XCTAssertNotNil(try reference.verifiedIndex())
        XCTAssertEqual(remade.map(\.bleedSlices), first.map(\.bleedSlices))
        print("REFERENCE SERIES: \(first.map { "\($0.member.name) \($0.series.slices.count) slices, \($0.bleedSlices) with the bleed" }.joined(separator: "; ")); damaged slice noticed and the set made again")
    }

    /// A signed bundle whose model runs its own vectors in the engine but that the triage
    /// pipeline cannot use (thresholds for one label only) is refused by the reference-series
    /// check; the model that was serving keeps serving.
    func testStoreRefusesABundleThePipelineCannotUseAndKeepsTheServingModel() throws {
        guard FileManager.default.fileExists(atPath: Self.defaultModel.appendingPathComponent("model.onnx").path) else {
            throw XCTSkip("Models/default/model.onnx is not in this checkout")
        }
        let key = ModelSigningKey(name: "reference-test")
        let keys = root.appendingPathComponent("keys")
        try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
        let publicKey = try key.write(privateKeyTo: root.appendingPathComponent("reference-test.key"))
        try FileManager.default.moveItem(at: publicKey, to: keys.appendingPathComponent("reference-test.pub"))
        func bundle(_ name: String, edit: ((inout [String: Any]) -> Void)? = nil) throws -> URL {
            let out = root.appendingPathComponent(name)
            try BundlePacker.pack(source: Self.defaultModel, output: out)
            if let edit {
                let manifestURL = out.appendingPathComponent("manifest.json")
                var manifest = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as? [String: Any])
                edit(&manifest)
                try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys]).write(to: manifestURL)
            }
            try BundlePacker.sign(bundle: out, with: key)
            return out
        }
        var configuration = ModelStoreConfiguration(storeDirectory: root.appendingPathComponent("models"), keysDirectory: keys)
        configuration.probationAnalyses = 0
        let store = ModelStore(configuration: configuration, selfTester: EngineSelfTester(),
                               referenceCheck: ReferenceSeriesChecker(reference: .inStore(configuration.storeDirectory)))

        // Serving: the default model, installed without the reference check (that one is the CLI test's).
        let plain = ModelStore(configuration: configuration, selfTester: EngineSelfTester())
        let first = plain.install(bundleAt: try bundle("good"))
        XCTAssertNil(first.error, "\(first.error.map { "\($0)" } ?? "")")
        let serving = try store.openActive().manifestSHA256

        let broken = try bundle("one-threshold") {
            $0["modelVersion"] = "99.0.0"  // newer than whatever Models/default is, so only the reference check can refuse it
            $0["thresholds"] = ["any": 0.5]
        }
        let result = store.install(bundleAt: broken)
        XCTAssertEqual(result.error?.code, .referenceCheckFailed, "\(result.error.map { "\($0)" } ?? "ACCEPTED")")
        XCTAssertEqual(result.receipt.selfTest?.passed, true, "its own vectors must pass, or the test proves nothing")
        XCTAssertEqual(result.receipt.referenceCheck?.passed, false)
        XCTAssertTrue(result.receipt.reason?.contains("does not load in the triage pipeline") ?? false, result.receipt.reason ?? "")
        XCTAssertEqual(try store.openActive().manifestSHA256, serving)
        XCTAssertEqual(result.receipt.activeModel?.manifestSHA256, serving)
        print("REFERENCE CHECK refused: \(result.receipt.reason ?? "")")
    }

    /// The status screen's view of receipts.
    func testReceiptBecomesTheScreensModelUpdateNotice() throws {
        let decoder = JSONDecoder()
        let rejected = try decoder.decode(Receipt.self, from: Data("""
            {"receiptFormat": 1, "action": "install", "time": "2026-11-29T14:02:10.123Z", "source": "x.ichmodel",
             "bundle": {"modelName": "ich-det", "modelVersion": "1.2.0", "manifestSHA256": "ab"},
             "result": "rejected", "reasonCode": "referenceCheckFailed", "reason": "reference series check failed: flat",
             "activeModel": {"modelName": "ich-det", "modelVersion": "1.0.0", "manifestSHA256": "cd", "slot": "a"},
             "applianceVersion": "0.1.0"}
            """.utf8))
        let notice = try XCTUnwrap(ModelUpdateNotice(rejected))
        XCTAssertEqual(notice.outcome, .rejected)
        XCTAssertEqual(notice.subject, "ich-det 1.2.0")
        XCTAssertEqual(notice.activeModel, "ich-det 1.0.0")
        XCTAssertEqual(notice.reason, "reference series check failed: flat")
        XCTAssertEqual(notice.time.timeIntervalSince1970, 1_795_960_930.123, accuracy: 0.001)

        var faulted = rejected
        faulted.action = "automatic-rollback"
        faulted.result = "failed"
        faulted.activeModel = nil
        faulted.time = "2026-11-29T14:02:10Z"
        let fault = try XCTUnwrap(ModelUpdateNotice(faulted))
        XCTAssertEqual(fault.outcome, .failed)
        XCTAssertNil(fault.activeModel)
        faulted.time = "yesterday"
        XCTAssertNil(ModelUpdateNotice(faulted))
    }
}
