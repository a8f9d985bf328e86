import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A signed appliance software update, carried on a USB stick like a model bundle and checked
/// by the same code: the same folder/ustar forms, the same strict staging onto local disk
/// (`BundleFiles.stage`: no links, devices, traversal, limits), the same Ed25519 signature over
/// the exact manifest bytes by a key in the trusted-keys folder, and the same size and SHA-256
/// check of exactly the listed files (`BundleVerifier.checkFiles`). Only the manifest differs:
/// its `kind` is `ichtriage-software` and its payload is the appliance .deb.
///
/// Installing the package, the Debian version rule (no downgrade unless `downgradeAllowed`),
/// the self-test of the installed software and the rollback to the kept previous .deb are done
/// by `ichtriage-software-update` (Packaging/software-update.sh; docs/image.md), which calls
/// `ichtriage software verify --extract-to` and installs only from that verified local copy.
public struct SoftwareManifest: Codable, Sendable, Equatable {
    public static let kindValue = "ichtriage-software"
    public static let currentFormat = 1

    /// Bundle format version: 1.
    public var format: Int
    /// Always `ichtriage-software`: a model bundle can never be taken for a software update.
    public var kind: String
    /// Debian package name, e.g. `ichtriage`.
    public var packageName: String
    /// Debian version of the package, e.g. `0.1.0-2` (compared with dpkg's rules on the box).
    public var packageVersion: String
    /// Debian architecture (`arm64`, `amd64`).
    public var architecture: String
    /// Path of the .deb inside the bundle.
    public var packageFile: String
    /// True when this bundle may replace a newer installed version (a signed, deliberate downgrade).
    public var downgradeAllowed: Bool
    /// Creation time, ISO 8601 UTC.
    public var createdAt: String
    /// Id of the signing key; set by `software sign`, nil until then.
    public var keyId: String?
    /// Every file of the bundle except manifest.json and manifest.sig, with size and SHA-256.
    public var files: [BundleManifest.FileEntry]

    func validate(limits: BundleLimits) throws {
        func bad(_ why: String) -> ModelStoreError { ModelStoreError(.badManifest, "software manifest: \(why)") }
        guard format == Self.currentFormat else { throw bad("format \(format) is not supported (this appliance reads \(Self.currentFormat))") }
        guard kind == Self.kindValue else { throw bad("kind is \"\(kind)\", not \"\(Self.kindValue)\"") }
        guard Self.matches(packageName, first: "a-z0-9", rest: "a-z0-9+.-", max: 64) else { throw bad("packageName \"\(packageName)\" is not a Debian package name") }
        guard Self.matches(packageVersion, first: "0-9", rest: "A-Za-z0-9.+~:-", max: 64) else { throw bad("packageVersion \"\(packageVersion)\" is not a Debian version") }
        guard Self.matches(architecture, first: "a-z0-9", rest: "a-z0-9-", max: 32) else { throw bad("architecture \"\(architecture)\" is not a Debian architecture") }
        if let k = keyId, !Self.matches(k, first: "0-9a-f", rest: "0-9a-f", max: 16) || k.count != 16 { throw bad("keyId \(k) is not 16 hex digits") }
        guard files.count <= limits.maxFiles else { throw ModelStoreError(.tooLarge, "software manifest lists \(files.count) files, over the limit of \(limits.maxFiles)") }
        for f in files {
            try BundlePath.validate(f.path, limits: limits)
            guard f.size >= 0, f.size <= limits.maxFileBytes else { throw ModelStoreError(.tooLarge, "\(f.path) is over the limit of \(limits.maxFileBytes) bytes") }
            guard f.sha256.count == 64, Self.matches(f.sha256, first: "0-9a-f", rest: "0-9a-f", max: 64) else { throw bad("\(f.path) has no valid SHA-256") }
        }
        guard Set(files.map(\.path)).count == files.count else { throw bad("a file is listed twice") }
        guard packageFile.hasSuffix(".deb"), files.contains(where: { $0.path == packageFile }) else {
            throw bad("packageFile \(packageFile) must be a listed .deb file")
        }
    }

    /// `s` is 1...max characters, the first from the class `first`, the others from `rest`
    /// (character classes as in a regular expression, ASCII only).
    private static func matches(_ s: String, first: String, rest: String, max: Int) -> Bool {
        guard (1...max).contains(s.utf8.count) else { return false }
        return s.range(of: "^[\(first)][\(rest)]*$", options: .regularExpression) != nil
    }

    func canonicalBytes() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        var d = try encoder.encode(self)
        d.append(0x0A)
        return d
    }

    static func decode(_ bytes: Data, limits: BundleLimits) throws -> SoftwareManifest {
        let m: SoftwareManifest
        do { m = try JSONDecoder().decode(SoftwareManifest.self, from: bytes) } catch {
            throw ModelStoreError(.badManifest, "software manifest is not valid JSON of this format: \(error)")
        }
        try m.validate(limits: limits)
        return m
    }
}

/// What `software verify` reports about a good bundle.
public struct VerifiedSoftwareBundle: Codable, Sendable {
    public var packageName: String
    public var packageVersion: String
    public var architecture: String
    /// The .deb inside the verified local copy (absent when the copy was not kept).
    public var packagePath: String?
    public var manifestSHA256: String
    public var signerKeyId: String
    public var signerName: String
    public var downgradeAllowed: Bool
    public var createdAt: String
    public var bytes: Int64
}

