import DICOMIntake
import Foundation
import Logging
import ServiceLifecycle

/// Watches the drop folders and turns every complete series into a durable job before anything
/// else happens, so a crash after this point cannot lose it. A folder that is missing (a share
/// not mounted) is a visible fault and is retried, never a crash.
public struct IntakeService: Service {
    let folders: [String]
    let intake: IntakeConfiguration
    let store: JobStore
    let status: ApplianceStatus
    let logger: Logger
    /// Each stable slice of a series still arriving (incremental inference).
    let onSlice: @Sendable (CTSlice) -> Void

    public init(folders: [String], intake: IntakeConfiguration, store: JobStore, status: ApplianceStatus, logger: Logger,
                onSlice: @escaping @Sendable (CTSlice) -> Void = { _ in }) {
        self.onSlice = onSlice
        self.folders = folders
        self.intake = intake
        self.store = store
        self.status = status
        self.logger = logger
    }

    public func run() async throws {
        var watchers: [String: DropFolderWatcher] = [:]
        defer { for watcher in watchers.values { watcher.stop() } }
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            var missing: [String] = []
            for folder in folders where watchers[folder] == nil {
                let watcher = DropFolderWatcher(folder: folder, configuration: intake)
                do {
                    try watcher.start { [store, status, logger, onSlice, watcher] event in
                        Self.handle(event, store: store, status: status, logger: logger, retry: watcher.deliverAgain,
                                    onSlice: onSlice)
                    }
                    watchers[folder] = watcher
                    logger.info("watching drop folder", metadata: ["folder": "\(folder)"])
                } catch {
                    missing.append(folder)
                }
            }
            status.setFault(missing.isEmpty ? nil : .dropFolderMissing(missing.joined(separator: ", ")), from: .dropFolder)
            await pause(.seconds(max(intake.rescanSeconds, 0.5)))
        }
    }

    /// Called on a watcher's thread. Logs carry UIDs, counts and reasons, never patient names or
    /// file names (an export's folder names can hold a patient's name).
    /// `retry` asks for a series the store could not take to be delivered again later; `onSlice`
    /// gets each stable slice of a series still arriving (incremental inference).
    static func handle(_ event: DropFolderWatcher.Event, store: JobStore, status: ApplianceStatus, logger: Logger,
                       retry: (CTSeries) -> Void = { _ in }, onSlice: (CTSlice) -> Void = { _ in }) {
        switch event {
        case .series(let series):
            status.seriesSeen()
            let key = SeriesKey(studyInstanceUID: series.studyInstanceUID, seriesInstanceUID: series.seriesInstanceUID)
            let paths = series.slices.map(\.path)
            do {
                let payload = try JSONEncoder().encode(paths)
                let outcome = try store.enqueue(key, fingerprint: fingerprint(series), payload: payload)
                logger.info("series complete", metadata: [
                    "series": "\(series.seriesInstanceUID)", "slices": "\(series.slices.count)", "job": "\(outcome)",
                ])
            } catch {
                // The files stay in the drop folder; the watcher delivers the series again after a
                // quiet period, until the store takes it (a full disk freed). Before, it waited for
                // a restart (found by the soak's full-disk phase).
                logger.error("could not queue series; retrying", metadata: ["series": "\(series.seriesInstanceUID)", "error": "\(error)"])
                retry(series)
            }
        case .skipped(let skipped):
            logger.debug("file skipped", metadata: ["reason": "\(skipped.reason)"])
        case .quarantined(let record):
            logger.warning("file quarantined", metadata: ["reason": "\(record.reason)"])
        case .sliceArrived(let slice, _, _):
            onSlice(slice)
        }
    }

    /// Identifies the exact set of slices: the same files dropped twice give the same value.
    static func fingerprint(_ series: CTSeries) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a 64
        for uid in series.slices.map(\.sopInstanceUID).sorted() {
            for byte in uid.utf8 + [0] {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
        }
        return "\(series.slices.count)-" + String(hash, radix: 16)
    }
}
