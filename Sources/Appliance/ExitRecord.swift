import Foundation

/// How the previous run of the service ended, as systemd tells its `ExecStopPost=` command
/// (`ichtriaged --record-exit`, environment SERVICE_RESULT, EXIT_CODE, EXIT_STATUS). The next
/// start reads it to tell a crash while a series was being analysed (which counts against that
/// series, see `JobStore.maximumFailures`) from a stop, a kill from outside or a power cut
/// (which do not: the series is simply analysed again). No record at all means the process
/// never got to say: a power cut, or a run outside systemd.
public struct ExitRecord: Codable, Sendable, Equatable {
    /// SERVICE_RESULT: success, exit-code, signal, core-dump, watchdog, oom-kill, timeout, ...
    public var serviceResult: String
    /// EXIT_CODE: exited, killed or dumped.
    public var exitCode: String
    /// EXIT_STATUS: the exit status, or the signal name (SEGV, KILL, ...).
    public var exitStatus: String
    public var time: Date

    public static let fileName = "last-exit.json"

    public init(serviceResult: String, exitCode: String, exitStatus: String, time: Date = Date()) {
        self.serviceResult = serviceResult
        self.exitCode = exitCode
        self.exitStatus = exitStatus
        self.time = time
    }

    /// From systemd's environment for ExecStopPost=; nil outside systemd.
    public init?(environment: [String: String], time: Date = Date()) {
        guard let result = environment["SERVICE_RESULT"] else { return nil }
        self.init(serviceResult: result, exitCode: environment["EXIT_CODE"] ?? "", exitStatus: environment["EXIT_STATUS"] ?? "",
                  time: time)
    }

    /// Whether the service itself failed: a crash signal, a core dump, the watchdog (a stuck
    /// analysis), running out of memory, or a failing exit status. SIGKILL, SIGTERM and the like
    /// come from outside and say nothing about the series in hand.
    public var isCrash: Bool {
        switch serviceResult {
        case "core-dump", "watchdog", "oom-kill", "exit-code": return true
        case "signal": return ["SEGV", "BUS", "ILL", "TRAP", "FPE", "ABRT", "SYS"].contains(exitStatus)
        default: return false
        }
    }

    public var description: String { "\(serviceResult) (\(exitCode) \(exitStatus))" }

    /// Writes the record into the state directory (write, then rename: never half a file).
    public func write(stateDirectory: String) throws {
        let target = URL(fileURLWithPath: stateDirectory).appendingPathComponent(Self.fileName)
        do {
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            try encoder.encode(self).write(to: target, options: .atomic)
        } catch {
            throw ApplianceError(.store, "cannot write \(target.path): \(error.localizedDescription)")
        }
    }

    /// Reads and removes the record the previous run left; nil when there is none. An unreadable
    /// record is removed too and reads as none (treated like a power cut).
    public static func take(stateDirectory: String) -> ExitRecord? {
        let file = URL(fileURLWithPath: stateDirectory).appendingPathComponent(fileName)
        guard let data = try? Data(contentsOf: file) else { return nil }
        try? FileManager.default.removeItem(at: file)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(ExitRecord.self, from: data)
    }
}