public enum SoftwareBundle {
    /// Packs a .deb into an unsigned software bundle (`output` a folder, or one file when it
    /// ends in .ichsoftware / .tar).
    @discardableResult
    public static func pack(package: URL, packageName: String, packageVersion: String, architecture: String,
                            output: URL, downgradeAllowed: Bool = false, limits: BundleLimits = .init(),
                            now: Date = Date()) throws -> SoftwareManifest {
        guard case .missing = DurableFiles.kind(of: output) else {
            throw ModelStoreError(.io, "\(output.path) exists; choose a new output path")
        }
        guard case .regular = DurableFiles.kind(of: package) else {
            throw ModelStoreError(.missingFile, "no package file at \(package.path)")
        }
        let name = package.lastPathComponent
        let work = output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).pack-\(getpid())")
        DurableFiles.removeTree(work)
        defer { DurableFiles.removeTree(work) }
        try DurableFiles.makeDirectory(work)
        _ = try DurableFiles.copyFile(from: package, to: work.appendingPathComponent(name), limit: limits.maxFileBytes)
        let (hex, size) = try DurableFiles.sha256(of: work.appendingPathComponent(name))
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        let manifest = SoftwareManifest(
            format: SoftwareManifest.currentFormat, kind: SoftwareManifest.kindValue, packageName: packageName,
            packageVersion: packageVersion, architecture: architecture, packageFile: name,
            downgradeAllowed: downgradeAllowed, createdAt: formatter.string(from: now), keyId: nil,
            files: [.init(path: name, size: size, sha256: hex)])
        try manifest.validate(limits: limits)
        try DurableFiles.writeFile(try manifest.canonicalBytes(), to: work.appendingPathComponent(BundleManifest.fileName), exclusive: true)
        try BundlePacker.publish(work, to: output, archive: isArchivePath(output), limits: limits)
        return manifest
    }

    /// Signs a software bundle in place (sets keyId, writes the canonical manifest and manifest.sig).
    @discardableResult
    public static func sign(bundle: URL, with key: ModelSigningKey, limits: BundleLimits = .init()) throws -> SoftwareManifest {
        let isArchive = try bundleIsArchive(bundle)
        let work = bundle.deletingLastPathComponent().appendingPathComponent(".\(bundle.lastPathComponent).sign-\(getpid())")
        DurableFiles.removeTree(work)
        defer { DurableFiles.removeTree(work) }
        try BundleFiles.stage(bundle, into: work, limits: limits)
        var manifest = try SoftwareManifest.decode(
            try DurableFiles.readSmallFile(work.appendingPathComponent(BundleManifest.fileName), limit: limits.maxMetadataBytes, what: "manifest"),
            limits: limits)
        try BundleVerifier.checkFiles(directory: work, files: manifest.files, limits: limits)
        manifest.keyId = key.keyId
        let canonical = try manifest.canonicalBytes()
        let signature = try ManifestSignature.sign(manifestBytes: canonical, with: key)
        let target = isArchive ? work : bundle
        try DurableFiles.atomicWrite(canonical, to: target.appendingPathComponent(BundleManifest.fileName))
        try DurableFiles.atomicWrite(signature, to: target.appendingPathComponent(BundleManifest.signatureFileName))
        if isArchive { try BundleFiles.writeArchive(from: work, to: bundle, limits: limits) }
        return manifest
    }

    /// Copies `bundle` strictly into the new folder `destination` (local disk), then verifies
    /// that copy: signature by a trusted key over the manifest's bytes, then the manifest, then
    /// exactly the listed files with their sizes and SHA-256. On any refusal the copy is removed.
    public static func stageAndVerify(_ bundle: URL, into destination: URL, keys: TrustedKeys,
                                      limits: BundleLimits = .init()) throws -> VerifiedSoftwareBundle {
        guard case .missing = DurableFiles.kind(of: destination) else {
            throw ModelStoreError(.io, "\(destination.path) exists; the verified copy goes into a new folder")
        }
        do {
            try BundleFiles.stage(bundle, into: destination, limits: limits)
            let manifestBytes = try DurableFiles.readSmallFile(destination.appendingPathComponent(BundleManifest.fileName),
                                                               limit: limits.maxMetadataBytes, what: "manifest")
            let signer = try BundleVerifier.signer(of: destination, manifestBytes: manifestBytes, keys: keys)
            let manifest = try SoftwareManifest.decode(manifestBytes, limits: limits)
            guard manifest.keyId == signer.keyId else {
                throw ModelStoreError(.badSignature, "manifest names key \(manifest.keyId ?? "none") but was signed by \(signer.keyId)")
            }
            try BundleVerifier.checkFiles(directory: destination, files: manifest.files, limits: limits)
            return VerifiedSoftwareBundle(
                packageName: manifest.packageName, packageVersion: manifest.packageVersion, architecture: manifest.architecture,
                packagePath: destination.appendingPathComponent(manifest.packageFile).path,
                manifestSHA256: DurableFiles.sha256Hex(manifestBytes), signerKeyId: signer.keyId, signerName: signer.name,
                downgradeAllowed: manifest.downgradeAllowed, createdAt: manifest.createdAt,
                bytes: manifest.files.reduce(0) { $0 + $1.size })
        } catch {
            DurableFiles.removeTree(destination)
            throw error
        }
    }

    /// Whether a software bundle output is a single file (.ichsoftware or .tar).
    public static func isArchivePath(_ url: URL) -> Bool {
        ["ichsoftware", "tar"].contains(url.pathExtension.lowercased())
    }

    private static func bundleIsArchive(_ bundle: URL) throws -> Bool {
        switch DurableFiles.kind(of: bundle) {
        case .directory: return false
        case .regular: return true
        case .missing: throw ModelStoreError(.missingFile, "no bundle at \(bundle.path)")
        default: throw ModelStoreError(.unsafeEntry, "bundle \(bundle.path) is neither a folder nor a regular file")
        }
    }
}
