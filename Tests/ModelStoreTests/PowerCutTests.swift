import Foundation
import XCTest
@testable import ModelStore
#if canImport(Glibc)
import Glibc
#endif

/// kill -9 the real `ichtriage model install` at random moments, again and again: afterwards
/// the store always opens exactly one valid model, the old or the new, verified file by file.
final class PowerCutTests: XCTestCase {
    func testKillNineDuringInstallsAlwaysLeavesOneValidModel() throws {
        let ws = Workspace("powercut")
        let keys = TestKeys(ws)
        let factory = BundleFactory(workspace: ws)
        // Large enough that copying, hashing and fsyncing take a while (kills land inside).
        let padding = 3 << 20
        let bundleA = try factory.bundle(version: "1.0.0", key: keys.trustedOld, downgrade: true, paddingBytes: padding)
        let bundleB = try factory.bundle(version: "1.1.0", key: keys.trustedOld, paddingBytes: padding + 4096)
        let shaA = try BundleFiles.verifyCopy(of: bundleA, keys: keys.trusted).model.manifestSHA256
        let shaB = try BundleFiles.verifyCopy(of: bundleB, keys: keys.trusted).model.manifestSHA256
        let storeDir = ws.url("store")
        let receipts = ws.folder("receipts")
        let args = { (bundle: URL) in ["model", "install", "--store", storeDir.path, "--keys", keys.directory.path,
                                        "--receipt-dir", receipts.path, "--skip-reference-series", bundle.path, "--json"] }
        let store = ModelStore(configuration: ModelStoreConfiguration(storeDirectory: storeDir, keysDirectory: keys.directory),
                               selfTester: StructuralSelfTester())

        // Start with A, and time one whole uninterrupted install of B and one back to A.
        XCTAssertEqual(try runCLI(args(bundleA)).status, 0)
        var t0 = Date()
        let timedB = try runCLI(args(bundleB))
        let durationB = Date().timeIntervalSince(t0)
        XCTAssertEqual(timedB.status, 0, timedB.stdout + timedB.stderr)
        t0 = Date()
        XCTAssertEqual(try runCLI(args(bundleA)).status, 0)
        let duration = max(durationB, Date().timeIntervalSince(t0))

        var rng = SystemRandomNumberGenerator()
        var kills = 0, finishedFirst = 0, killedOld = 0, killedNew = 0, invalid = 0, leftovers = 0, attempts = 0
        let binary = try ichtriageBinary()
        while kills < 32 && attempts < 200 {
            attempts += 1
            let before = try store.openActive()
            let old = before.manifestSHA256
            before.release()
            let (target, new) = old == shaA ? (bundleB, shaB) : (bundleA, shaA)

            let p = Process()
            p.executableURL = binary
            p.arguments = args(target)
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(UInt32(Double.random(in: (0.2 * duration)...(1.05 * duration), using: &rng) * 1_000_000))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let killed = p.terminationReason != .exit
            if !killed {
                finishedFirst += 1
            } else {
                kills += 1
                let staged = (try? FileManager.default.contentsOfDirectory(atPath: storeDir.appendingPathComponent("staging").path)) ?? []
                if !staged.isEmpty { leftovers += 1 }
            }

            // Power back: exactly one model, verified by signature and every hash.
            let after: ActiveModel
            do { after = try store.openActive() } catch {
                invalid += 1
                XCTFail("after kill \(kills) the store has no valid model: \(error)")
                break
            }
            XCTAssertTrue(after.manifestSHA256 == old || after.manifestSHA256 == new, "a third model appeared")
            if killed { after.manifestSHA256 == old ? (killedOld += 1) : (killedNew += 1) }
            if !killed { XCTAssertEqual(after.manifestSHA256, new, "a finished install must have switched") }
            XCTAssertNoThrow(try BundleVerifier.checkFiles(directory: after.directory, manifest: after.manifest, limits: .init()))
            after.release()
        }
        print(String(format: "POWER CUT: kill -9 during install %d times; after every kill exactly one valid model "
                     + "(old %d, new %d, no valid model %d); %d kills left a half-staged copy; "
                     + "%d more installs finished before their kill (all switched); one install took %.0f ms",
                     kills, killedOld, killedNew, invalid, leftovers, finishedFirst, duration * 1000))
        XCTAssertGreaterThanOrEqual(kills, 30)
        XCTAssertEqual(invalid, 0)
        XCTAssertGreaterThan(leftovers, 0, "no kill landed mid-install: the test would prove nothing")

        // And the store is still fully usable: the next install cleans up and succeeds.
        let active = try store.openActive().manifestSHA256
        let final = try runCLI(args(active == shaA ? bundleB : bundleA))
        XCTAssertEqual(final.status, 0, final.stdout)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: storeDir.appendingPathComponent("staging").path), [])
    }
}

/// The deterministic complement of the kill -9 campaign: stop at every step of an install and
/// look at the store as a crash there would leave it (pointer + the slot it names, verified).
final class InstallStepTests: XCTestCase {
    func testAtEveryInstallStepThePointerNamesOneVerifiedModel() throws {
        let env = StoreTestEnvironment("steps")
        let (keys, store) = (env.keys, env.store)
        XCTAssertNil(store.install(bundleAt: try env.bundle("1.0.0")).error)
        XCTAssertNil(store.install(bundleAt: try env.bundle("1.1.0")).error)  // both slots full
        let old = try store.openActive().manifestSHA256
        let newBundle = try env.bundle("1.2.0")
        let new = try BundleFiles.verifyCopy(of: newBundle, keys: keys.trusted).model.manifestSHA256

        var seen: [(String, String)] = []
        store.stepHook = { step in
            // What a restart would find: the pointer, and the slot it names, verified by hashes.
            do {
                let p = try XCTUnwrap(try store.readPointer())
                let b = try BundleVerifier.verify(directory: store.slotURL(p.active.slot), keys: keys.trusted,
                                                  expectedManifestSHA256: p.active.manifestSHA256)
                seen.append((step, b.manifestSHA256 == old ? "old" : b.manifestSHA256 == new ? "new" : "OTHER"))
            } catch {
                seen.append((step, "INVALID: \(error)"))
            }
        }
        XCTAssertNil(store.install(bundleAt: newBundle).error)
        store.stepHook = nil
        print("INSTALL STEPS: " + seen.map { "\($0.0)=\($0.1)" }.joined(separator: ", "))
        XCTAssertEqual(seen.map(\.0), ["staged", "verified", "slot-locked", "old-slot-moved-aside", "new-slot-in-place", "pointer-switched"])
        XCTAssertEqual(seen.map(\.1), ["old", "old", "old", "old", "old", "new"])
    }
}
