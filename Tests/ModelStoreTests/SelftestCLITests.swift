import Foundation
import XCTest
@testable import ModelStore

/// `ichtriage selftest` through the real executable: kernels, the active model verified again,
/// its vectors, the reference series; exit status and JSON fields as docs/cli.md says.
final class SelftestCLITests: XCTestCase {
    static let defaultModel = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Models/default")

    private func checks(_ r: CommandResult) -> [String: [String: Any]] {
        let list = ((r.json?["result"] as? [String: Any])?["checks"] as? [[String: Any]]) ?? []
        return Dictionary(list.map { ($0["name"] as? String ?? "?", $0) }, uniquingKeysWith: { a, _ in a })
    }

    func testKernelsOnlyAndAnEmptyStore() throws {
        let ws = Workspace("selftest-empty")
        let kernels = try runCLI(["selftest", "--kernels-only", "--json"])
        XCTAssertEqual(kernels.status, 0, kernels.stdout + kernels.stderr)
        XCTAssertEqual(kernels.json?["ok"] as? Bool, true)
        XCTAssertEqual(kernels.json?["command"] as? String, "selftest")
        XCTAssertEqual(Array(checks(kernels).keys), ["kernels"])
        let k = try XCTUnwrap((kernels.json?["result"] as? [String: Any])?["kernels"] as? [String: Any])
        let variants = try XCTUnwrap(k["variants"] as? [[String: Any]])
        XCTAssertEqual(variants.map { $0["name"] as? String }, ["scalar", "avx2", "avx512vnni", "neon", "neondot"])
        XCTAssertEqual(variants.first?["supported"] as? Bool, true)
        for v in variants where v["supported"] as? Bool == true && v["name"] as? String != "scalar" {
            XCTAssertEqual(v["passed"] as? Bool, true, "\(v)")
            XCTAssertGreaterThan(v["cases"] as? Int ?? 0, 0)
        }
        print("SELFTEST kernels: active \(k["active"] ?? "?"); " + variants.map { "\($0["name"] ?? "?"): \($0["detail"] ?? "")" }.joined(separator: "; "))

        // No model installed: exit 1, the reason in the JSON and on stdout.
        let empty = try runCLI(["selftest", "--store", ws.url("store").path, "--keys", ws.folder("keys").path, "--json"])
        XCTAssertEqual(empty.status, 1, empty.stdout + empty.stderr)
        XCTAssertEqual(empty.json?["ok"] as? Bool, false)
        XCTAssertEqual((empty.json?["error"] as? [String: Any])?["code"] as? String, "selftestFailed")
        XCTAssertEqual(checks(empty)["kernels"]?["passed"] as? Bool, true)
        XCTAssertEqual(checks(empty)["model-verify"]?["passed"] as? Bool, false)
        XCTAssertTrue((checks(empty)["model-verify"]?["detail"] as? String ?? "").contains("noActiveModel"))
        let text = try runCLI(["selftest", "--store", ws.url("store").path, "--keys", ws.url("keys").path])
        XCTAssertEqual(text.status, 1)
        XCTAssertTrue(text.stdout.contains("FAIL model-verify"), text.stdout)

        // The folders come from the service configuration when no option names them.
        let config = ws.url("ichtriaged.json")
        try Data("{\"stateDirectory\": \"\(ws.url("state").path)\", \"modelKeysDirectory\": \"\(ws.url("keys").path)\"}".utf8).write(to: config)
        let configured = try runCLI(["selftest", "--config", config.path, "--json"])
        XCTAssertEqual(configured.status, 1)
        XCTAssertEqual((configured.json?["result"] as? [String: Any])?["store"] as? String, ws.url("state/models").path)
        XCTAssertEqual((configured.json?["result"] as? [String: Any])?["keys"] as? String, ws.url("keys").path)

        let usage = try runCLI(["selftest", "--threads", "0"])
        XCTAssertEqual(usage.status, 64, usage.stderr)
        let missingConfig = try runCLI(["selftest", "--config", ws.url("absent.json").path])
        XCTAssertEqual(missingConfig.status, 64, missingConfig.stderr)
    }

