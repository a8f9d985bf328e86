import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the store lives and what it accepts.
public struct ModelStoreConfiguration: Sendable {
    public static let defaultApplianceVersion = "0.1.0"

    /// State folder: slots, pointer, staging, receipts.
    public var storeDirectory = URL(fileURLWithPath: "/var/lib/ichtriage/models")
    /// Trusted public keys (`*.pub`), several at once for rotation.
    public var keysDirectory = URL(fileURLWithPath: "/etc/ichtriage/keys")
    /// This appliance's software version, compared with a bundle's minimumApplianceVersion.
    public var applianceVersion = ModelStoreConfiguration.defaultApplianceVersion
    public var limits = BundleLimits()
    /// Analyses a new model must complete before it is trusted (0: no probation).
    public var probationAnalyses = 3
    /// Service starts allowed on probation before the model is rolled back.
    public var probationMaxStarts = 3
    /// Receipts kept in the store.
    public var receiptsKept = 50

    public init(storeDirectory: URL? = nil, keysDirectory: URL? = nil) {
        if let storeDirectory { self.storeDirectory = storeDirectory }
        if let keysDirectory { self.keysDirectory = keysDirectory }
    }
}

/// The appliance's model store: two slots (a, b), one pointer file `active.json` switched by
/// atomic rename, a staging folder, receipts.
///
/// Layout under `storeDirectory`:
///   active.json       the switch: active slot + its manifest SHA-256, previous, probation
///   slots/a, slots/b  verified bundle folders; never modified while active or locked
///   slots/a.lock ...  readers (`ActiveModel`) hold a shared flock; installers need exclusive
///   staging/          local copy of an incoming bundle, verified and self-tested here
///   receipts/         one JSON per action, plus last.json
///   install.lock      one installer at a time; pointer.lock guards active.json updates
public final class ModelStore: @unchecked Sendable {
    public let configuration: ModelStoreConfiguration
    private let selfTester: ModelSelfTester
    private let referenceCheck: ReferenceSeriesCheck?
    private let now: @Sendable () -> Date

    /// Tests only: called at each step of an install with the step's name, so a test can look
    /// at the store exactly as a crash at that point would leave it.
    var stepHook: ((String) -> Void)?

    public init(configuration: ModelStoreConfiguration, selfTester: ModelSelfTester,
                referenceCheck: ReferenceSeriesCheck? = nil, now: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        self.selfTester = selfTester
        self.referenceCheck = referenceCheck
        self.now = now
    }

    static let slotNames = ["a", "b"]
    private var root: URL { configuration.storeDirectory }
    private var pointerURL: URL { root.appendingPathComponent("active.json") }
    private var slotsURL: URL { root.appendingPathComponent("slots") }
    private var stagingURL: URL { root.appendingPathComponent("staging") }
    private var receiptsURL: URL { root.appendingPathComponent("receipts") }
    func slotURL(_ slot: String) -> URL { slotsURL.appendingPathComponent(slot) }
    private func slotLockURL(_ slot: String) -> URL { slotsURL.appendingPathComponent("\(slot).lock") }

    private func prepareLayout() throws {
        for dir in [root, slotsURL, stagingURL, receiptsURL] { try DurableFiles.makeDirectory(dir) }
    }

