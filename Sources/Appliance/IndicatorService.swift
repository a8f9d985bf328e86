import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Indicators
import Logging
import ServiceLifecycle
import Triage

/// Drives what the technician sees and hears: the status screen (framebuffer and PNG, redrawn
/// only when something changed) and, when configured, the GPIO lights, buzzer and button.
/// The job store is the truth for alerts and acknowledgements, so a restart shows the same
/// screen and keeps an unacknowledged CRITICAL blinking; acknowledgements made elsewhere
/// (`ichtriage ack`) are picked up from it.
public final class IndicatorService: Service, @unchecked Sendable {
    public struct Outputs: Sendable {
        public var framebuffer: String = ""
        public var png: String = ""
        /// Used when there is no framebuffer to take the size from.
        public var panel = PanelSize(width: 1024, height: 600)
        public var identifiers: [IdentifierField] = [.accessionNumber, .patientInitials]
        public init() {}
    }

    let store: JobStore
    let status: ApplianceStatus
    let outputs: Outputs
    let gpio: GPIOConfig?
    let alertsDirectory: URL
    let watchedFolder: String
    let modelDescription: @Sendable () -> String
    /// The last model update to show (the model store's last receipt).
    let modelUpdate: @Sendable () -> ModelUpdateNotice?
    let logger: Logger
    private let events = EventQueue()

    public init(store: JobStore, status: ApplianceStatus, outputs: Outputs, gpio: GPIOConfig?, alertsDirectory: URL,
                watchedFolder: String, modelDescription: @escaping @Sendable () -> String,
                modelUpdate: @escaping @Sendable () -> ModelUpdateNotice? = { nil }, logger: Logger) {
        self.modelUpdate = modelUpdate
        self.store = store
        self.status = status
        self.outputs = outputs
        self.gpio = gpio
        self.alertsDirectory = alertsDirectory
        self.watchedFolder = watchedFolder
        self.modelDescription = modelDescription
        self.logger = logger
    }

    /// Called by the analysis service when an alert was raised (from its task).
    public func alertRaised(_ alert: AlertRow) {
        events.push(.analysisFinished(seriesInstanceUID: alert.series.seriesInstanceUID,
                                      tier: Tier(rawValue: alert.tier) ?? .notAnalysable))
    }

