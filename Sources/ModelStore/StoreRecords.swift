import Foundation

/// A model as the store, the CLI and the status screen name it.
public struct ModelSummary: Codable, Sendable, Equatable {
    public var modelName: String
    public var modelVersion: String
    /// SHA-256 of the bundle's manifest.json: the bundle's identity.
    public var manifestSHA256: String
    /// "a" or "b" once installed; nil for a bundle that is not in the store.
    public var slot: String?
    public var keyId: String?
    public var calibrationId: String?

    init(_ manifest: BundleManifest, manifestSHA256: String, slot: String?) {
        modelName = manifest.modelName; modelVersion = manifest.modelVersion
        self.manifestSHA256 = manifestSHA256; self.slot = slot
        keyId = manifest.keyId; calibrationId = manifest.calibrationId
    }

    init(_ ref: ActivePointer.SlotRef) {
        modelName = ref.modelName; modelVersion = ref.modelVersion
        manifestSHA256 = ref.manifestSHA256; slot = ref.slot
    }
}

/// A freshly switched model must complete `required` analyses before it is trusted; a crash
/// or a failed analysis before then rolls it back.
public struct ProbationState: Codable, Sendable, Equatable {
    public var required: Int
    public var succeeded: Int
    /// Service starts seen while on probation (a model that crashes the process at load time
    /// never finishes an analysis; too many starts roll it back).
    public var starts: Int
    /// An analysis was started and has not reported back: if the process dies, that is a crash.
    public var analysisInFlight: Bool
}

/// `active.json`, the store's single switch. Written only by atomic rename.
struct ActivePointer: Codable, Equatable {
    struct SlotRef: Codable, Equatable {
        var slot: String
        var manifestSHA256: String
        var modelName: String
        var modelVersion: String
    }
    var format = 1
    var active: SlotRef
    var switchedAt: String
    /// The model the active one replaced, kept for rollback; nil after an automatic rollback.
    var previous: SlotRef?
    var probation: ProbationState?
    /// Set when a model failed on probation with nothing to roll back to: the appliance is in
    /// its fault state until a good model is installed.
    var outOfService: String?
}

/// What happened, when, and which model is active now: kept in the store for the status
/// screen and written back to the stick when it is writable.
public struct Receipt: Codable, Sendable, Equatable {
    public var receiptFormat = 1
    /// "install", "rollback" or "automatic-rollback".
    public var action: String
    /// ISO 8601 UTC.
    public var time: String
    /// File name of the bundle as found (no folder, so no stick layout leaks into logs).
    public var source: String?
    /// The bundle the action concerned, when it got far enough to be read.
    public var bundle: ModelSummary?
    /// "installed", "already-active", "rejected", "rolled-back" or "failed".
    public var result: String
    /// `ModelStoreError.Code` of a rejection or failure.
    public var reasonCode: String?
    /// Human-readable reason (rejection, failure, or why a rollback happened).
    public var reason: String?
    public var selfTest: SelfTestOutcome?
    public var referenceCheck: SelfTestOutcome?
    /// The model active after the action (nil: none, the appliance is in its fault state).
    public var activeModel: ModelSummary?
    public var previousModel: ModelSummary?
    public var applianceVersion: String

    public var accepted: Bool { result == "installed" || result == "already-active" || result == "rolled-back" }
}

/// The result of `install` or `rollback`: the receipt, where it was written, and the error of
/// a rejection (the store is unchanged then).
public struct StoreActionResult: Sendable {
    public var receipt: Receipt
    /// Receipt copy written beside the bundle (nil when that folder was not writable).
    public var stickReceipt: URL?
    public var error: ModelStoreError?
}

/// One slot as `model list` shows it.
public struct SlotStatus: Codable, Sendable, Equatable {
    public var slot: String
    public var active: Bool
    /// Verified model in the slot (signature and every hash); nil when empty or invalid.
    public var model: ModelSummary?
    /// Why the slot holds no verified model.
    public var problem: String?
}

/// The store as the status screen and `model list` show it.
public struct StoreStatus: Codable, Sendable {
    /// The verified active model; nil means the appliance is in its fault state.
    public var activeModel: ModelSummary?
    /// Why there is no active model.
    public var fault: String?
    public var previousModel: ModelSummary?
    public var probation: ProbationState?
    public var switchedAt: String?
    public var slots: [SlotStatus]
    public var lastReceipt: Receipt?
}

/// What the store did at service start.
public enum ProbationEvent: Equatable, Sendable {
    /// Nothing to do (no probation, or the report concerned another model).
    case none
    /// One more good analysis; `succeeded` of `required`.
    case progressed(succeeded: Int, required: Int)
    /// Probation over: the model is trusted from now on.
    case committed
    /// The model was rolled back (reason in the receipt).
    case rolledBack(Receipt)
}
