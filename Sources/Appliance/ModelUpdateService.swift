import Foundation
import Indicators
import Logging
import ModelStore
import ServiceLifecycle

/// Installs signed model bundles that a field engineer brings: any `*.ichmodel` file directly in
/// a watched folder or in its `ichtriage-updates/` subfolder (a USB stick mounted below
/// /media/ichtriage, say). The model store copies the bundle to local staging, verifies it there
/// (signature, hashes, limits), self-tests it in the engine and switches atomically; the analysis
/// picks the new model up at its next series, and a running analysis finishes on the old one.
/// Each bundle file (by path, size and mtime) is tried once; the receipt says what happened.
public struct ModelUpdateService: Service {
    let store: ModelStore
    let folders: [String]
    let logger: Logger
    var interval: Duration = .seconds(5)

    public init(store: ModelStore, folders: [String], logger: Logger) {
        self.store = store
        self.folders = folders
        self.logger = logger
    }

    public func run() async throws {
        var tried = Set<String>()
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            for bundle in Self.candidates(in: folders) where !tried.contains(bundle.key) {
                tried.insert(bundle.key)
                let result = store.install(bundleAt: bundle.url)
                let r = result.receipt
                let metadata: Logger.Metadata = [
                    "bundle": "\(bundle.url.lastPathComponent)", "result": "\(r.result)",
                    "model": "\(r.bundle.map { "\($0.modelName) \($0.modelVersion)" } ?? "-")",
                ]
                if result.error == nil { logger.notice("model update", metadata: metadata) }
                else { logger.error("model update refused", metadata: metadata.merging(["reason": "\(r.reason ?? "")"]) { $1 }) }
            }
            await pause(interval)
        }
    }

    /// Bundle files that are not growing any more (a copy still in progress is left for later).
    static func candidates(in folders: [String]) -> [(url: URL, key: String)] {
        let fm = FileManager.default
        var found: [(URL, String)] = []
        for folder in folders {
            // The folder itself, its ichtriage-updates/, and that of each subfolder (one stick each).
            let subfolders = (try? fm.contentsOfDirectory(atPath: folder)) ?? []
            let places = [folder, folder + "/ichtriage-updates"] + subfolders.map { folder + "/" + $0 + "/ichtriage-updates" }
            for dir in places {
                guard let names = try? fm.contentsOfDirectory(atPath: dir) else { continue }
                for name in names.sorted() where name.hasSuffix(".ichmodel") && !name.hasPrefix(".") {
                    let url = URL(fileURLWithPath: dir).appendingPathComponent(name)
                    guard let attributes = try? fm.attributesOfItem(atPath: url.path),
                          let modified = attributes[.modificationDate] as? Date,
                          Date().timeIntervalSince(modified) > 2 else { continue }
                    let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
                    found.append((url, "\(url.path)|\(size)|\(modified.timeIntervalSince1970)"))
                }
            }
        }
        return found
    }
}

extension ModelUpdateNotice {
    /// The status screen's view of a model store receipt (nil when its time does not parse).
    public init?(_ receipt: Receipt) {
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let time = parser.date(from: receipt.time) ?? ISO8601DateFormatter().date(from: receipt.time) else { return nil }
        let outcome: Outcome
        switch receipt.result {
        case "installed": outcome = .installed
        case "already-active": outcome = .alreadyActive
        case "rolled-back": outcome = .rolledBack
        case "rejected": outcome = .rejected
        default: outcome = .failed
        }
        func name(_ m: ModelSummary?) -> String? { m.map { "\($0.modelName) \($0.modelVersion)" } }
        self.init(action: receipt.action, time: time, outcome: outcome,
                  subject: name(receipt.bundle) ?? receipt.source, reason: receipt.reason, activeModel: name(receipt.activeModel))
    }
}