    public func run() async throws {
        var screenConfig = ScreenConfig()
        screenConfig.identifiers = outputs.identifiers
        let renderer = try StatusScreenRenderer(config: screenConfig)
        var framebuffer: LinuxFramebuffer?
        if !outputs.framebuffer.isEmpty {
            do { framebuffer = try LinuxFramebuffer(path: outputs.framebuffer) } catch {
                logger.warning("no framebuffer; the screen goes to PNG only", metadata: ["error": "\(error)"])
            }
        }
        let controller = try makeController()
        // Unacknowledged CRITICAL alerts from before a restart keep the red light blinking.
        for alert in try store.alerts(limit: 50).reversed() where alert.acknowledgedAt == nil {
            try controller?.handle(.analysisFinished(seriesInstanceUID: alert.series.seriesInstanceUID,
                                                    tier: Tier(rawValue: alert.tier) ?? .notAnalysable))
        }
        var drawnKey = ""
        var wasAnalysing = false
        var fault: Fault?
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // Events from other services and the store, in order.
            let analysing = status.analysing
            if analysing && !wasAnalysing { try controller?.handle(.analysisStarted) }
            wasAnalysing = analysing
            for event in events.drain() { try controller?.handle(event) }
            if status.fault != fault {
                fault = status.fault
                try controller?.handle(.fault(fault))
            }
            let alerts = try store.alerts(limit: 20)
            if let controller {
                let acknowledgedInStore = Set(alerts.filter { $0.acknowledgedAt != nil }.map(\.series.seriesInstanceUID))
                for series in controller.machine.unacknowledged where acknowledgedInStore.contains(series) {
                    try controller.handle(.acknowledge(seriesInstanceUID: series, source: "store"))
                }
            }
            // Redraw when anything shown changed (the minute ticks for "time since arrival").
            let now = Date()
            let update = modelUpdate()
            let key = "\(status.generation)|\(update.map { "\($0.time)\($0.outcome)" } ?? "")|\(alerts.map { "\($0.id):\($0.acknowledgedAt != nil)" })|\(Int(now.timeIntervalSince1970 / 60))"
            if key != drawnKey {
                drawnKey = key
                draw(renderer: renderer, framebuffer: framebuffer, alerts: alerts, modelUpdate: update, now: now)
            }
            if let controller { try controller.poll(maxWait: .milliseconds(100)) } else {
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    private func makeController() throws -> IndicatorController? {
        guard let gpio else { return nil }
        let driver = try GPIODLineDriver(config: gpio)
        let clock = ContinuousClock()
        let start = clock.now
        return IndicatorController(driver: driver, acknowledgements: StoreAcknowledgements(store: store),
                                   clock: { start.duration(to: clock.now) })
    }

    private func draw(renderer: StatusScreenRenderer, framebuffer: LinuxFramebuffer?, alerts: [AlertRow],
                      modelUpdate: ModelUpdateNotice?, now: Date) {
        let screenAlerts: [ScreenAlert] = alerts.compactMap { row in
            guard let record = try? AlertRecord.jsonDecoder().decode(AlertRecord.self, from: row.record) else { return nil }
            let folder = AnalysisService.outputFolder(alertsDirectory, row.series)
            return ScreenAlert(record: record, thumbnailFiles: record.thumbnailURLs(relativeTo: folder),
                               acknowledgedAt: row.acknowledgedAt)
        }
        let disk = try? FileManager.default.attributesOfFileSystem(forPath: alertsDirectory.path)
        let health = HealthStatus(
            watchedFolder: watchedFolder, lastSeriesSeen: status.lastSeriesSeen,
            diskFreeBytes: (disk?[.systemFreeSize] as? NSNumber)?.int64Value,
            diskTotalBytes: (disk?[.systemSize] as? NSNumber)?.int64Value,
            modelStatus: modelDescription(), fault: status.fault, modelUpdate: modelUpdate)
        let state = ScreenState(alerts: screenAlerts, health: health, analysing: status.analysing, now: now)
        do {
            let size = framebuffer?.geometry.panelSize ?? outputs.panel
            let frame = try renderer.render(state, size: size)
            if let framebuffer { _ = try framebuffer.show(frame) }
            if !outputs.png.isEmpty {
                // Write then rename, so a reader never sees half a PNG.
                let temporary = outputs.png + ".tmp"
                try frame.writePNG(to: URL(fileURLWithPath: temporary))
                guard rename(temporary, outputs.png) == 0 else {
                    throw ApplianceError(.store, "cannot rename \(temporary) to \(outputs.png): \(String(cString: strerror(errno)))")
                }
            }
        } catch {
            logger.error("status screen not updated", metadata: ["error": "\(error)"])
        }
    }
}

/// Button presses go into the job store (who acknowledged what, and when).
final class StoreAcknowledgements: AcknowledgementStore {
    let store: JobStore
    init(store: JobStore) { self.store = store }
    func append(_ acknowledgement: Acknowledgement) throws {
        // "store": the acknowledgement came from the store itself; nothing to record again.
        guard acknowledgement.source != "store" else { return }
        try store.acknowledge(seriesInstanceUID: acknowledgement.seriesInstanceUID, source: acknowledgement.source,
                              at: acknowledgement.time)
    }
    func all() throws -> [Acknowledgement] {
        try store.alerts(limit: 1000).compactMap { row in
            guard let time = row.acknowledgedAt else { return nil }
            return Acknowledgement(seriesInstanceUID: row.series.seriesInstanceUID, time: time, source: row.acknowledgedBy ?? "")
        }
    }
}

/// Indicator events handed from other tasks to the indicator loop.
final class EventQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [IndicatorStateMachine.Event] = []
    func push(_ event: IndicatorStateMachine.Event) { lock.lock(); items.append(event); lock.unlock() }
    func drain() -> [IndicatorStateMachine.Event] {
        lock.lock(); defer { lock.unlock() }
        let drained = items
        items = []
        return drained
    }
}
