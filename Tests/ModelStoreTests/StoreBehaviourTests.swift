import Foundation
import XCTest
@testable import ModelStore

final class StoreBehaviourTests: XCTestCase {
    func testFreshStoreIsInFaultStateAndNeverReturnsAModel() throws {
        let ws = Workspace("fresh")
        let keys = TestKeys(ws)
        let store = makeStore(ws, keys: keys)
        XCTAssertThrowsError(try store.openActive()) { XCTAssertEqual(($0 as? ModelStoreError)?.code, .noActiveModel) }
        let s = store.status()
        XCTAssertNil(s.activeModel)
        XCTAssertEqual(s.fault, "no model installed")
    }

    func testInstallSwitchesSlotsAndManualRollbackGoesBack() throws {
        let env = StoreTestEnvironment("ab")
        let (ws, keys, f, store) = (env.ws, env.keys, env.factory, env.store)
        let stick = ws.folder("stick")
        let b1 = stick.appendingPathComponent("v1.ichmodel")
        try FileManager.default.moveItem(at: try env.bundle("1.0.0"), to: b1)
        let r1 = store.install(bundleAt: b1)
        XCTAssertNil(r1.error)
        XCTAssertEqual(r1.receipt.result, "installed")
        XCTAssertEqual(r1.receipt.selfTest?.passed, true)
        XCTAssertEqual(try store.openActive().slot, "a")
        // The receipt went back to the stick folder and into the store.
        let written = try XCTUnwrap(r1.stickReceipt)
        let onStick = try JSONDecoder().decode(Receipt.self, from: Data(contentsOf: written))
        XCTAssertEqual(onStick.activeModel?.modelVersion, "1.0.0")
        XCTAssertEqual(store.lastReceipt()?.result, "installed")

        // Folder form, as a Mac leaves it on a FAT stick: hidden AppleDouble files are skipped.
        let folder = try f.bundle(version: "1.2.0", key: keys.trustedOld, folder: true)
        try Data("junk".utf8).write(to: folder.appendingPathComponent("._model.onnx"))
        try Data("junk".utf8).write(to: folder.appendingPathComponent(".DS_Store"))
        let r2 = store.install(bundleAt: folder)
        XCTAssertNil(r2.error)
        let active = try store.openActive()
        XCTAssertEqual(active.slot, "b")
        XCTAssertEqual(active.manifest.modelVersion, "1.2.0")
        XCTAssertEqual(active.thresholds["any"], 0.31)
        XCTAssertEqual(store.activeIdentity(), active.manifestSHA256)
        active.release()
        XCTAssertEqual(store.status().previousModel?.modelVersion, "1.0.0")

        // Installing the same bundle again changes nothing.
        let again = store.install(bundleAt: b1)
        XCTAssertEqual(again.error?.code, .downgrade)

        let back = store.rollback()
        XCTAssertNil(back.error)
        XCTAssertEqual(try store.openActive().manifest.modelVersion, "1.0.0")
        XCTAssertEqual(store.status().previousModel?.modelVersion, "1.2.0")
    }

    func testReadersKeepTheirModelAndBlockOverwritingTheirSlot() throws {
        let env = StoreTestEnvironment("readers")
        let store = env.store
        XCTAssertNil(store.install(bundleAt: try env.bundle("1.0.0")).error)
        let running = try store.openActive()  // an analysis in progress on 1.0.0
        let before = try Data(contentsOf: running.modelURL)

        XCTAssertNil(store.install(bundleAt: try env.bundle("1.1.0")).error)
        XCTAssertEqual(try store.openActive().manifest.modelVersion, "1.1.0")
        // The running analysis still sees its own, intact model.
        XCTAssertEqual(try Data(contentsOf: running.modelURL), before)
        XCTAssertEqual(running.manifest.modelVersion, "1.0.0")

        // The next install would overwrite the slot still in use: refused, nothing changes.
        let busy = store.install(bundleAt: try env.bundle("1.2.0"))
        XCTAssertEqual(busy.error?.code, .slotBusy)
        XCTAssertEqual(try store.openActive().manifest.modelVersion, "1.1.0")
        XCTAssertEqual(try Data(contentsOf: running.modelURL), before)

        running.release()  // the analysis finished
        XCTAssertNil(store.install(bundleAt: try env.bundle("1.2.0")).error)
        XCTAssertEqual(try store.openActive().manifest.modelVersion, "1.2.0")
    }

