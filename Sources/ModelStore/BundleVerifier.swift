import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A bundle folder whose signature, schema, file set and hashes have all been checked.
public struct VerifiedBundle: Sendable {
    public let directory: URL
    public let manifest: BundleManifest
    public let vectors: SelfTestVectors
    /// SHA-256 of manifest.json's bytes: the identity of the bundle (it covers every file's hash).
    public let manifestSHA256: String
    public let signer: TrustedKey

    public var selfTestRequest: SelfTestRequest {
        SelfTestRequest(bundleDirectory: directory, manifest: manifest, vectors: vectors)
    }
}

/// Checks a bundle folder. Order matters: the signature is checked over the raw manifest
/// bytes before any of the manifest's content is believed.
public enum BundleVerifier {
    public static func verify(directory: URL, keys: TrustedKeys, limits: BundleLimits = .init(),
                              expectedManifestSHA256: String? = nil) throws -> VerifiedBundle {
        guard case .directory = DurableFiles.kind(of: directory) else {
            throw ModelStoreError(.missingFile, "bundle folder \(directory.path) does not exist")
        }
        let manifestBytes = try DurableFiles.readSmallFile(directory.appendingPathComponent(BundleManifest.fileName),
                                                           limit: limits.maxMetadataBytes, what: "manifest")
        let manifestSHA = DurableFiles.sha256Hex(manifestBytes)
        if let expected = expectedManifestSHA256, expected != manifestSHA {
            throw ModelStoreError(.hashMismatch, "manifest.json is not the one that was installed (SHA-256 \(manifestSHA.prefix(12))…, expected \(expected.prefix(12))…)")
        }
        let signer = try Self.signer(of: directory, manifestBytes: manifestBytes, keys: keys)
        let manifest = try BundleManifest.decode(manifestBytes, limits: limits)
        guard manifest.keyId == signer.keyId else {
            throw ModelStoreError(.badSignature, "manifest names key \(manifest.keyId ?? "none") but was signed by \(signer.keyId)")
        }

        try checkFiles(directory: directory, manifest: manifest, limits: limits)
        let vectorBytes = try DurableFiles.readSmallFile(directory.appendingPathComponent(manifest.selfTestFile),
                                                         limit: limits.maxMetadataBytes, what: "self-test vectors")
        let vectors = try SelfTestVectors.decode(vectorBytes, manifest: manifest)
        return VerifiedBundle(directory: directory, manifest: manifest, vectors: vectors,
                              manifestSHA256: manifestSHA, signer: signer)
    }

    /// The trusted key whose signature in the folder's manifest.sig verifies over `manifestBytes`
    /// (model and software bundles).
    static func signer(of directory: URL, manifestBytes: Data, keys: TrustedKeys) throws -> TrustedKey {
        let signatureBytes: Data
        do {
            signatureBytes = try DurableFiles.readSmallFile(directory.appendingPathComponent(BundleManifest.signatureFileName),
                                                            limit: 64 * 1024, what: "signature")
        } catch let e as ModelStoreError where e.code == .missingFile {
            throw ModelStoreError(.badSignature, "bundle is not signed (manifest.sig is missing)")
        }
        return try ManifestSignature.verify(signatureBytes: signatureBytes, manifestBytes: manifestBytes, keys: keys)
    }

    /// Exactly the listed files are present, each of the listed size and SHA-256.
    static func checkFiles(directory: URL, manifest: BundleManifest, limits: BundleLimits) throws {
        try checkFiles(directory: directory, files: manifest.files, limits: limits)
    }

    /// The same for any manifest's file list (model and software bundles).
    static func checkFiles(directory: URL, files: [BundleManifest.FileEntry], limits: BundleLimits) throws {
        let present = Set(try DurableFiles.listTree(directory, limits: limits))
            .subtracting([BundleManifest.fileName, BundleManifest.signatureFileName])
        let listed = Set(files.map(\.path))
        if let extra = present.subtracting(listed).sorted().first {
            throw ModelStoreError(.unexpectedFile, "\(extra) is in the bundle but not in its manifest")
        }
        if let missing = listed.subtracting(present).sorted().first {
            throw ModelStoreError(.missingFile, "\(missing) is listed in the manifest but missing")
        }
        for entry in files {
            let (hex, size) = try DurableFiles.sha256(of: directory.appendingPathComponent(entry.path))
            guard size == entry.size else {
                throw ModelStoreError(.hashMismatch, "\(entry.path) is \(size) bytes, the manifest says \(entry.size) (truncated or altered)")
            }
            guard hex == entry.sha256 else {
                throw ModelStoreError(.hashMismatch, "\(entry.path) SHA-256 \(hex.prefix(12))… differs from the manifest's \(entry.sha256.prefix(12))… (altered)")
            }
        }
    }
}

