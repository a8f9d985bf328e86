import Foundation
import Logging

/// swift-log output that reads well in journald: one line per message on stderr, with the
/// sd-daemon priority prefix ("<3>" error ... "<7>" debug) that journald turns into the
/// entry's priority, and metadata as key=value. No timestamps: the journal adds its own.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    let label: String

    public init(label: String, level: Logger.Level = .info) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
                    source: String, file: String, function: String, line: UInt) {
        let merged = metadata.merging(explicit ?? [:]) { $1 }
        let fields = merged.keys.sorted().map { "\($0)=\(merged[$0]!)" }.joined(separator: " ")
        let text = "<\(Self.priority(level))>\(message)\(fields.isEmpty ? "" : " " + fields)\n"
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }
}
