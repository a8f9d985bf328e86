import Foundation
import Indicators
import Logging
import ServiceLifecycle

/// Keeps the disk from filling: prunes alert records, quarantine and outbox entries by age and
/// total size, and shows a fault (screen and amber light) when free space runs low, instead of
/// failing or dropping series silently.
public struct HousekeepingService: Service {
    let store: JobStore
    let status: ApplianceStatus
    let configuration: ApplianceConfiguration
    let logger: Logger
    var interval: Duration = .seconds(30)

    public init(store: JobStore, status: ApplianceStatus, configuration: ApplianceConfiguration, logger: Logger) {
        self.store = store
        self.status = status
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            runOnce()
            await pause(interval)
        }
    }

    /// One pass: prune, then check free space.
    public func runOnce(now: Date = Date()) {
        let cutoff = now.addingTimeInterval(-Double(configuration.retention.days) * 86_400)
        do {
            let removed = try store.prune(before: cutoff)
            if removed > 0 { logger.info("pruned old alerts", metadata: ["count": "\(removed)"]) }
        } catch {
            logger.error("pruning the store failed", metadata: ["error": "\(error)"])
        }
        let folders = [configuration.quarantineDirectory, configuration.outboxDirectory,
                       configuration.stateDirectory + "/alerts"]
        let pruned = Self.prune(folders: folders, olderThan: cutoff,
                                maximumBytes: Int64(configuration.retention.maximumMegabytes) << 20)
        if pruned > 0 { logger.info("pruned old files", metadata: ["count": "\(pruned)"]) }

        let lowOn = [configuration.stateDirectory, configuration.quarantineDirectory].filter { path in
            guard let attributes = try? FileManager.default.attributesOfFileSystem(forPath: path),
                  let free = (attributes[.systemFreeSize] as? NSNumber)?.int64Value else { return false }
            return free < Int64(configuration.minimumFreeMegabytes) << 20
        }
        let fault: Fault? = lowOn.isEmpty ? nil : .diskFull("less than \(configuration.minimumFreeMegabytes) MB free on \(lowOn.joined(separator: ", "))")
        // The screen alone is not enough: whoever reads the journal must see it come and go too.
        let before = status.fault(from: .disk)
        if fault != before {
            if fault != nil { logger.warning("disk space low", metadata: ["minimumFreeMegabytes": "\(configuration.minimumFreeMegabytes)", "folders": "\(lowOn.count)"]) }
            else { logger.notice("disk space recovered") }
        }
        status.setFault(fault, from: .disk)
    }

    /// Removes the top-level entries of `folders` older than `cutoff`, then the oldest ones while
    /// the folders together hold more than `maximumBytes`. Returns how many entries went.
    static func prune(folders: [String], olderThan cutoff: Date, maximumBytes: Int64) -> Int {
        let fm = FileManager.default
        var entries: [(url: URL, modified: Date, bytes: Int64)] = []
        for folder in folders {
            let base = URL(fileURLWithPath: folder)
            guard let names = try? fm.contentsOfDirectory(atPath: folder) else { continue }
            for name in names {
                let url = base.appendingPathComponent(name)
                let modified = (try? fm.attributesOfItem(atPath: url.path)[.modificationDate] as? Date) ?? Date()
                entries.append((url, modified, size(of: url)))
            }
        }
        entries.sort { $0.modified < $1.modified }
        var total = entries.reduce(0) { $0 + $1.bytes }
        var removed = 0
        for entry in entries where entry.modified < cutoff || total > maximumBytes {
            if (try? fm.removeItem(at: entry.url)) != nil {
                total -= entry.bytes
                removed += 1
            }
        }
        return removed
    }

    static func size(of url: URL) -> Int64 {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory) else { return 0 }
        guard isDirectory.boolValue else {
            return (try? fm.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.int64Value ?? 0
        }
        var total: Int64 = 0
        if let files = fm.enumerator(at: url, includingPropertiesForKeys: [.fileSizeKey]) {
            for case let file as URL in files {
                total += Int64((try? file.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0)
            }
        }
        return total
    }
}
