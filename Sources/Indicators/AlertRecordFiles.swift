import Foundation
import Triage

/// Alert records read from disk, with their thumbnails resolved against the record's folder.
public struct LoadedAlertRecord: Sendable {
    public var record: AlertRecord
    public var file: URL
    public var thumbnailFiles: [URL] { record.thumbnailURLs(relativeTo: file.deletingLastPathComponent()) }

    public func screenAlert(acknowledgements: [Acknowledgement]) -> ScreenAlert {
        let ack = acknowledgements.filter { $0.seriesInstanceUID == record.seriesInstanceUID }.map(\.time).min()
        return ScreenAlert(record: record, thumbnailFiles: thumbnailFiles, acknowledgedAt: ack)
    }
}

public enum AlertRecordFiles {
    /// Reads `paths`: record files, or folders searched two levels deep for `*.json`.
    /// A named file that is not a valid record is an error; a bad file found in a folder is
    /// reported in `problems` and skipped, so one broken record does not hide the others.
    public static func load(_ paths: [URL]) throws -> (records: [LoadedAlertRecord], problems: [String]) {
        var records: [LoadedAlertRecord] = []
        var problems: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
                throw AlertRecordError(path: path.path, problem: "does not exist")
            }
            if !isDirectory.boolValue {
                records.append(LoadedAlertRecord(record: try AlertRecord.load(from: path), file: path))
                continue
            }
            for file in jsonFiles(in: path, depth: 2) {
                do {
                    records.append(LoadedAlertRecord(record: try AlertRecord.load(from: file), file: file))
                } catch {
                    problems.append("\(error)")
                }
            }
        }
        return (records, problems)
    }

    private static func jsonFiles(in folder: URL, depth: Int) -> [URL] {
        guard depth > 0, let entries = try? FileManager.default.contentsOfDirectory(
            at: folder, includingPropertiesForKeys: [.isDirectoryKey], options: [.skipsHiddenFiles]) else { return [] }
        var files: [URL] = []
        for entry in entries.sorted(by: { $0.path < $1.path }) {
            if (try? entry.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true {
                files += jsonFiles(in: entry, depth: depth - 1)
            } else if entry.pathExtension.lowercased() == "json" {
                files.append(entry)
            }
        }
        return files
    }
}