/// Moving bundles between their two forms and onto local disk.
public enum BundleFiles {
    /// Copies a bundle (a folder, or a single-file ustar archive) into the new folder
    /// `destination`, refusing symlinks, special files, bad names and anything over the limits.
    /// Nothing is verified yet: verification runs on this local copy, never on the stick.
    public static func stage(_ source: URL, into destination: URL, limits: BundleLimits) throws {
        try DurableFiles.makeDirectory(destination)
        switch DurableFiles.kind(of: source) {
        case .directory:
            var total: Int64 = 0
            for rel in try DurableFiles.listTree(source, limits: limits, skipHidden: true) {
                try BundlePath.validate(rel, limits: limits)
                let target = destination.appendingPathComponent(rel)
                try DurableFiles.makeDirectory(target.deletingLastPathComponent())
                let limit = [BundleManifest.fileName, BundleManifest.signatureFileName].contains(rel)
                    ? limits.maxMetadataBytes : limits.maxFileBytes
                total += try DurableFiles.copyFile(from: source.appendingPathComponent(rel), to: target, limit: limit)
                guard total <= limits.maxTotalBytes else {
                    throw ModelStoreError(.tooLarge, "bundle content is over the limit of \(limits.maxTotalBytes) bytes")
                }
            }
        case .regular:
            _ = try TarArchive.extract(source, into: destination, limits: limits)
        case .missing:
            throw ModelStoreError(.missingFile, "no bundle at \(source.path)")
        case .symlink:
            throw ModelStoreError(.unsafeEntry, "bundle \(source.path) is a symlink")
        case .other(let what):
            throw ModelStoreError(.unsafeEntry, "bundle \(source.path) is a \(what)")
        }
        try fsyncTree(destination)
    }

    /// fsyncs every folder of a tree (files are fsync'ed when written).
    static func fsyncTree(_ root: URL) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        for name in names {
            let url = root.appendingPathComponent(name)
            if case .directory = DurableFiles.kind(of: url) { try fsyncTree(url) }
        }
        try DurableFiles.fsync(root, directory: true)
    }

    /// Writes a bundle folder as a single-file archive: manifest.json first, then the
    /// signature (if any), then the listed files in manifest order.
    public static func writeArchive(from directory: URL, to archive: URL, limits: BundleLimits = .init()) throws {
        let files = try DurableFiles.listTree(directory, limits: limits)
        let order = [BundleManifest.fileName, BundleManifest.signatureFileName]
        let sorted = order.filter(files.contains) + files.filter { !order.contains($0) }
        let tmp = archive.deletingLastPathComponent().appendingPathComponent(".\(archive.lastPathComponent).tmp-\(getpid())")
        do {
            let writer = try TarArchive.Writer(creating: tmp)
            for rel in sorted {
                try BundlePath.validate(rel, limits: limits)
                try writer.add(name: rel, contentsOf: directory.appendingPathComponent(rel))
            }
            try writer.finish()
        } catch {
            unlink(tmp.path)
            throw error
        }
        guard rename(tmp.path, archive.path) == 0 else { throw DurableFiles.ioError("cannot rename into place", archive) }
        try DurableFiles.fsync(archive.deletingLastPathComponent(), directory: true)
    }
}

extension BundleFiles {
    /// Verifies a bundle where it lies (folder or single file) the way an install would: a
    /// strict copy into a temporary folder, then `BundleVerifier` on that copy.
    public static func verifyCopy(of bundle: URL, keys: TrustedKeys, limits: BundleLimits = .init()) throws -> VerifiedBundleInfo {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("ichtriage-verify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        defer { DurableFiles.removeTree(work) }
        try stage(bundle, into: work, limits: limits)
        let v = try BundleVerifier.verify(directory: work, keys: keys, limits: limits)
        return VerifiedBundleInfo(model: ModelSummary(v.manifest, manifestSHA256: v.manifestSHA256, slot: nil),
                                  signerKeyId: v.signer.keyId, signerName: v.signer.name,
                                  files: v.manifest.files.count, bytes: v.manifest.files.reduce(0) { $0 + $1.size },
                                  downgradeAllowed: v.manifest.downgradeAllowed,
                                  minimumApplianceVersion: v.manifest.minimumApplianceVersion,
                                  createdAt: v.manifest.createdAt, selfTestCases: v.vectors.cases.count)
    }
}

/// What `model verify` reports about a good bundle.
public struct VerifiedBundleInfo: Codable, Sendable {
    public var model: ModelSummary
    public var signerKeyId: String
    public var signerName: String
    public var files: Int
    public var bytes: Int64
    public var downgradeAllowed: Bool
    public var minimumApplianceVersion: String
    public var createdAt: String
    public var selfTestCases: Int
}