    func testCorruptedActiveSlotIsDetectedAtOpenAndStartFallsBack() throws {
        let env = StoreTestEnvironment("corrupt")
        let (ws, store) = (env.ws, env.store)
        XCTAssertNil(store.install(bundleAt: try env.bundle("1.0.0")).error)
        XCTAssertNil(store.install(bundleAt: try env.bundle("1.1.0")).error)
        try flipBit(ws.url("store/slots/b/model.onnx"), at: 100)
        XCTAssertThrowsError(try store.openActive()) { e in
            XCTAssertEqual((e as? ModelStoreError)?.code, .noActiveModel)
            XCTAssertTrue("\(e)".contains("model.onnx"), "\(e)")
        }
        XCTAssertNotNil(store.status().fault)
        // At service start the store falls back to the previous, verified model.
        guard case .rolledBack(let receipt) = store.serviceDidStart() else { return XCTFail("expected a rollback") }
        XCTAssertEqual(receipt.activeModel?.modelVersion, "1.0.0")
        XCTAssertEqual(try store.openActive().manifest.modelVersion, "1.0.0")
    }

    func testRemovingTheSigningKeyFromTrustPutsTheStoreInFault() throws {
        let env = StoreTestEnvironment("revoke")
        let (keys, store) = (env.keys, env.store)
        XCTAssertNil(store.install(bundleAt: try env.bundle("1.0.0")).error)
        try FileManager.default.removeItem(at: keys.directory.appendingPathComponent("test-old.pub"))
        XCTAssertThrowsError(try store.openActive()) { XCTAssertTrue("\($0)".contains("not among the"), "\($0)") }
    }

    // MARK: probation

    func testProbationCommitsAfterGoodAnalyses() throws {
        let env = StoreTestEnvironment("prob-ok", probation: 2)
        let store = env.store
        XCTAssertNil(store.install(bundleAt: try env.bundle("1.0.0")).error)
        let m = try store.openActive()
        store.analysisWillStart(on: m)
        XCTAssertEqual(store.reportAnalysisOutcome(success: true, model: m), .progressed(succeeded: 1, required: 2))
        store.analysisWillStart(on: m)
        XCTAssertEqual(store.reportAnalysisOutcome(success: true, model: m), .committed)
        XCTAssertNil(store.status().probation)
        // After probation a failure is not the model's to pay for.
        XCTAssertEqual(store.reportAnalysisOutcome(success: false, model: m), .none)
        XCTAssertEqual(try store.openActive().manifest.modelVersion, "1.0.0")
    }

    func testFailedAnalysisOnProbationRollsBack() throws {
        let env = StoreTestEnvironment("prob-fail", probation: 3)
        let store = env.store
        XCTAssertNil(store.install(bundleAt: try env.bundle("1.0.0")).error)
        let m1 = try store.openActive()
        for _ in 0..<3 { store.analysisWillStart(on: m1); store.reportAnalysisOutcome(success: true, model: m1) }
        m1.release()
        XCTAssertNil(store.install(bundleAt: try env.bundle("2.0.0")).error)
        let m2 = try store.openActive()
        store.analysisWillStart(on: m2)
        guard case .rolledBack(let r) = store.reportAnalysisOutcome(success: false, model: m2) else { return XCTFail("no rollback") }
        XCTAssertEqual(r.action, "automatic-rollback")
        XCTAssertEqual(r.activeModel?.modelVersion, "1.0.0")
        XCTAssertEqual(try store.openActive().manifest.modelVersion, "1.0.0")
        XCTAssertNil(store.status().previousModel, "the failed model is no rollback target")
    }