    private func timestamp() -> String {
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: now())
    }

    // MARK: pointer

    func readPointer() throws -> ActivePointer? {
        guard case .regular = DurableFiles.kind(of: pointerURL) else {
            if case .missing = DurableFiles.kind(of: pointerURL) { return nil }
            throw ModelStoreError(.corruptStore, "active.json is not a regular file")
        }
        let data = try DurableFiles.readSmallFile(pointerURL, limit: 1 << 20, what: "pointer")
        guard let p = try? JSONDecoder().decode(ActivePointer.self, from: data), p.format == 1,
              Self.slotNames.contains(p.active.slot),
              p.previous.map({ Self.slotNames.contains($0.slot) && $0.slot != p.active.slot }) ?? true
        else { throw ModelStoreError(.corruptStore, "active.json is unreadable") }
        return p
    }

    private func writePointer(_ p: ActivePointer?) throws {
        guard let p else {
            unlink(pointerURL.path)
            try DurableFiles.fsync(root, directory: true)
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try DurableFiles.atomicWrite(try encoder.encode(p), to: pointerURL)
    }

    private func withPointerLock<T>(_ body: () throws -> T) throws -> T {
        try prepareLayout()
        guard let lock = try FileLock(root.appendingPathComponent("pointer.lock"), exclusive: true, blocking: true) else {
            throw ModelStoreError(.io, "cannot lock the store")
        }
        defer { lock.release() }
        return try body()
    }

    private func keys() throws -> TrustedKeys { try TrustedKeys.load(from: configuration.keysDirectory) }

    // MARK: reading

    /// Opens the active model, verifying its slot again (signature and every file's hash).
    /// Never returns an unverified model: any doubt is an error, the appliance's fault state.
    public func openActive() throws -> ActiveModel {
        for _ in 0..<3 {
            guard let pointer = try readPointer() else {
                throw ModelStoreError(.noActiveModel, "no model installed")
            }
            if let why = pointer.outOfService {
                throw ModelStoreError(.noActiveModel, "model \(pointer.active.modelName) \(pointer.active.modelVersion) was taken out of service: \(why)")
            }
            let slot = pointer.active.slot
            guard let lock = try FileLock(slotLockURL(slot), exclusive: false, blocking: true) else { continue }
            // The pointer may have moved while we waited for the lock: start again then.
            guard try readPointer()?.active == pointer.active else { lock.release(); continue }
            do {
                let bundle = try BundleVerifier.verify(directory: slotURL(slot), keys: try keys(),
                                                       limits: configuration.limits,
                                                       expectedManifestSHA256: pointer.active.manifestSHA256)
                return ActiveModel(slot: slot, bundle: bundle, lock: lock)
            } catch let e as ModelStoreError {
                throw ModelStoreError(.noActiveModel,
                                      "active model \(pointer.active.modelName) \(pointer.active.modelVersion) in slot \(slot) failed verification: \(e)")
            }
        }
        throw ModelStoreError(.io, "the active model kept changing while opening it")
    }

    /// The manifest SHA-256 the pointer names (nil: none or out of service), read without
    /// verifying anything: cheap enough to poll, so a service notices a switch made by the
    /// CLI and calls `openActive()` again.
    public func activeIdentity() -> String? {
        guard let p = try? readPointer(), p.outOfService == nil else { return nil }
        return p.active.manifestSHA256
    }

    /// Everything `model list` and the status screen show; verifies both slots (it hashes
    /// both models, so a status screen should call it on change, not on every frame).
    public func status() -> StoreStatus {
        var st = StoreStatus(slots: [])
        let pointer: ActivePointer?
        do { pointer = try readPointer() } catch {
            pointer = nil
            st.fault = "\(error)"
        }
        let keys = try? self.keys()
        for slot in Self.slotNames {
            var s = SlotStatus(slot: slot, active: pointer?.active.slot == slot)
            if case .missing = DurableFiles.kind(of: slotURL(slot)) {
                s.problem = "empty"
            } else if let keys {
                do {
                    let b = try BundleVerifier.verify(directory: slotURL(slot), keys: keys, limits: configuration.limits)
                    s.model = ModelSummary(b.manifest, manifestSHA256: b.manifestSHA256, slot: slot)
                } catch { s.problem = "\(error)" }
            } else {
                s.problem = "no trusted keys to verify with"
            }
            st.slots.append(s)
        }
        if let pointer {
            let a = st.slots.first { $0.slot == pointer.active.slot }
            if let why = pointer.outOfService {
                st.fault = "model \(pointer.active.modelName) \(pointer.active.modelVersion) was taken out of service: \(why)"
            } else if let m = a?.model, m.manifestSHA256 == pointer.active.manifestSHA256 {
                st.activeModel = m
            } else {
                st.fault = "active model \(pointer.active.modelName) \(pointer.active.modelVersion) (slot \(pointer.active.slot)) does not verify: \(a?.problem ?? "slot holds a different bundle")"
            }
            if let prev = pointer.previous,
               st.slots.first(where: { $0.slot == prev.slot })?.model?.manifestSHA256 == prev.manifestSHA256 {
                st.previousModel = ModelSummary(prev)
            }
            st.probation = pointer.probation
            st.switchedAt = pointer.switchedAt
        } else if st.fault == nil {
            st.fault = "no model installed"
        }
        st.lastReceipt = lastReceipt()
        return st
    }

    public func lastReceipt() -> Receipt? {
        guard let d = try? DurableFiles.readSmallFile(receiptsURL.appendingPathComponent("last.json"), limit: 1 << 20, what: "receipt")
        else { return nil }
        return try? JSONDecoder().decode(Receipt.self, from: d)
    }

    // MARK: install

    /// Installs a bundle (folder or single file) found at `source`: copy to staging, verify
    /// there, policy checks, self-test, reference check, write the inactive slot, switch.
    /// A rejection leaves the active model as it was. The receipt goes to the store and,
    /// best effort, to `receiptDirectory` (by default the folder holding the bundle).
    public func install(bundleAt source: URL, receiptDirectory: URL? = nil) -> StoreActionResult {
        var receipt = Receipt(action: "install", time: timestamp(), source: source.lastPathComponent,
                              result: "rejected", applianceVersion: configuration.applianceVersion)
        var failure: ModelStoreError?
        do {
            try prepareLayout()
            guard let installLock = try FileLock(root.appendingPathComponent("install.lock"), exclusive: true, blocking: true) else {
                throw ModelStoreError(.io, "cannot lock the store for installing")
            }
            defer { installLock.release() }
            try installLocked(source, &receipt)
        } catch let e as ModelStoreError {
            failure = e
        } catch {
            failure = ModelStoreError(.io, "\(error)")
        }
        if let failure {
            receipt.result = "rejected"
            receipt.reasonCode = failure.code.rawValue
            receipt.reason = failure.message
        }
        fillCurrentModels(&receipt)
        // The copy goes beside the bundle only when there was a bundle (never to a guessed folder).
        let bundleFound: Bool
        if case .missing = DurableFiles.kind(of: source) { bundleFound = false } else { bundleFound = true }
        let stick = record(receipt, copyTo: receiptDirectory ?? (bundleFound ? source.deletingLastPathComponent() : nil))
        return StoreActionResult(receipt: receipt, stickReceipt: stick, error: failure)
    }

    private func installLocked(_ source: URL, _ receipt: inout Receipt) throws {
        cleanStaging()
        defer { cleanStaging() }  // a refused bundle leaves nothing behind
        let incoming = stagingURL.appendingPathComponent("incoming")
        try BundleFiles.stage(source, into: incoming, limits: configuration.limits)
        stepHook?("staged")
        let bundle = try BundleVerifier.verify(directory: incoming, keys: try keys(), limits: configuration.limits)
        stepHook?("verified")
        let m = bundle.manifest
        receipt.bundle = ModelSummary(m, manifestSHA256: bundle.manifestSHA256, slot: nil)

        guard let appliance = SemanticVersion(configuration.applianceVersion),
              let needed = SemanticVersion(m.minimumApplianceVersion), needed <= appliance else {
            throw ModelStoreError(.applianceTooOld, "\(m.modelName) \(m.modelVersion) needs appliance \(m.minimumApplianceVersion) or newer; this is \(configuration.applianceVersion)")
        }
        let before = try? readPointer()
        if let before {
            let same = before.active.manifestSHA256 == bundle.manifestSHA256
            if same && before.outOfService == nil {
                receipt.result = "already-active"
                receipt.reason = "this exact bundle is already the active model"
                return
            }
            // Re-installing the very bundle that was taken out of service is allowed (it goes on
            // probation again); anything else obeys the version policy.
            if !same { try checkVersionPolicy(bundle: m, active: before.active) }
        }

        let selfTest = selfTester.selfTest(bundle.selfTestRequest)
        receipt.selfTest = selfTest
        guard selfTest.passed else { throw ModelStoreError(.selfTestFailed, "self-test failed: \(selfTest.detail)") }
        if let referenceCheck {
            let ref = referenceCheck.check(bundle.selfTestRequest)
            receipt.referenceCheck = ref
            guard ref.passed else { throw ModelStoreError(.referenceCheckFailed, "reference series check failed: \(ref.detail)") }
        }

        // Switch: lock the target slot (fails if an analysis still uses it), then, holding the
        // pointer lock, make sure nothing moved, replace the slot and rename the pointer.
        let target = before?.active.slot == "a" ? "b" : "a"
        guard let slotLock = try FileLock(slotLockURL(target), exclusive: true, blocking: false) else {
            throw ModelStoreError(.slotBusy, "slot \(target) (the previous model) is still used by a running analysis; try again when it has finished")
        }
        defer { slotLock.release() }
        stepHook?("slot-locked")
        try withPointerLock {
            let current = try? readPointer()
            guard current?.active == before?.active else {
                throw ModelStoreError(.io, "the active model changed during the install; try again")
            }
            let trash = stagingURL.appendingPathComponent("replaced-\(target)")
            if case .missing = DurableFiles.kind(of: slotURL(target)) {} else {
                guard rename(slotURL(target).path, trash.path) == 0 else { throw DurableFiles.ioError("cannot move aside", slotURL(target)) }
                stepHook?("old-slot-moved-aside")
            }
            guard rename(incoming.path, slotURL(target).path) == 0 else { throw DurableFiles.ioError("cannot move into", slotURL(target)) }
            try DurableFiles.fsync(slotsURL, directory: true)
            try DurableFiles.fsync(stagingURL, directory: true)
            stepHook?("new-slot-in-place")
            let probation = configuration.probationAnalyses > 0
                ? ProbationState(required: configuration.probationAnalyses, succeeded: 0, starts: 0, analysisInFlight: false) : nil
            try writePointer(ActivePointer(
                active: .init(slot: target, manifestSHA256: bundle.manifestSHA256, modelName: m.modelName, modelVersion: m.modelVersion),
                switchedAt: timestamp(),
                // A model taken out of service is no rollback target.
                previous: current?.outOfService == nil ? current?.active : nil, probation: probation))
            stepHook?("pointer-switched")
        }
        receipt.result = "installed"
        receipt.bundle?.slot = target
    }

    private func checkVersionPolicy(bundle m: BundleManifest, active: ActivePointer.SlotRef) throws {
        guard let new = SemanticVersion(m.modelVersion) else { return }  // validated already
        guard let old = SemanticVersion(active.modelVersion) else { return }
        if new > old { return }
        if m.downgradeAllowed { return }
        if new == old {
            throw ModelStoreError(.downgrade, "version \(m.modelVersion) is the active version but a different bundle; a replacement needs a new version or a signed downgrade")
        }
        throw ModelStoreError(.downgrade, "\(m.modelName) \(m.modelVersion) is older than the active \(active.modelName) \(active.modelVersion) and is not signed as a downgrade")
    }

    /// Removes leftovers of an interrupted install or pointer write.
    private func cleanStaging() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: stagingURL.path)) ?? [] {
            DurableFiles.removeTree(stagingURL.appendingPathComponent(name))
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [] where name.hasPrefix(".active.json.tmp-") {
            unlink(root.appendingPathComponent(name).path)
        }
    }

    // MARK: rollback and probation

    /// Why an automatic rollback happens: a model that misbehaved on probation is taken out of
    /// service when there is nothing to go back to; a slot that merely failed verification at
    /// start is not (the cause may be outside the store, e.g. an unreadable keys folder).
    enum RollbackKind { case manual, probationFailure, verificationFallback }

    /// Switches back to the previous model after verifying it again (`model rollback`).
    public func rollback(reason: String = "rolled back by an engineer") -> StoreActionResult {
        rollback(reason: reason, kind: .manual)
    }

    func rollback(reason: String, kind: RollbackKind) -> StoreActionResult {
        var receipt = Receipt(action: kind == .manual ? "rollback" : "automatic-rollback", time: timestamp(), source: nil,
                              result: "failed", reason: reason, applianceVersion: configuration.applianceVersion)
        var failure: ModelStoreError?
        do {
            try rollbackSwitch(kind: kind, &receipt)
            receipt.result = "rolled-back"
        } catch {
            let e = error as? ModelStoreError ?? ModelStoreError(.io, "\(error)")
            failure = e
            receipt.reasonCode = e.code.rawValue
            receipt.reason = "\(reason); rollback failed: \(e.message)"
        }
        fillCurrentModels(&receipt)
        _ = record(receipt, copyTo: nil)
        return StoreActionResult(receipt: receipt, stickReceipt: nil, error: failure)
    }

    private func rollbackSwitch(kind: RollbackKind, _ receipt: inout Receipt) throws {
        guard let pointer = try readPointer() else { throw ModelStoreError(.noActiveModel, "no model installed") }
        receipt.bundle = ModelSummary(pointer.active)
        func takeOutOfService(_ why: String) throws {
            guard kind == .probationFailure else { return }
            try withPointerLock {
                guard var p = try readPointer(), p == pointer else { return }
                p.outOfService = why
                p.probation = nil
                try writePointer(p)
            }
        }
        guard let prev = pointer.previous else {
            try takeOutOfService(receipt.reason ?? "failed on probation")
            throw ModelStoreError(.noPreviousModel, kind == .probationFailure
                                  ? "no previous model; the failing model was taken out of service"
                                  : "there is no previous model to roll back to")
        }
        guard let lock = try FileLock(slotLockURL(prev.slot), exclusive: false, blocking: false) else {
            throw ModelStoreError(.slotBusy, "slot \(prev.slot) is being written by an install")
        }
        defer { lock.release() }
        do {
            _ = try BundleVerifier.verify(directory: slotURL(prev.slot), keys: try keys(), limits: configuration.limits,
                                          expectedManifestSHA256: prev.manifestSHA256)
        } catch {
            try takeOutOfService(receipt.reason ?? "failed on probation")
            throw ModelStoreError(.noPreviousModel, "previous model \(prev.modelName) \(prev.modelVersion) no longer verifies: \(error)")
        }
        try withPointerLock {
            guard try readPointer() == pointer else { throw ModelStoreError(.io, "the store changed during the rollback; try again") }
            try writePointer(ActivePointer(active: prev, switchedAt: timestamp(),
                                           previous: kind == .manual ? pointer.active : nil, probation: nil))
        }
    }

    /// Call once when the service starts, before `openActive`. Settles probation: an analysis
    /// that never reported back means the last process died on the new model; too many starts
    /// without a finished analysis too. Either rolls the model back. Then verifies the active
    /// slot and falls back to the previous model if it no longer verifies.
    /// `previousRunCrashed: false` when the caller knows the last process did not fail by itself
    /// (stopped, killed from outside, power cut): that run then says nothing about the model, so
    /// neither its unfinished analysis nor this start counts against it.
    @discardableResult
    public func serviceDidStart(previousRunCrashed: Bool = true) -> ProbationEvent {
        var rollbackReason: String?
        do {
            try withPointerLock {
                if let idle = try? FileLock(root.appendingPathComponent("install.lock"), exclusive: true, blocking: false) {
                    cleanStaging()  // no installer is running: leftovers are from a killed one
                    idle.release()
                }
                guard var p = try readPointer(), var prob = p.probation else { return }
                if !previousRunCrashed {
                    prob.analysisInFlight = false
                } else {
                    prob.starts += 1
                }
                if prob.analysisInFlight {
                    rollbackReason = "model \(p.active.modelName) \(p.active.modelVersion) crashed during its analysis \(prob.succeeded + 1) of \(prob.required) on probation"
                } else if prob.starts > configuration.probationMaxStarts {
                    rollbackReason = "model \(p.active.modelName) \(p.active.modelVersion) restarted \(prob.starts - 1) times on probation without finishing \(prob.required) analyses"
                }
                p.probation = prob
                try writePointer(p)
            }
        } catch {
            return .none
        }
        if let rollbackReason {
            return .rolledBack(rollback(reason: rollbackReason, kind: .probationFailure).receipt)
        }
        // A damaged active slot (bit rot, a tampered disk) is found here, at start; if the
        // previous model still verifies, the appliance goes back to it instead of a fault.
        do {
            try openActive().release()
        } catch let e as ModelStoreError where e.code == .noActiveModel {
            if (try? readPointer())??.previous != nil {
                return .rolledBack(rollback(reason: e.message, kind: .verificationFallback).receipt)
            }
        } catch {}
        return .none
    }

    /// Call right before an analysis starts on `model` (cheap unless on probation).
    public func analysisWillStart(on model: ActiveModel) {
        try? withPointerLock {
            guard var p = try readPointer(), p.active.manifestSHA256 == model.manifestSHA256, var prob = p.probation else { return }
            prob.analysisInFlight = true
            p.probation = prob
            try writePointer(p)
        }
    }

    /// Call when an analysis ends. `success: false` means the model or engine failed (crash,
    /// exception, non-finite output), not that the series was unreadable. On probation a
    /// failure rolls the model back at once. With `model` nil the active model is meant.
    @discardableResult
    public func reportAnalysisOutcome(success: Bool, model: ActiveModel? = nil) -> ProbationEvent {
        var event = ProbationEvent.none
        var failedModel: String?
        try? withPointerLock {
            guard var p = try readPointer(), var prob = p.probation else { return }
            if let model, model.manifestSHA256 != p.active.manifestSHA256 { return }
            prob.analysisInFlight = false
            if !success {
                failedModel = "\(p.active.modelName) \(p.active.modelVersion)"
                p.probation = prob
                try writePointer(p)
                return
            }
            prob.succeeded += 1
            if prob.succeeded >= prob.required {
                p.probation = nil
                event = .committed
            } else {
                p.probation = prob
                event = .progressed(succeeded: prob.succeeded, required: prob.required)
            }
            try writePointer(p)
        }
        if let failedModel {
            return .rolledBack(rollback(reason: "model \(failedModel) failed an analysis on probation", kind: .probationFailure).receipt)
        }
        return event
    }

    // MARK: receipts

    private func fillCurrentModels(_ receipt: inout Receipt) {
        let pointer = try? readPointer()
        receipt.activeModel = pointer.flatMap { $0.outOfService == nil ? ModelSummary($0.active) : nil }
        receipt.previousModel = pointer?.previous.map { ModelSummary($0) }
    }

    /// Keeps the receipt in the store and, best effort, writes a copy to `folder`.
    private func record(_ receipt: Receipt, copyTo folder: URL?) -> URL? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(receipt) else { return nil }
        let stamp = receipt.time.replacingOccurrences(of: ":", with: "").replacingOccurrences(of: "-", with: "")
        let name = "receipt-\(stamp)-\(getpid())-\(receipt.action).json"
        try? prepareLayout()
        try? DurableFiles.writeFile(data, to: receiptsURL.appendingPathComponent(name), exclusive: false)
        try? DurableFiles.atomicWrite(data, to: receiptsURL.appendingPathComponent("last.json"))
        let kept = ((try? FileManager.default.contentsOfDirectory(atPath: receiptsURL.path)) ?? [])
            .filter { $0.hasPrefix("receipt-") }.sorted()
        for old in kept.dropLast(max(configuration.receiptsKept, 1)) {
            unlink(receiptsURL.appendingPathComponent(old).path)
        }
        guard let folder else { return nil }
        let stickURL = folder.appendingPathComponent("ichtriage-\(name)")
        do {
            try DurableFiles.writeFile(data, to: stickURL, exclusive: true)
            return stickURL
        } catch {
            return nil  // read-only or pulled stick: the store copy is enough
        }
    }
}