    /// The shipped default model, packed, signed with a throwaway key and installed by the CLI
    /// with the reference series check: selftest passes; one flipped bit in the installed model
    /// and it fails, naming the file.
    func testShippedModelInstalledPassesAndATamperedSlotFails() throws {
        guard FileManager.default.fileExists(atPath: Self.defaultModel.appendingPathComponent("model.onnx").path) else {
            throw XCTSkip("Models/default/model.onnx is not in this checkout")
        }
        let ws = Workspace("selftest-model")
        let keyFile = ws.url("private/release.key")
        try FileManager.default.createDirectory(at: keyFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        let keygen = try runCLI(["model", "keygen", "--out", keyFile.path, "--name", "selftest", "--json"])
        XCTAssertEqual(keygen.status, 0, keygen.stderr)
        let keys = ws.folder("keys")
        try FileManager.default.copyItem(atPath: keyFile.path + ".pub", toPath: keys.appendingPathComponent("selftest.pub").path)
        let bundle = ws.url("stick/ichtriage-default.ichmodel")
        try FileManager.default.createDirectory(at: bundle.deletingLastPathComponent(), withIntermediateDirectories: true)
        XCTAssertEqual(try runCLI(["model", "pack", Self.defaultModel.path, "--out", bundle.path]).status, 0)
        XCTAssertEqual(try runCLI(["model", "sign", "--key", keyFile.path, bundle.path]).status, 0)

        let state = ws.folder("state")
        let store = state.appendingPathComponent("models")
        let install = try runCLI(["model", "install", "--store", store.path, "--keys", keys.path, bundle.path, "--json"])
        XCTAssertEqual(install.status, 0, install.stdout + install.stderr)
        let ir = try XCTUnwrap(install.json?["result"] as? [String: Any])
        XCTAssertEqual(ir["referenceSeries"] as? String, "pipeline")
        let reference = try XCTUnwrap((ir["receipt"] as? [String: Any])?["referenceCheck"] as? [String: Any])
        XCTAssertEqual(reference["passed"] as? Bool, true, "\(reference)")
        print("SELFTEST install reference check: \(reference["detail"] ?? "")")

        // --state-dir finds the store as <state>/models.
        let ok = try runCLI(["selftest", "--state-dir", state.path, "--keys", keys.path, "--json"])
        XCTAssertEqual(ok.status, 0, ok.stdout + ok.stderr)
        XCTAssertEqual(ok.json?["ok"] as? Bool, true)
        XCTAssertEqual(Set(checks(ok).keys), ["kernels", "model-verify", "model-self-test", "reference-series"])
        for (name, c) in checks(ok) { XCTAssertEqual(c["passed"] as? Bool, true, "\(name): \(c["detail"] ?? "")") }
        let result = try XCTUnwrap(ok.json?["result"] as? [String: Any])
        XCTAssertEqual((result["model"] as? [String: Any])?["modelName"] as? String, "ichtriage-default")
        XCTAssertEqual(result["store"] as? String, store.path)
        XCTAssertEqual(result["passed"] as? Bool, true)
        for (name, c) in checks(ok).sorted(by: { $0.key < $1.key }) { print("SELFTEST \(name): \(c["detail"] ?? "")") }

        // One bit flipped in the installed model: the signature still verifies, the hash does not.
        let slot = try XCTUnwrap((result["model"] as? [String: Any])?["slot"] as? String)
        let model = store.appendingPathComponent("slots/\(slot)/model.onnx")
        try flipBit(model, at: 100_000)
        let tampered = try runCLI(["selftest", "--store", store.path, "--keys", keys.path, "--json"])
        XCTAssertEqual(tampered.status, 1, tampered.stdout)
        let verify = checks(tampered)["model-verify"]
        XCTAssertEqual(verify?["passed"] as? Bool, false)
        XCTAssertTrue((verify?["detail"] as? String ?? "").contains("model.onnx"), "\(verify ?? [:])")
        XCTAssertNil(checks(tampered)["reference-series"], "an unverified model must not be run")
    }
}