    func testCrashLoopOnNewModelRollsBackAtRestart() throws {
        let env = StoreTestEnvironment("prob-crash", probation: 3)
        let (ws, keys, installer) = (env.ws, env.keys, env.store)
        XCTAssertNil(installer.install(bundleAt: try env.bundle("1.0.0")).error)
        let m1 = try installer.openActive()
        for _ in 0..<3 { installer.analysisWillStart(on: m1); installer.reportAnalysisOutcome(success: true, model: m1) }
        m1.release()
        XCTAssertNil(installer.install(bundleAt: try env.bundle("2.0.0")).error)

        // Service process 1: starts, begins an analysis on 2.0.0, dies (no report).
        let service1 = makeStore(ws, keys: keys, probation: 3)
        XCTAssertEqual(service1.serviceDidStart(), .none)
        let m2 = try service1.openActive()
        XCTAssertEqual(m2.manifest.modelVersion, "2.0.0")
        service1.analysisWillStart(on: m2)
        m2.release()

        // Service process 2 (restart): sees the unfinished analysis and rolls back.
        let service2 = makeStore(ws, keys: keys, probation: 3)
        guard case .rolledBack(let r) = service2.serviceDidStart() else { return XCTFail("expected rollback at restart") }
        XCTAssertTrue(r.reason?.contains("crashed") ?? false, r.reason ?? "")
        XCTAssertEqual(try service2.openActive().manifest.modelVersion, "1.0.0")
    }

    /// The service knows (systemd's exit record) that its last process was killed from outside or
    /// lost power: an analysis it left unfinished, and the restarts, say nothing about the model.
    func testKillsFromOutsideDuringProbationDoNotRollBack() throws {
        let env = StoreTestEnvironment("prob-kill", probation: 3)
        let (ws, keys) = (env.ws, env.keys)
        XCTAssertNil(env.store.install(bundleAt: try env.bundle("1.0.0")).error)
        for _ in 0..<6 {  // more kills than probationMaxStarts, each during an analysis
            let service = makeStore(ws, keys: keys, probation: 3)
            XCTAssertEqual(service.serviceDidStart(previousRunCrashed: false), .none)
            let model = try service.openActive()
            service.analysisWillStart(on: model)
            model.release()
        }
        let last = makeStore(ws, keys: keys, probation: 3)
        XCTAssertEqual(last.serviceDidStart(previousRunCrashed: false), .none)
        XCTAssertEqual(try last.openActive().manifest.modelVersion, "1.0.0", "still in service")
        // A real crash still counts.
        let model = try last.openActive()
        last.analysisWillStart(on: model)
        model.release()
        guard case .rolledBack = makeStore(ws, keys: keys, probation: 3).serviceDidStart(previousRunCrashed: true) else {
            return XCTFail("a crash during a probation analysis takes the model out")
        }
    }

    func testRepeatedStartsWithoutAnAnalysisRollBack() throws {
        let env = StoreTestEnvironment("prob-starts", probation: 1)
        let store = env.store
        XCTAssertNil(store.install(bundleAt: try env.bundle("1.0.0")).error)
        XCTAssertEqual(store.reportAnalysisOutcome(success: true), .committed)
        XCTAssertNil(store.install(bundleAt: try env.bundle("1.5.0")).error)
        var events: [ProbationEvent] = []
        for _ in 0..<4 { events.append(store.serviceDidStart()) }  // crashes while loading, say
        XCTAssertEqual(events.prefix(3), [.none, .none, .none])
        guard case .rolledBack = events[3] else { return XCTFail("4th start should roll back: \(events)") }
        XCTAssertEqual(try store.openActive().manifest.modelVersion, "1.0.0")
    }

