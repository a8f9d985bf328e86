import Foundation
import XCTest
@testable import ModelStore

/// `model pack` takes the folder the training toolkit writes (Training/ichtrain/bundle.py:
/// unsigned manifest format 0, .npy self-test vectors) and makes a signed-ready bundle of it.
final class TrainingImportTests: XCTestCase {
    /// A folder laid out exactly as bundle.write_selftest + bundle.write_manifest leave it.
    func trainingFolder(_ ws: Workspace, corruptAfterHashing: Bool = false) throws -> URL {
        let dir = ws.folder("Models/default")
        let fixture = ONNXFixture(seed: 7)
        let input = fixture.input(slices: 2, seed: 5)
        try fixture.modelBytes().write(to: dir.appendingPathComponent("model.onnx"))
        try npy(input, shape: [2, 3, fixture.sliceSize, fixture.sliceSize]).write(to: dir.appendingPathComponent("selftest_input.npy"))
        try npy(fixture.forward(input, slices: 2), shape: [2, 6]).write(to: dir.appendingPathComponent("selftest_probs.npy"))
        try npy([Float](repeating: 0.5, count: 12), shape: [2, 6]).write(to: dir.appendingPathComponent("selftest_slice_logits.npy"))
        try Data("# Evaluation\n".utf8).write(to: dir.appendingPathComponent("EVALUATION.md"))
        try Data("{}".utf8).write(to: dir.appendingPathComponent("evaluation.json"))
        var hashes: [String: String] = [:]
        for f in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
            hashes[f] = try DurableFiles.sha256(of: dir.appendingPathComponent(f)).hex
        }
        let manifest: [String: Any] = [
            "format": "ichtriage-model-bundle/0 (unsigned)", "signature": NSNull(), "name": "ichtriage-default",
            "version": "0.1.0", "created": "2026-11-30T00:12:00+00:00", "model": "model.onnx",
            "input": ["name": "slices", "dtype": "float32", "shape": ["S", 3, fixture.sliceSize, fixture.sliceSize],
                      "windows": [["channel": 0, "center": 40.0, "width": 80.0], ["channel": 1, "center": 80.0, "width": 200.0],
                                  ["channel": 2, "center": 40.0, "width": 380.0]]],
            "thresholds": ["any": 0.12, "epidural": 0.3, "intraparenchymal": 0.2, "intraventricular": 0.2, "subarachnoid": 0.25, "subdural": 0.2],
            "calibration_id": "calib-abc123",
            "selftest": ["input": "selftest_input.npy", "probs": "selftest_probs.npy", "slice_logits": "selftest_slice_logits.npy",
                         "tolerance_abs": ["probs": 0.02]],
            "files": hashes,
        ]
        try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted]).write(to: dir.appendingPathComponent("manifest.json"))
        if corruptAfterHashing { try flipBit(dir.appendingPathComponent("model.onnx"), at: 30) }
        return dir
    }

    func npy(_ values: [Float], shape: [Int]) -> Data {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", ")),), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var d = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        d.append(Data(header.utf8))
        d.append(floatBytes(values))
        return d
    }

    func testTrainingOutputPacksSignsAndInstalls() throws {
        let env = StoreTestEnvironment("import")
        let source = try trainingFolder(env.ws)
        let bundle = env.ws.url("ichtriage-default-0.1.0.ichmodel")
        let m = try BundlePacker.pack(source: source, output: bundle)
        XCTAssertEqual(m.modelName, "ichtriage-default")
        XCTAssertEqual(m.calibrationId, "calib-abc123")
        XCTAssertEqual(m.createdAt, "2026-11-30T00:12:00Z")
        XCTAssertEqual(m.input.windows.map(\.name), ["brain", "subdural", "soft-tissue"])
        XCTAssertEqual(m.thresholds["any"], 0.12)
        XCTAssertEqual(Set(m.files.map(\.path)), ["model.onnx", "EVALUATION.md", "evaluation.json", "RELEASE-NOTES.md",
                                                 "selftest/vectors.json", "selftest/slices.f32", "selftest/probs.f32"])
        try BundlePacker.sign(bundle: bundle, with: env.keys.trustedOld)
        let result = env.store.install(bundleAt: bundle)
        XCTAssertNil(result.error, "\(result.error.map { "\($0)" } ?? "")")
        let active = try env.store.openActive()
        XCTAssertEqual(active.vectors.cases.first?.expected.map(\.name), ["probs"])
        XCTAssertEqual(active.vectors.tolerance(for: active.vectors.cases[0].expected[0]), 0.02)
    }

    func testDamagedTrainingOutputIsNotPacked() throws {
        let ws = Workspace("import-bad")
        let source = try trainingFolder(ws, corruptAfterHashing: true)
        XCTAssertThrowsError(try BundlePacker.pack(source: source, output: ws.url("x.ichmodel"))) {
            XCTAssertEqual(($0 as? ModelStoreError)?.code, .hashMismatch)
        }
    }
}
