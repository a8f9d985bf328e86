import Foundation
import Indicators

/// The job store (SQLite) is the only place acknowledgements live. Before it, `ichtriage ack`
/// appended them to `<state>/acknowledgements.jsonl`; such a file is imported once, by whichever
/// comes first (the service at start or `ichtriage ack`), then renamed to
/// `acknowledgements.jsonl.imported` so it is neither read again nor lost.
public enum LegacyAcknowledgements {
    /// Imports and renames the file if there is one. Returns how many alerts it acknowledged.
    @discardableResult
    public static func importIfPresent(stateDirectory: URL, into store: JobStore) throws -> Int {
        let legacy = JSONLinesAcknowledgementStore(stateDirectory: stateDirectory)
        guard FileManager.default.fileExists(atPath: legacy.file.path) else { return 0 }
        let items = try legacy.all().map { (seriesInstanceUID: $0.seriesInstanceUID, time: $0.time, source: $0.source) }
        let applied = try store.importAcknowledgements(items)
        let done = legacy.file.path + ".imported"
        guard rename(legacy.file.path, done) == 0 else {
            throw ApplianceError(.store, "cannot rename \(legacy.file.path) to \(done): \(String(cString: strerror(errno)))")
        }
        return applied
    }
}
