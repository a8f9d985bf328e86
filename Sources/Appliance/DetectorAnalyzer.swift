import DICOMIntake
import Foundation
import Logging
import ModelStore
import Triage

/// The production analyzer: the triage pipeline on the model store's active model, which the
/// store verifies (signature and every file's hash) each time it is opened. With no verified
/// model there is nothing to analyse with: `unavailableReason` says why, jobs wait, the screen
/// and the amber light show the fault. It never runs an unverified model.
public final class DetectorAnalyzer: SeriesAnalyzer, @unchecked Sendable {
    public let store: ModelStore
    let triage: TriageConfiguration
    let outboxDirectory: URL
    let logger: Logger
    private let lock = NSLock()
    private var current: (identity: String, model: ActiveModel, pipeline: TriagePipeline)?
    private var problem: String?
    /// The CNN run on slices as they arrive, for the model that was active then.
    private let preparation = SlicePreparation()

    public init(store: ModelStore, triage: TriageConfiguration, outboxDirectory: URL, logger: Logger,
                previousRunCrashed: Bool = true) {
        self.store = store
        self.triage = triage
        self.outboxDirectory = outboxDirectory
        self.logger = logger
        let event = store.serviceDidStart(previousRunCrashed: previousRunCrashed)
        if case .none = event {} else { logger.warning("model store at start: \(event)") }
        refresh()
    }

    /// The analyzer for a configuration: the store under `<state>/models`, keys from the configuration.
    /// `previousRunCrashed`: see `ModelStore.serviceDidStart(previousRunCrashed:)` and `ExitRecord`.
    public static func make(configuration: ApplianceConfiguration, logger: Logger, previousRunCrashed: Bool = true) -> DetectorAnalyzer {
        let storeConfiguration = ModelStoreConfiguration(
            storeDirectory: URL(fileURLWithPath: configuration.stateDirectory + "/models"),
            keysDirectory: URL(fileURLWithPath: configuration.modelKeysDirectory))
        let store = ModelStore.appliance(configuration: storeConfiguration, threads: configuration.threads)
        var triage = TriageConfiguration()
        triage.threads = configuration.threads
        return DetectorAnalyzer(store: store, triage: triage,
                                outboxDirectory: URL(fileURLWithPath: configuration.outboxDirectory), logger: logger,
                                previousRunCrashed: previousRunCrashed)
    }

    public var unavailableReason: String? {
        refresh()
        lock.lock(); defer { lock.unlock() }
        return current == nil ? (problem ?? "no model") : nil
    }

    public var modelDescription: String {
        lock.lock(); defer { lock.unlock() }
        guard let current else { return "none (\(problem ?? "no model"))" }
        return "\(current.model.manifest.modelName) \(current.model.manifest.modelVersion)"
    }

    /// Opens the active model again when the store switched (an install or rollback by the CLI).
    func refresh() {
        let identity = store.activeIdentity()
        lock.lock()
        let unchanged = identity != nil && identity == current?.identity
        lock.unlock()
        if unchanged { return }
        var opened: (String, ActiveModel, TriagePipeline)?
        var why: String?
        do {
            let model = try store.openActive()
            let pipeline = TriagePipeline(configuration: triage, modelFolder: model.directory)
            if let bundleProblem = pipeline.bundleProblem {
                model.release()
                why = "the active model does not load: \(bundleProblem)"
            } else {
                opened = (model.manifestSHA256, model, pipeline)
            }
        } catch {
            why = "\(error)"
        }
        lock.lock()
        current?.model.release()
        current = opened.map { (identity: $0.0, model: $0.1, pipeline: $0.2) }
        problem = why
        lock.unlock()
        if let opened { logger.info("model active", metadata: ["model": "\(opened.1.manifest.modelName) \(opened.1.manifest.modelVersion)"]) }
        else { logger.error("no valid model", metadata: ["reason": "\(why ?? "")"]) }
    }

    public func analyze(_ series: CTSeries, outputDirectory: URL, heartbeat: @Sendable () -> Void) throws -> AnalysisOutcome {
        lock.lock()
        let active = current
        lock.unlock()
        guard let active else { throw ApplianceError(.store, problem ?? "no model") }
        store.analysisWillStart(on: active.model)
        let prepared = preparation.take(for: series, model: active.identity)
        var analysis = active.pipeline.analyze(series, prepared: prepared)
        if !prepared.isEmpty {
            logger.debug("incremental inference", metadata: ["series": "\(series.seriesInstanceUID)",
                                                             "prepared": "\(prepared.count)/\(series.slices.count)"])
        }
        heartbeat()
        let written: TriageOutputs.Written
        do {
            written = try TriageOutputs(root: outputDirectory.deletingLastPathComponent()).write(&analysis, series: series)
        } catch {
            store.reportAnalysisOutcome(success: false, model: active.model)
            throw error
        }
        store.reportAnalysisOutcome(success: true, model: active.model)
        heartbeat()
        var record = analysis.record
        // Absolute thumbnail paths: the screen finds them whatever folder layout wrote them.
        let folder = written.record.deletingLastPathComponent()
        record.thumbnails = record.thumbnailURLs(relativeTo: folder).map(\.path)
        moveToOutbox(written.secondaryCaptures)
        return AnalysisOutcome(tier: record.tier.rawValue, record: try AlertRecord.jsonEncoder().encode(record))
    }

    public func sliceArrived(_ slice: CTSlice) {
        lock.lock()
        let active = current
        lock.unlock()
        guard let active else { return }
        preparation.offer(slice, pipeline: active.pipeline, model: active.identity)
    }

    /// The Secondary Capture series go to the outbox folder PACS collects from.
    private func moveToOutbox(_ files: [URL]) {
        let fm = FileManager.default
        for file in files {
            let target = outboxDirectory.appendingPathComponent(file.deletingLastPathComponent().lastPathComponent)
                .appendingPathComponent(file.lastPathComponent)
            try? fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? fm.removeItem(at: target)
            do { try fm.moveItem(at: file, to: target) } catch {
                logger.error("could not move a Secondary Capture to the outbox", metadata: ["error": "\(error)"])
            }
        }
    }
}
