import Foundation
import XCTest
@testable import ModelStore

/// The test fixture is a real ONNX model: the ONNX checker accepts it and ONNX Runtime
/// reproduces its self-test vectors, so the same bundles can exercise the real engine later.
final class FixtureTests: XCTestCase {
    func testFixtureModelRunsInONNXRuntimeAndMatchesItsVectors() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let venv = ProcessInfo.processInfo.environment["ICHTRIAGE_VENV"].map { URL(fileURLWithPath: $0) }
            ?? root.appendingPathComponent(".venv-tools")
        let python = venv.appendingPathComponent("bin/python")
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw XCTSkip("no Python venv with onnxruntime at \(venv.path) (make pyenv creates it)")
        }
        let ws = Workspace("onnx")
        let src = BundleFactory(workspace: ws).source(version: "1.0.0", paddingBytes: 4096)
        let script = """
        import json, sys, numpy as np, onnx, onnxruntime as ort
        d = sys.argv[1]
        m = onnx.load(d + "/model.onnx"); onnx.checker.check_model(m, full_check=True)
        s = ort.InferenceSession(d + "/model.onnx", providers=["CPUExecutionProvider"])
        v = json.load(open(d + "/selftest/vectors.json"))
        worst = 0.0
        for c in v["cases"]:
            feeds = {t["name"]: np.fromfile(d + "/" + t["file"], dtype="<f4").reshape(t["shape"]) for t in c["inputs"]}
            outs = dict(zip([o.name for o in s.get_outputs()], s.run(None, feeds)))
            for t in c["expected"]:
                exp = np.fromfile(d + "/" + t["file"], dtype="<f4").reshape(t["shape"])
                worst = max(worst, float(np.max(np.abs(outs[t["name"]] - exp))))
        print(json.dumps({"cases": len(v["cases"]), "maxAbsError": worst, "tolerance": v["tolerance"]}))
        """
        let run = try runProcess(python, ["-c", script, src.path])
        XCTAssertEqual(run.status, 0, run.stderr)
        let r = try XCTUnwrap(run.json)
        let worst = try XCTUnwrap(r["maxAbsError"] as? Double)
        print("FIXTURE: ONNX Runtime reproduces the fixture's \(r["cases"] ?? 0) self-test cases, max |error| \(worst)")
        XCTAssertLessThanOrEqual(worst, try XCTUnwrap(r["tolerance"] as? Double))
    }
}
