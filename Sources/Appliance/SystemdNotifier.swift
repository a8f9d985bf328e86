#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation

/// Speaks systemd's sd_notify protocol (a datagram to the unix socket in $NOTIFY_SOCKET), so the
/// service can say READY, STATUS and WATCHDOG without linking libsystemd.
///
/// Outside systemd (no NOTIFY_SOCKET) every call is a no-op, so the same binary runs by hand.
public struct SystemdNotifier: Sendable {
    /// The socket path; a leading "@" means the Linux abstract namespace.
    public let socketPath: String?
    /// How often systemd expects WATCHDOG=1, from WATCHDOG_USEC (and WATCHDOG_PID, when set,
    /// must name this process). nil when the unit has no WatchdogSec.
    public let watchdogInterval: Duration?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketPath = path
        var interval: Duration?
        if let usecText = environment["WATCHDOG_USEC"], let usec = UInt64(usecText), usec > 0 {
            let pidMatches = environment["WATCHDOG_PID"].map { UInt32($0) == UInt32(getpid()) } ?? true
            if pidMatches { interval = .microseconds(Int64(usec)) }
        }
        watchdogInterval = interval
    }

    public var isActive: Bool { socketPath != nil }

    /// Sends one notification (newline-separated KEY=VALUE assignments).
    /// Returns false when there is no socket or the send failed; never throws, since a lost
    /// notification must not take the service down (systemd restarts it if READY never comes).
    @discardableResult
    public func notify(_ state: String) -> Bool {
        guard let socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }

        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(socketPath.utf8)
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + pathBytes.count)
        let payload = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                sendto(fd, payload, payload.count, Int32(MSG_NOSIGNAL), sockaddrPointer, length)
            }
        }
        return sent == payload.count
    }

    public func ready(status: String) { notify("READY=1\nSTATUS=\(Self.oneLine(status))") }
    public func status(_ text: String) { notify("STATUS=\(Self.oneLine(text))") }
    public func watchdog() { notify("WATCHDOG=1") }
    public func stopping(status: String) { notify("STOPPING=1\nSTATUS=\(Self.oneLine(status))") }

    /// STATUS is one line: newlines would start new assignments.
    static func oneLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\n", with: " ")
    }
}
