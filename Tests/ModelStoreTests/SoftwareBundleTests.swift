import Foundation
import XCTest
@testable import ModelStore

/// Software update bundles (.ichsoftware) go through the model bundles' staging, signature and
/// hash checks: a good one verifies on a local copy; damaged, forged or mistaken ones are
/// refused with the same error codes, and no verified copy is left behind.
final class SoftwareBundleTests: XCTestCase {
    private func makeDeb(_ ws: Workspace, bytes: Int = 300_000) throws -> URL {
        // Content only matters for hashing: the updater, not this module, reads the .deb.
        var g = SystemRandomNumberGenerator()
        let data = Data((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &g) })
        let url = ws.url("ichtriage_0.1.0-2_arm64.deb")
        try data.write(to: url)
        return url
    }

    private func signedBundle(_ ws: Workspace, key: ModelSigningKey, name: String = "update.ichsoftware",
                              downgrade: Bool = false) throws -> URL {
        let out = ws.url(name)
        try SoftwareBundle.pack(package: try makeDeb(ws), packageName: "ichtriage", packageVersion: "0.1.0-2",
                                architecture: "arm64", output: out, downgradeAllowed: downgrade)
        try SoftwareBundle.sign(bundle: out, with: key)
        return out
    }

    private func refusal(_ body: () throws -> Any) -> ModelStoreError.Code? {
        do { _ = try body(); return nil } catch let e as ModelStoreError { return e.code } catch { return .io }
    }

    func testGoodBundleVerifiesOnALocalCopyAndKeepsThePackage() throws {
        let ws = Workspace("sw-good")
        let keys = TestKeys(ws)
        let bundle = try signedBundle(ws, key: keys.trustedOld, downgrade: true)
        let copy = ws.url("verified")
        let v = try SoftwareBundle.stageAndVerify(bundle, into: copy, keys: keys.trusted)
        XCTAssertEqual(v.packageName, "ichtriage")
        XCTAssertEqual(v.packageVersion, "0.1.0-2")
        XCTAssertEqual(v.architecture, "arm64")
        XCTAssertTrue(v.downgradeAllowed)
        XCTAssertEqual(v.signerKeyId, keys.trustedOld.keyId)
        let kept = try XCTUnwrap(v.packagePath)
        XCTAssertTrue(kept.hasPrefix(copy.path), "the package is installed from the verified copy, not the stick")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: kept)),
                       try Data(contentsOf: ws.url("ichtriage_0.1.0-2_arm64.deb")))
        XCTAssertEqual(v.bytes, 300_000)
    }

    func testDamagedForgedAndMistakenBundlesAreRefused() throws {
        let ws = Workspace("sw-bad")
        let keys = TestKeys(ws)
        var cases: [(String, URL, ModelStoreError.Code)] = []

        let flipped = try signedBundle(ws, key: keys.trustedOld, name: "flipped.ichsoftware")
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: flipped.path)[.size] as? NSNumber).intValue
        try flipBit(flipped, at: size / 2)  // inside the .deb's data
        cases.append(("bit flipped in the package", flipped, .hashMismatch))

        cases.append(("signed by an untrusted key", try signedBundle(ws, key: keys.untrusted, name: "stranger.ichsoftware"), .unknownKey))

        let unsigned = ws.url("unsigned.ichsoftware")
        try SoftwareBundle.pack(package: try makeDeb(ws), packageName: "ichtriage", packageVersion: "0.1.0-2",
                                architecture: "arm64", output: unsigned)
        cases.append(("unsigned", unsigned, .badSignature))

        // A signed model bundle is not a software bundle (its manifest has another schema).
        let model = try BundleFactory(workspace: ws).bundle(version: "1.0.0", key: keys.trustedOld)
        cases.append(("a model bundle given as software", model, .badManifest))

        // A signed software manifest edited afterwards (a version raised by hand).
        let edited = ws.folder("edited")
        try SoftwareBundle.pack(package: try makeDeb(ws), packageName: "ichtriage", packageVersion: "0.1.0-2",
                                architecture: "arm64", output: edited.appendingPathComponent("b"))
        try SoftwareBundle.sign(bundle: edited.appendingPathComponent("b"), with: keys.trustedOld)
        let manifestURL = edited.appendingPathComponent("b/manifest.json")
        let text = try String(contentsOf: manifestURL, encoding: .utf8).replacingOccurrences(of: "0.1.0-2", with: "0.1.0-9")
        try text.write(to: manifestURL, atomically: true, encoding: .utf8)
        cases.append(("manifest edited after signing", edited.appendingPathComponent("b"), .badSignature))

        for (name, bundle, expected) in cases {
            let copy = ws.url("copy-\(UUID().uuidString.prefix(6))")
            let code = refusal { try SoftwareBundle.stageAndVerify(bundle, into: copy, keys: keys.trusted) }
            XCTAssertEqual(code, expected, name)
            XCTAssertFalse(FileManager.default.fileExists(atPath: copy.path), "\(name): a refused bundle leaves no copy")
        }
    }

    func testPackRefusesWhatIsNotADebianPackageDescription() throws {
        let ws = Workspace("sw-pack")
        let deb = try makeDeb(ws, bytes: 10)
        for (version, name, arch) in [("latest", "ichtriage", "arm64"), ("0.1.0-2", "ICH Triage", "arm64"), ("0.1.0-2", "ichtriage", "arm 64")] {
            let code = refusal {
                try SoftwareBundle.pack(package: deb, packageName: name, packageVersion: version, architecture: arch,
                                        output: ws.url("x-\(UUID().uuidString.prefix(6)).ichsoftware"))
            }
            XCTAssertEqual(code, .badManifest, "\(name) \(version) \(arch)")
        }
    }
}
