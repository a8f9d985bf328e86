import DICOMIntake
import Foundation
import Logging
import ServiceLifecycle
import Triage

/// The analysis loop: takes durable jobs one at a time, analyses, and finishes each job together
/// with its alert. It alone feeds systemd's watchdog, so if it hangs systemd restarts the service.
/// On SIGTERM it finishes the series in hand, then stops; a kill leaves the job `running`, and
/// it is handed out again at the next start.
public final class AnalysisService: Service, @unchecked Sendable {
    let store: JobStore
    let analyzer: SeriesAnalyzer
    let status: ApplianceStatus
    let notifier: SystemdNotifier
    let watchdog: Watchdog
    let intake: IntakeConfiguration
    /// Per-series folders for alert records and thumbnails: `<alertsDirectory>/<SeriesInstanceUID>/`.
    let alertsDirectory: URL
    let logger: Logger
    /// Called after an alert was raised (once per series), e.g. to update the indicators.
    let onAlert: @Sendable (AlertRow) -> Void
    private let stopping = LockedFlag()

    public init(store: JobStore, analyzer: SeriesAnalyzer, status: ApplianceStatus, notifier: SystemdNotifier,
                watchdog: Watchdog, intake: IntakeConfiguration, alertsDirectory: URL, logger: Logger,
                onAlert: @escaping @Sendable (AlertRow) -> Void = { _ in }) {
        self.store = store
        self.analyzer = analyzer
        self.status = status
        self.notifier = notifier
        self.watchdog = watchdog
        self.intake = intake
        self.alertsDirectory = alertsDirectory
        self.logger = logger
        self.onAlert = onAlert
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await loop()
        } onGracefulShutdown: { [stopping] in
            stopping.set()
        }
        notifier.stopping(status: "stopped after finishing the current series")
    }

    private func loop() async throws {
        var lastStatus = ""
        func say(_ text: String) {
            if text != lastStatus { notifier.status(text); lastStatus = text }
        }
        while !stopping.isSet && !Task.isCancelled {
            watchdog.beat()
            if let reason = analyzer.unavailableReason {
                status.setFault(.noValidModel(reason), from: .model)
                say("FAULT: no valid model (\(reason)); \(try store.pendingJobCount()) series waiting")
                try? await Task.sleep(for: watchdog.maximumWait)
                continue
            }
            status.setFault(nil, from: .model)
            guard let job = try store.claimNextJob() else {
                say("idle: \(status.analysedCount) series analysed since start")
                try? await Task.sleep(for: min(.milliseconds(250), watchdog.maximumWait))
                continue
            }
            say("analysing series \(job.series.seriesInstanceUID) (attempt \(job.attempts))")
            status.setAnalysing(true)
            process(job)
            status.setAnalysing(false)
            status.analysisFinished()
        }
    }

    /// One job, start to finish. Every way out either completes the job (with its one alert)
    /// or records a failure that leaves it queued for another attempt.
    func process(_ job: Job) {
        let started = Date()
        let outcome: AnalysisOutcome
        if job.state == .failed {
            outcome = notAnalysable(job, reason: "the analysis of this series failed \(job.failures) times; giving up on it", started: started)
        } else {
            do {
                let paths = (try? JSONDecoder().decode([String].self, from: job.payload)) ?? []
                let scan = DICOMIntake.scan(paths: paths, configuration: intake)
                let series = scan.series.first(where: { $0.seriesInstanceUID == job.series.seriesInstanceUID })
                // A USB stick pulled, or a share gone, between intake and analysis: never analyse
                // part of a series. The series is analysed when it comes back complete.
                let readable = series?.slices.count ?? 0
                guard let series, readable >= paths.count else {
                    outcome = notAnalysable(job, reason: "incomplete: \(paths.count - readable) of \(paths.count) files of this series are gone "
                                            + "(storage removed?); not analysed on part of it; it is analysed when it comes back complete",
                                            started: started)
                    return finish(job, outcome)
                }
                let folder = Self.outputFolder(alertsDirectory, job.series)
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                outcome = try analyzer.analyze(series, outputDirectory: folder, heartbeat: { [watchdog] in watchdog.beat() })
            } catch {
                logger.error("analysis failed", metadata: ["series": "\(job.series)", "attempt": "\(job.attempts)", "error": "\(error)"])
                do {
                    try store.recordFailure(jobID: job.id, reason: "\(error)")
                } catch {
                    logger.critical("cannot record the failure", metadata: ["error": "\(error)"])
                }
                return
            }
        }
        finish(job, outcome)
    }

    private func finish(_ job: Job, _ outcome: AnalysisOutcome) {
        do {
            let raised = try store.complete(jobID: job.id, tier: outcome.tier, record: outcome.record)
            logger.info("series analysed", metadata: [
                // "result", not "alert": every tier (NEGATIVE too) is stored once per series.
                "series": "\(job.series)", "tier": "\(outcome.tier)", "result": "\(raised ? "new" : "already recorded before")",
            ])
            if raised, let alert = try store.alerts(limit: 20).first(where: { $0.series == job.series }) {
                onAlert(alert)
            }
        } catch {
            logger.critical("cannot store the result", metadata: ["series": "\(job.series)", "error": "\(error)"])
        }
    }

    /// Where a series' record and thumbnails live: the folder TriageOutputs writes.
    public static func outputFolder(_ alertsDirectory: URL, _ series: SeriesKey) -> URL {
        alertsDirectory.appendingPathComponent(TriageOutputs.safeName(series.seriesInstanceUID), isDirectory: true)
    }

    private func notAnalysable(_ job: Job, reason: String, started: Date) -> AnalysisOutcome {
        let record = AlertRecord(
            studyInstanceUID: job.series.studyInstanceUID, seriesInstanceUID: job.series.seriesInstanceUID,
            arrivalTime: job.enqueuedAt, completionTime: Date(), probabilities: [:], tier: .notAnalysable,
            reason: reason, model: AlertRecord.Model(name: "none", version: "-"),
            timingsMs: ["total": Date().timeIntervalSince(started) * 1000])
        let data = (try? AlertRecord.jsonEncoder().encode(record)) ?? Data()
        return AnalysisOutcome(tier: Tier.notAnalysable.rawValue, record: data)
    }
}

/// A flag set from one task and read from another.
final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
