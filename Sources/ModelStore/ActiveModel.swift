import Foundation

/// The model an analysis runs on. Holding this value holds a shared lock on its slot, so the
/// store never overwrites that slot (a later install fails with `slotBusy` instead); a switch
/// to another model does not affect it. Keep it for the whole analysis, then let it go.
public final class ActiveModel: @unchecked Sendable {
    public let slot: String
    /// The slot folder (immutable while this value lives).
    public let directory: URL
    public let manifest: BundleManifest
    public let manifestSHA256: String
    public let vectors: SelfTestVectors
    private let lock: FileLock

    init(slot: String, bundle: VerifiedBundle, lock: FileLock) {
        self.slot = slot
        directory = bundle.directory
        manifest = bundle.manifest
        manifestSHA256 = bundle.manifestSHA256
        vectors = bundle.vectors
        self.lock = lock
    }

    public var modelURL: URL { directory.appendingPathComponent(manifest.modelFile) }
    public var thresholds: [String: Double] { manifest.thresholds }
    public var summary: ModelSummary { ModelSummary(manifest, manifestSHA256: manifestSHA256, slot: slot) }
    public var selfTestRequest: SelfTestRequest {
        SelfTestRequest(bundleDirectory: directory, manifest: manifest, vectors: vectors)
    }

    /// Lets the slot go before this value is released.
    public func release() { lock.release() }
}