    func testFailingFirstModelWithNothingToRollBackToGoesToFaultState() throws {
        let env = StoreTestEnvironment("prob-first", probation: 2)
        let store = env.store
        XCTAssertNil(store.install(bundleAt: try env.bundle("1.0.0")).error)
        guard case .rolledBack(let r) = store.reportAnalysisOutcome(success: false) else { return XCTFail() }
        XCTAssertEqual(r.result, "failed")
        XCTAssertNil(r.activeModel)
        XCTAssertThrowsError(try store.openActive()) { XCTAssertTrue("\($0)".contains("taken out of service"), "\($0)") }
        XCTAssertNotNil(store.status().fault)
        XCTAssertEqual(store.serviceDidStart(), .none, "a restart must not bring the failed model back")
        XCTAssertThrowsError(try store.openActive())
        // A good model clears the fault.
        XCTAssertNil(store.install(bundleAt: try env.bundle("1.0.1")).error)
        XCTAssertEqual(try store.openActive().manifest.modelVersion, "1.0.1")
        XCTAssertNil(store.status().fault)
    }

    // MARK: format details

    func testSemanticVersionOrdering() {
        let ordered = ["0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0"]
        let parsed = ordered.map { SemanticVersion($0)! }
        for i in 1..<parsed.count { XCTAssertLessThan(parsed[i - 1], parsed[i], "\(ordered[i - 1]) < \(ordered[i])") }
        for bad in ["1.0", "01.0.0", "1.0.0-", "1.0.0+", "v1.0.0", "1.0.0.0", "", "1..0"] { XCTAssertNil(SemanticVersion(bad), bad) }
        XCTAssertEqual(SemanticVersion("1.0.0+build.5"), SemanticVersion("1.0.0"))
    }

    func testArchiveRoundTripAndSystemTarReadsIt() throws {
        let env = StoreTestEnvironment("tar")
        let keys = env.keys
        let archive = try env.bundle("1.0.0")
        let info = try BundleFiles.verifyCopy(of: archive, keys: keys.trusted)
        XCTAssertEqual(info.model.modelVersion, "1.0.0")
        XCTAssertEqual(info.selfTestCases, 2)
        XCTAssertEqual(info.signerName, "test-old")
        // Our archive is plain ustar: GNU tar lists the same files.
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/tar") else { throw XCTSkip("no /usr/bin/tar to cross-check the archive") }
        tar.arguments = ["-tf", archive.path]
        let pipe = Pipe()
        tar.standardOutput = pipe
        try tar.run()
        let listing = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        tar.waitUntilExit()
        XCTAssertEqual(tar.terminationStatus, 0)
        XCTAssertEqual(listing.split(separator: "\n").map(String.init),
                       ["manifest.json", "manifest.sig", "RELEASE-NOTES.md", "model.onnx",
                        "selftest/case0-probabilities.f32", "selftest/case0-slices.f32",
                        "selftest/case1-probabilities.f32", "selftest/case1-slices.f32", "selftest/vectors.json"])
    }

    func testTrustedKeysFolderSkipsBadFilesAndSaysWhy() throws {
        let ws = Workspace("keysdir")
        let keys = TestKeys(ws)
        try Data("not a key".utf8).write(to: keys.directory.appendingPathComponent("junk.pub"))
        var forged = try JSONSerialization.jsonObject(with: Data(contentsOf: keys.directory.appendingPathComponent("test-new.pub"))) as! [String: Any]
        forged["keyId"] = "0000000000000000"
        try JSONSerialization.data(withJSONObject: forged).write(to: keys.directory.appendingPathComponent("mismatch.pub"))
        let loaded = try TrustedKeys.load(from: keys.directory)
        XCTAssertEqual(Set(loaded.keys.map(\.name)), ["test-old", "test-new"])
        XCTAssertEqual(loaded.skipped.count, 2, "\(loaded.skipped)")
        XCTAssertThrowsError(try TrustedKeys.load(from: ws.folder("empty-keys"))) {
            XCTAssertEqual(($0 as? ModelStoreError)?.code, .badKey)
        }
    }

    func testPrivateKeyFileIsOwnerOnly() throws {
        let ws = Workspace("keys")
        let k = ModelSigningKey(name: "dev")
        let url = ws.url("dev.key")
        _ = try k.write(privateKeyTo: url)
        let attrs = try FileManager.default.attributesOfItem(atPath: url.path)
        XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertEqual(try ModelSigningKey.read(from: url).keyId, k.keyId)
        XCTAssertThrowsError(try k.write(privateKeyTo: url), "must not overwrite a key")
    }
}
