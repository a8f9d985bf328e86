import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `model pack` and `model sign`: the engineer's side of the bundle format.
public enum BundlePacker {
    /// What the engineer writes as `manifest.json` in the folder to pack: the manifest without
    /// the computed fields (files, keyId; createdAt defaults to now).
    struct Template: Decodable {
        var modelName: String
        var modelVersion: String
        var minimumApplianceVersion: String
        var calibrationId: String
        var input: BundleManifest.InputSpecification
        var thresholds: [String: Double]
        var downgradeAllowed: Bool?
        var modelFile: String?
        var selfTestFile: String?
        var releaseNotesFile: String?
        var createdAt: String?
    }

    /// A bundle output is a single file when its name ends in `.ichmodel` or `.tar`.
    public static func isArchivePath(_ url: URL) -> Bool {
        ["ichmodel", "tar"].contains(url.pathExtension.lowercased())
    }

    /// Packs `source` (manifest.json template, model, self-test vectors, release notes, any
    /// other files) into an unsigned bundle at `output`. Returns the manifest written. A folder
    /// written by the training toolkit (Models/default) is converted first.
    @discardableResult
    public static func pack(source: URL, output: URL, limits: BundleLimits = .init(), now: Date = Date()) throws -> BundleManifest {
        guard case .missing = DurableFiles.kind(of: output) else {
            throw ModelStoreError(.io, "\(output.path) exists; choose a new output path")
        }
        let templateBytes = try DurableFiles.readSmallFile(source.appendingPathComponent(BundleManifest.fileName),
                                                           limit: limits.maxMetadataBytes, what: "manifest template")
        if TrainingBundleImport.isTrainingManifest(templateBytes) {
            // The training toolkit's unsigned bundle: convert it to a pack source, then pack that.
            let converted = output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).import-\(getpid())")
            DurableFiles.removeTree(converted)
            defer { DurableFiles.removeTree(converted) }
            try TrainingBundleImport.convert(source: source, into: converted, manifestBytes: templateBytes, limits: limits)
            return try pack(source: converted, output: output, limits: limits, now: now)
        }
        let t: Template
        do { t = try JSONDecoder().decode(Template.self, from: templateBytes) } catch {
            throw ModelStoreError(.badManifest, "manifest.json template: \(describe(error))")
        }
        var entries: [BundleManifest.FileEntry] = []
        for rel in try DurableFiles.listTree(source, limits: limits)
        where rel != BundleManifest.fileName && rel != BundleManifest.signatureFileName {
            try BundlePath.validate(rel, limits: limits)
            let (hex, size) = try DurableFiles.sha256(of: source.appendingPathComponent(rel))
            entries.append(.init(path: rel, size: size, sha256: hex))
        }
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        let manifest = BundleManifest(
            format: BundleManifest.currentFormat, modelName: t.modelName, modelVersion: t.modelVersion,
            minimumApplianceVersion: t.minimumApplianceVersion, createdAt: t.createdAt ?? formatter.string(from: now),
            calibrationId: t.calibrationId, input: t.input, thresholds: t.thresholds,
            downgradeAllowed: t.downgradeAllowed ?? false, keyId: nil,
            modelFile: t.modelFile ?? "model.onnx", selfTestFile: t.selfTestFile ?? "selftest/vectors.json",
            releaseNotesFile: t.releaseNotesFile ?? "RELEASE-NOTES.md", files: entries)
        try manifest.validate(limits: limits)
        let vectorBytes = try DurableFiles.readSmallFile(source.appendingPathComponent(manifest.selfTestFile),
                                                         limit: limits.maxMetadataBytes, what: "self-test vectors")
        _ = try SelfTestVectors.decode(vectorBytes, manifest: manifest)

        // Assemble the bundle folder next to the output, then move or archive it.
        let work = output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).pack-\(getpid())")
        DurableFiles.removeTree(work)
        defer { DurableFiles.removeTree(work) }
        try DurableFiles.makeDirectory(work)
        for e in entries {
            let target = work.appendingPathComponent(e.path)
            try DurableFiles.makeDirectory(target.deletingLastPathComponent())
            try DurableFiles.copyFile(from: source.appendingPathComponent(e.path), to: target, limit: limits.maxFileBytes)
        }
        try DurableFiles.writeFile(try manifest.canonicalBytes(), to: work.appendingPathComponent(BundleManifest.fileName), exclusive: true)
        // The copy must still match what was hashed (the source could change under us).
        try BundleVerifier.checkFiles(directory: work, manifest: manifest, limits: limits)
        try publish(work, to: output, archive: isArchivePath(output), limits: limits)
        return manifest
    }

    /// Signs a bundle in place: sets the manifest's keyId, writes the canonical manifest and
    /// manifest.sig. Refuses a bundle whose files do not match its manifest.
    @discardableResult
    public static func sign(bundle: URL, with key: ModelSigningKey, limits: BundleLimits = .init()) throws -> BundleManifest {
        let isArchive: Bool
        switch DurableFiles.kind(of: bundle) {
        case .directory: isArchive = false
        case .regular: isArchive = true
        case .missing: throw ModelStoreError(.missingFile, "no bundle at \(bundle.path)")
        default: throw ModelStoreError(.unsafeEntry, "bundle \(bundle.path) is neither a folder nor a regular file")
        }
        let work = bundle.deletingLastPathComponent().appendingPathComponent(".\(bundle.lastPathComponent).sign-\(getpid())")
        DurableFiles.removeTree(work)
        defer { DurableFiles.removeTree(work) }
        try BundleFiles.stage(bundle, into: work, limits: limits)
        let bytes = try DurableFiles.readSmallFile(work.appendingPathComponent(BundleManifest.fileName),
                                                   limit: limits.maxMetadataBytes, what: "manifest")
        var manifest = try BundleManifest.decode(bytes, limits: limits)
        try BundleVerifier.checkFiles(directory: work, manifest: manifest, limits: limits)
        manifest.keyId = key.keyId
        let canonical = try manifest.canonicalBytes()
        let signature = try ManifestSignature.sign(manifestBytes: canonical, with: key)
        if isArchive {
            try DurableFiles.atomicWrite(canonical, to: work.appendingPathComponent(BundleManifest.fileName))
            try DurableFiles.atomicWrite(signature, to: work.appendingPathComponent(BundleManifest.signatureFileName))
            try BundleFiles.writeArchive(from: work, to: bundle, limits: limits)
        } else {
            try DurableFiles.atomicWrite(canonical, to: bundle.appendingPathComponent(BundleManifest.fileName))
            try DurableFiles.atomicWrite(signature, to: bundle.appendingPathComponent(BundleManifest.signatureFileName))
        }
        return manifest
    }

    /// Moves an assembled bundle folder to `output`, or writes it there as one archive file
    /// (model and software bundles).
    static func publish(_ work: URL, to output: URL, archive: Bool, limits: BundleLimits) throws {
        if archive {
            try BundleFiles.writeArchive(from: work, to: output, limits: limits)
        } else {
            try BundleFiles.fsyncTree(work)
            guard rename(work.path, output.path) == 0 else { throw DurableFiles.ioError("cannot move bundle to", output) }
            try DurableFiles.fsync(output.deletingLastPathComponent(), directory: true)
        }
    }
}
