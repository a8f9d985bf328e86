import Foundation
import XCTest
@testable import ModelStore

/// Every way a bundle can be damaged, forged or wrong is refused with a clear reason, and the
/// model that was serving keeps serving (verified by hashes after each attempt).
final class TamperMatrixTests: XCTestCase {
    struct Attack {
        var name: String
        var bundle: URL
        var expected: ModelStoreError.Code
    }

    func testTamperMatrixRejectsEveryAttackAndKeepsTheServingModel() throws {
        let ws = Workspace("tamper")
        let keys = TestKeys(ws)
        let factory = BundleFactory(workspace: ws)
        var config = ModelStoreConfiguration(storeDirectory: ws.url("store"), keysDirectory: keys.directory)
        config.limits.maxFileBytes = 4 << 20
        config.probationAnalyses = 0
        let store = ModelStore(configuration: config, selfTester: FixtureEngineDouble(), referenceCheck: FixtureReferenceDouble())

        let good = try factory.bundle(version: "1.0.0", key: keys.trustedOld)
        let first = store.install(bundleAt: good)
        XCTAssertNil(first.error, "\(first.error.map { "\($0)" } ?? "")")
        let serving = try store.openActive().manifestSHA256
        XCTAssertFalse(serving.isEmpty)

        var attacks: [Attack] = []
        func folderBundle(_ version: String = "1.1.0", key: ModelSigningKey? = nil) throws -> URL {
            try factory.bundle(version: version, key: key ?? keys.trustedOld, folder: true)
        }

        // Bit flips: in the model (folder and single-file form), the manifest, the signature.
        let flippedModel = try folderBundle()
        try flipBit(flippedModel.appendingPathComponent("model.onnx"), at: 40)
        attacks.append(.init(name: "bit flipped in model (folder)", bundle: flippedModel, expected: .hashMismatch))
        let flippedModelArchive = ws.url("flipped-model.ichmodel")
        try BundleFiles.writeArchive(from: flippedModel, to: flippedModelArchive)
        attacks.append(.init(name: "bit flipped in model (single file)", bundle: flippedModelArchive, expected: .hashMismatch))

        let flippedManifest = try folderBundle()
        let mURL = flippedManifest.appendingPathComponent("manifest.json")
        try flipBit(mURL, at: try Data(contentsOf: mURL).count / 2)
        attacks.append(.init(name: "bit flipped in manifest", bundle: flippedManifest, expected: .badSignature))

        let editedManifest = try folderBundle()
        let eURL = editedManifest.appendingPathComponent("manifest.json")
        let edited = try String(contentsOf: eURL, encoding: .utf8).replacingOccurrences(of: "\"any\" : 0.31", with: "\"any\" : 0.99")
        XCTAssertTrue(edited.contains("0.99"), "manifest edit did not apply")
        try edited.write(to: eURL, atomically: true, encoding: .utf8)
        attacks.append(.init(name: "manifest threshold edited (valid JSON)", bundle: editedManifest, expected: .badSignature))

        let flippedSig = try folderBundle()
        let sURL = flippedSig.appendingPathComponent("manifest.sig")
        var sig = try JSONDecoder().decode(ManifestSignature.self, from: Data(contentsOf: sURL))
        var raw = Data(base64Encoded: sig.signature)!
        raw[17] ^= 0x01
        sig.signature = raw.base64EncodedString()
        try JSONEncoder().encode(sig).write(to: sURL)
        attacks.append(.init(name: "bit flipped in signature", bundle: flippedSig, expected: .badSignature))

        attacks.append(.init(name: "signed by an unknown key", bundle: try factory.bundle(version: "1.1.0", key: keys.untrusted),
                             expected: .unknownKey))
        attacks.append(.init(name: "unsigned bundle", bundle: try factory.bundle(version: "1.1.0", key: nil), expected: .badSignature))

        // Model swapped for another one while keeping the signed manifest.
        let swapped = try folderBundle()
        try ONNXFixture(seed: 1234).modelBytes().write(to: swapped.appendingPathComponent("model.onnx"))
        attacks.append(.init(name: "model replaced, manifest kept", bundle: swapped, expected: .hashMismatch))

        let extra = try folderBundle()
        try Data("surprise".utf8).write(to: extra.appendingPathComponent("payload.sh"))
        attacks.append(.init(name: "extra file not in manifest", bundle: extra, expected: .unexpectedFile))

        let missing = try folderBundle()
        try FileManager.default.removeItem(at: missing.appendingPathComponent("RELEASE-NOTES.md"))
        attacks.append(.init(name: "listed file missing", bundle: missing, expected: .missingFile))

        // Truncated single-file bundles.
        let whole = try Data(contentsOf: try factory.bundle(version: "1.1.0", key: keys.trustedOld))
        for (label, length) in [("half", whole.count / 2), ("inside the first header", 256), ("inside the manifest", 700), ("end marker cut", whole.count - 512),
                                ("no end marker", whole.count - 1024), ("one byte short", whole.count - 1)] {
            let t = ws.url("truncated-\(length).ichmodel")
            try whole.prefix(length).write(to: t)
            attacks.append(.init(name: "truncated bundle (\(label))", bundle: t, expected: .truncated))
        }

        // Forged archives: the good signed files plus one hostile entry.
        let signedFolder = try folderBundle()
        func forged(_ label: String, _ add: (TarArchive.Writer) throws -> Void, expected: ModelStoreError.Code) throws {
            let url = ws.url("forged-\(attacks.count).ichmodel")
            let w = try TarArchive.Writer(creating: url)
            for rel in try DurableFiles.listTree(signedFolder, limits: .init()) {
                try w.add(name: rel, contentsOf: signedFolder.appendingPathComponent(rel))
            }
            try add(w)
            try w.finish()
            attacks.append(.init(name: label, bundle: url, expected: expected))
        }
        try forged("path traversal ../escape", { try $0.add(name: "../escape.txt", data: Data("x".utf8)) }, expected: .badPath)
        try forged("path traversal via subfolder", { try $0.add(name: "selftest/../../escape.txt", data: Data("x".utf8)) }, expected: .badPath)
        try forged("absolute path entry", { try $0.add(name: "/tmp/ichtriage-escape.txt", data: Data("x".utf8)) }, expected: .badPath)
        try forged("symlink entry", { try $0.add(name: "evil-link", data: Data(), typeFlag: 0x32, linkName: "/etc/passwd") }, expected: .unsafeEntry)
        try forged("symlink entry to ..", { try $0.add(name: "selftest/up", data: Data(), typeFlag: 0x32, linkName: "../..") }, expected: .unsafeEntry)
        try forged("hard link entry", { try $0.add(name: "hard", data: Data(), typeFlag: 0x31, linkName: "model.onnx") }, expected: .unsafeEntry)
        try forged("character device entry", { try $0.add(name: "dev-null", data: Data(), typeFlag: 0x33) }, expected: .unsafeEntry)
        try forged("FIFO entry", { try $0.add(name: "pipe", data: Data(), typeFlag: 0x36) }, expected: .unsafeEntry)
        try forged("GNU long-name entry", { try $0.add(name: "././@LongLink", data: Data("a".utf8), typeFlag: 0x4C) }, expected: .unsafeEntry)
        try forged("duplicate model entry", { try $0.add(name: "model.onnx", data: Data("evil".utf8)) }, expected: .badArchive)
        let corrupt = ws.url("bad-checksum.ichmodel")
        var corruptBytes = whole
        corruptBytes[3] ^= 0x01  // inside the first header's name
        try corruptBytes.write(to: corrupt)
        attacks.append(.init(name: "header checksum broken", bundle: corrupt, expected: .badArchive))

        // Symlink inside a folder bundle, and a folder bundle that is itself a symlink.
        let linkFolder = try folderBundle()
        let realModel = ws.url("real-model.onnx")
        try FileManager.default.moveItem(at: linkFolder.appendingPathComponent("model.onnx"), to: realModel)
        try FileManager.default.createSymbolicLink(at: linkFolder.appendingPathComponent("model.onnx"), withDestinationURL: realModel)
        attacks.append(.init(name: "symlinked model in folder bundle", bundle: linkFolder, expected: .unsafeEntry))
        let linkBundle = ws.url("link-to-bundle")
        try FileManager.default.createSymbolicLink(at: linkBundle, withDestinationURL: try folderBundle())
        attacks.append(.init(name: "bundle path is a symlink", bundle: linkBundle, expected: .unsafeEntry))

        // Policy: downgrades, same version, appliance too old, self-test failure, oversize.
        attacks.append(.init(name: "downgrade 0.9.0 not signed as downgrade",
                             bundle: try factory.bundle(version: "0.9.0", key: keys.trustedOld), expected: .downgrade))
        attacks.append(.init(name: "same version, different content",
                             bundle: try factory.bundle(version: "1.0.0", key: keys.trustedOld, paddingBytes: 64), expected: .downgrade))
        attacks.append(.init(name: "pre-release of the active version",
                             bundle: try factory.bundle(version: "1.0.0-rc.1", key: keys.trustedOld), expected: .downgrade))
        attacks.append(.init(name: "needs a newer appliance",
                             bundle: try factory.bundle(version: "1.1.0", key: keys.trustedOld, minimumAppliance: "9.0.0"),
                             expected: .applianceTooOld))
        attacks.append(.init(name: "self-test outputs wrong",
                             bundle: try factory.bundle(version: "1.1.0", key: keys.trustedOld, wrongExpectedOutputs: true),
                             expected: .selfTestFailed))
        // A collapsed model: loads, runs, reproduces its own vectors (they were made from it), but
        // gives one answer whatever the image: the reference series kept on the device catches it.
        let flat = try factory.bundle(version: "1.1.0", key: keys.trustedOld, flatModel: true)
        attacks.append(.init(name: "passes its own vectors, fails the device's reference series (flat model)",
                             bundle: flat, expected: .referenceCheckFailed))
        attacks.append(.init(name: "model over the size limit",
                             bundle: try factory.bundle(version: "1.1.0", key: keys.trustedOld, paddingBytes: 5 << 20), expected: .tooLarge))

        var accepted = 0
        var lines: [String] = []
        for attack in attacks {
            let result = store.install(bundleAt: attack.bundle)
            let code = result.error?.code
            if result.error == nil { accepted += 1 }
            XCTAssertEqual(code, attack.expected, "\(attack.name): \(result.error.map { "\($0)" } ?? "ACCEPTED")")
            XCTAssertEqual(result.receipt.result, "rejected", attack.name)
            XCTAssertFalse((result.receipt.reason ?? "").isEmpty, "\(attack.name): a rejection must say why")
            if attack.expected == .referenceCheckFailed {
                XCTAssertEqual(result.receipt.selfTest?.passed, true, "\(attack.name): its own vectors must pass, or the attack proves nothing")
                XCTAssertEqual(result.receipt.referenceCheck?.passed, false)
            }
            // The serving model is still the one, and still verifies file by file.
            let active = try store.openActive()
            XCTAssertEqual(active.manifestSHA256, serving, "\(attack.name) changed the active model")
            XCTAssertEqual(result.receipt.activeModel?.manifestSHA256, serving)
            lines.append("  [\(code?.rawValue ?? "ACCEPTED")] \(attack.name): \(result.error?.message ?? "-")")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: ws.root.deletingLastPathComponent().appendingPathComponent("escape.txt").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/ichtriage-escape.txt"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: ws.url("escape.txt").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: ws.url("store/escape.txt").path))
        // Staging is left empty after each rejection.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: ws.url("store/staging").path), [])
        print("TAMPER MATRIX: attacks tried \(attacks.count), rejected \(attacks.count - accepted), accepted \(accepted)")
        print(lines.joined(separator: "\n"))
        XCTAssertEqual(accepted, 0)
        XCTAssertGreaterThanOrEqual(attacks.count, 30)

        // Positive controls on the same store: the checks do not refuse everything.
        let rotated = store.install(bundleAt: try factory.bundle(version: "1.1.0", key: keys.trustedNew))
        XCTAssertNil(rotated.error, "a bundle signed by the second trusted key (rotation) must install")
        let signedDowngrade = store.install(bundleAt: try factory.bundle(version: "0.9.0", key: keys.trustedOld, downgrade: true))
        XCTAssertNil(signedDowngrade.error, "a bundle signed as a downgrade must install")
        XCTAssertEqual(try store.openActive().manifest.modelVersion, "0.9.0")
    }
}
