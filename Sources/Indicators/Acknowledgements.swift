import Foundation
import Triage

/// A person said "I have seen this CRITICAL alert".
public struct Acknowledgement: Codable, Sendable, Equatable {
    public var seriesInstanceUID: String
    public var time: Date
    /// "button", "cli", or whatever the caller names.
    public var source: String

    public init(seriesInstanceUID: String, time: Date, source: String) {
        self.seriesInstanceUID = seriesInstanceUID
        self.time = time
        self.source = source
    }
}

/// Where acknowledgements are kept. The JSON-lines file below is the first; the service swaps in
/// its SQLite store behind the same protocol.
public protocol AcknowledgementStore: AnyObject {
    func append(_ acknowledgement: Acknowledgement) throws
    func all() throws -> [Acknowledgement]
}

/// Append-only `acknowledgements.jsonl` in the state directory: one JSON object per line,
/// fsync'd after each append. A final line cut short by a power loss is ignored on reading and
/// never glued to the next record.
public final class JSONLinesAcknowledgementStore: AcknowledgementStore {
    public static let defaultStateDirectory = "/var/lib/ichtriage"
    public static let fileName = "acknowledgements.jsonl"
    public let file: URL

    public init(stateDirectory: URL) {
        file = stateDirectory.appendingPathComponent(Self.fileName)
    }

    /// The state directory from `option`, else env ICHTRIAGE_STATE_DIR, else /var/lib/ichtriage.
    public static func stateDirectory(option: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        URL(fileURLWithPath: option ?? environment["ICHTRIAGE_STATE_DIR"] ?? defaultStateDirectory)
    }

    public func append(_ acknowledgement: Acknowledgement) throws {
        let encoder = AlertRecord.jsonEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = try encoder.encode(acknowledgement)
        line.append(0x0A)
        let directory = file.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw IndicatorsError(.acknowledgementStore, "cannot create state directory \(directory.path): \(error.localizedDescription)")
        }
        let fd = open(file.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw IndicatorsError(.acknowledgementStore, "cannot open \(file.path) for appending: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        if try endsWithoutNewline(fd) { line.insert(0x0A, at: 0) }
        try line.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = write(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else {
                    throw IndicatorsError(.acknowledgementStore, "writing \(file.path) failed: \(String(cString: strerror(errno)))")
                }
                done += n
            }
        }
        guard fsync(fd) == 0 else {
            throw IndicatorsError(.acknowledgementStore, "fsync of \(file.path) failed: \(String(cString: strerror(errno)))")
        }
    }

    private func endsWithoutNewline(_ fd: Int32) throws -> Bool {
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return false }
        var last: UInt8 = 0
        return pread(fd, &last, 1, size - 1) == 1 && last != 0x0A
    }

    public func all() throws -> [Acknowledgement] {
        guard FileManager.default.fileExists(atPath: file.path) else { return [] }
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            throw IndicatorsError(.acknowledgementStore, "cannot read \(file.path): \(error.localizedDescription)")
        }
        let decoder = AlertRecord.jsonDecoder()
        let lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
        var result: [Acknowledgement] = []
        for (number, line) in lines.enumerated() where !line.isEmpty {
            do {
                result.append(try decoder.decode(Acknowledgement.self, from: Data(line)))
            } catch {
                // Only a complete line (followed by a newline) that does not parse is an error;
                // an unterminated last line is an append cut short.
                if number == lines.count - 1 { continue }
                throw IndicatorsError(.acknowledgementStore, "\(file.path) line \(number + 1) is not an acknowledgement record")
            }
        }
        return result
    }
}

/// Which CRITICAL alert an acknowledgement without a series applies to: the newest
/// unacknowledged one (the one on top of the screen).
public enum CurrentAlert {
    public static func unacknowledgedCritical(_ records: [AlertRecord], acknowledgements: [Acknowledgement]) -> [AlertRecord] {
        let acknowledged = Set(acknowledgements.map(\.seriesInstanceUID))
        return records.filter { $0.tier == .critical && !acknowledged.contains($0.seriesInstanceUID) }
            .sorted { ($0.completionTime, $0.seriesInstanceUID) > ($1.completionTime, $1.seriesInstanceUID) }
    }
}
