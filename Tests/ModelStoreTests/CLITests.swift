import Foundation
import XCTest
@testable import ModelStore

/// The engineer's workflow through the real executable: keygen, pack, sign, verify, install,
/// list, rollback, each with --json.
final class CLITests: XCTestCase {
    func testEngineerWorkflowWithJSON() throws {
        let ws = Workspace("cli")
        let f = BundleFactory(workspace: ws)
        let keyFile = ws.url("private/release.key")
        try FileManager.default.createDirectory(at: keyFile.deletingLastPathComponent(), withIntermediateDirectories: true)

        let keygen = try runCLI(["model", "keygen", "--out", keyFile.path, "--name", "release-test", "--json"])
        XCTAssertEqual(keygen.status, 0, keygen.stderr + keygen.stdout)
        let kj = try XCTUnwrap(keygen.json?["result"] as? [String: Any])
        let keyId = try XCTUnwrap(kj["keyId"] as? String)
        XCTAssertEqual(keyId.count, 16)
        let keysDir = ws.folder("etc-keys")
        try FileManager.default.copyItem(atPath: try XCTUnwrap(kj["publicKey"] as? String),
                                         toPath: keysDir.appendingPathComponent("release-test.pub").path)

        // Private keys never inside a repository work tree.
        let repo = ws.folder("repo")
        try FileManager.default.createDirectory(at: repo.appendingPathComponent(".git"), withIntermediateDirectories: true)
        let inRepo = try runCLI(["model", "keygen", "--out", repo.appendingPathComponent("k.key").path, "--json"])
        XCTAssertEqual(inRepo.status, 1)
        XCTAssertEqual((inRepo.json?["error"] as? [String: Any])?["code"] as? String, "usage")
        XCTAssertFalse(FileManager.default.fileExists(atPath: repo.appendingPathComponent("k.key").path))

        let src = f.source(version: "3.1.0")
        let bundle = ws.url("stick/ich-detector-3.1.0.ichmodel")
        try FileManager.default.createDirectory(at: bundle.deletingLastPathComponent(), withIntermediateDirectories: true)
        let pack = try runCLI(["model", "pack", src.path, "--out", bundle.path, "--json"])
        XCTAssertEqual(pack.status, 0, pack.stderr)
        XCTAssertEqual((pack.json?["result"] as? [String: Any])?["signed"] as? Bool, false)

        let unsigned = try runCLI(["model", "verify", "--keys", keysDir.path, bundle.path, "--json"])
        XCTAssertEqual(unsigned.status, 1)
        XCTAssertEqual(unsigned.json?["ok"] as? Bool, false)
        XCTAssertEqual((unsigned.json?["error"] as? [String: Any])?["code"] as? String, "badSignature")

        let sign = try runCLI(["model", "sign", "--key", keyFile.path, bundle.path, "--json"])
        XCTAssertEqual(sign.status, 0, sign.stderr)
        XCTAssertEqual((sign.json?["result"] as? [String: Any])?["keyId"] as? String, keyId)

        let verify = try runCLI(["model", "verify", "--keys", keysDir.path, bundle.path, "--json"])
        XCTAssertEqual(verify.status, 0, verify.stderr)
        let vr = try XCTUnwrap(verify.json?["result"] as? [String: Any])
        XCTAssertEqual((vr["model"] as? [String: Any])?["modelVersion"] as? String, "3.1.0")
        XCTAssertEqual(vr["signerKeyId"] as? String, keyId)

        let store = ws.url("store")
        // The fixture runs its own vectors in the engine but is no detector: the reference series
        // kept in the store (through the triage pipeline) refuses it.
        let refused = try runCLI(["model", "install", "--store", store.path, "--keys", keysDir.path, bundle.path, "--json"])
        XCTAssertEqual(refused.status, 1, refused.stderr + refused.stdout)
        let rr = try XCTUnwrap((refused.json?["result"] as? [String: Any])?["receipt"] as? [String: Any])
        XCTAssertEqual(rr["result"] as? String, "rejected")
        XCTAssertEqual(rr["reasonCode"] as? String, "referenceCheckFailed")
        XCTAssertEqual((rr["selfTest"] as? [String: Any])?["passed"] as? Bool, true)
        XCTAssertEqual((rr["referenceCheck"] as? [String: Any])?["passed"] as? Bool, false)

        let install = try runCLI(["model", "install", "--store", store.path, "--keys", keysDir.path, "--skip-reference-series",
                                  bundle.path, "--json"])
        XCTAssertEqual(install.status, 0, install.stderr + install.stdout)
        let ir = try XCTUnwrap(install.json?["result"] as? [String: Any])
        let receipt = try XCTUnwrap(ir["receipt"] as? [String: Any])
        XCTAssertEqual(receipt["result"] as? String, "installed")
        XCTAssertEqual(ir["selfTester"] as? String, "engine")
        XCTAssertEqual(ir["referenceSeries"] as? String, "skipped")
        XCTAssertNil(receipt["referenceCheck"])
        XCTAssertTrue(((receipt["selfTest"] as? [String: Any])?["detail"] as? String ?? "").contains("engine ran"))
        let stickReceipt = try XCTUnwrap(ir["stickReceipt"] as? String)
        XCTAssertTrue(stickReceipt.hasPrefix(bundle.deletingLastPathComponent().path))

        let list = try runCLI(["model", "list", "--store", store.path, "--keys", keysDir.path, "--json"])
        XCTAssertEqual(list.status, 0)
        let status = try XCTUnwrap(list.json?["result"] as? [String: Any])
        XCTAssertEqual((status["activeModel"] as? [String: Any])?["modelVersion"] as? String, "3.1.0")
        XCTAssertEqual((status["slots"] as? [[String: Any]])?.count, 2)

        let noPrev = try runCLI(["model", "rollback", "--store", store.path, "--keys", keysDir.path, "--json"])
        XCTAssertEqual(noPrev.status, 1)
        XCTAssertEqual((noPrev.json?["error"] as? [String: Any])?["code"] as? String, "noPreviousModel")

        // A bad bundle on the CLI: exit 1, JSON error, receipt says rejected.
        try flipBit(bundle, at: 600)
        let bad = try runCLI(["model", "install", "--store", store.path, "--keys", keysDir.path, bundle.path, "--json"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(((bad.json?["result"] as? [String: Any])?["receipt"] as? [String: Any])?["result"] as? String, "rejected")
        let text = try runCLI(["model", "list", "--store", store.path, "--keys", keysDir.path])
        XCTAssertTrue(text.stdout.contains("active: ich-detector 3.1.0"), text.stdout)
    }
}
