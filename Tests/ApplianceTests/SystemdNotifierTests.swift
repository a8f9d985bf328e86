import Foundation
import XCTest
@testable import Appliance
#if canImport(Glibc)
import Glibc
#endif

/// A unix datagram socket standing in for systemd's notify socket.
final class NotifySocket {
    let path: String
    let fd: Int32

    init() throws {
        path = NSTemporaryDirectory() + "ichtriage-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { throw POSIXError(.EADDRINUSE) }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd); unlink(path) }

    /// Every datagram that arrives within `seconds`.
    func receive(for seconds: Double) -> [String] {
        var messages: [String] = []
        let end = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < end {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { messages.append(String(decoding: buffer[0..<n], as: UTF8.self)) }
        }
        return messages
    }
}

final class SystemdNotifierTests: XCTestCase {
    func testNoSocketMeansNoOp() {
        let notifier = SystemdNotifier(environment: [:])
        XCTAssertFalse(notifier.isActive)
        XCTAssertFalse(notifier.notify("READY=1"))
        XCTAssertNil(notifier.watchdogInterval)
    }

    func testMessagesArriveOnTheSocket() throws {
        let socket = try NotifySocket()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "400000"])
        XCTAssertEqual(notifier.watchdogInterval, .milliseconds(400))
        notifier.ready(status: "watching /drop\nmodel ok")
        notifier.status("analysing series 1.2.3")
        notifier.watchdog()
        let messages = socket.receive(for: 0.3)
        XCTAssertEqual(messages, ["READY=1\nSTATUS=watching /drop model ok", "STATUS=analysing series 1.2.3", "WATCHDOG=1"])
    }

    func testWatchdogPidForAnotherProcessDisablesWatchdog() {
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"])
        XCTAssertNil(notifier.watchdogInterval)
    }

    /// The heartbeat is rate-limited, and stops as soon as the loop that calls it stops.
    func testWatchdogBeatsOnlyWhileTheLoopRuns() throws {
        let socket = try NotifySocket()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "200000"])
        let watchdog = Watchdog(notifier: notifier)
        XCTAssertEqual(watchdog.maximumWait, .milliseconds(100))
        // A busy loop beating every 5 ms for 0.5 s sends about one message per 50 ms, not 100.
        // (Bounds, not exact counts: on a loaded machine the loop beats less often than every 5 ms.)
        let end = Date().addingTimeInterval(0.5)
        var beats = 0
        while Date() < end { watchdog.beat(); beats += 1; usleep(5000) }
        let busy = socket.receive(for: 0.1).filter { $0 == "WATCHDOG=1" }.count
        XCTAssertGreaterThanOrEqual(busy, 2, "beats reach systemd")
        XCTAssertLessThanOrEqual(busy, 12, "at most one message per 50 ms")
        XCTAssertLessThan(busy, beats, "rate-limited: fewer messages (\(busy)) than beats (\(beats))")
        // The loop is stuck: nothing beats, nothing arrives.
        XCTAssertEqual(socket.receive(for: 0.4), [])
    }
}
