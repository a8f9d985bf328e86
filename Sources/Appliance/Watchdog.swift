import Foundation

/// The analysis loop's heartbeat to systemd's watchdog.
///
/// Only the loop that does the work calls `beat()` (between stages, and while idle waiting for
/// work at least every `maximumWait`), so a pipeline stuck anywhere stops the WATCHDOG=1 messages
/// and systemd restarts the service. A separate timer task would keep beating for a dead loop.
public final class Watchdog: @unchecked Sendable {
    private let notifier: SystemdNotifier
    private let minimumGap: Duration
    private let clock = ContinuousClock()
    private let lock = NSLock()
    private var lastSent: ContinuousClock.Instant?

    /// The longest the analysis loop may wait for work before it must beat again.
    public let maximumWait: Duration

    public init(notifier: SystemdNotifier, fallbackInterval: Duration = .seconds(30)) {
        self.notifier = notifier
        let interval = notifier.watchdogInterval ?? fallbackInterval
        // systemd's advice: notify at half the interval. Rate-limit to a quarter so frequent
        // beats from a busy loop do not flood the socket.
        maximumWait = interval / 2
        minimumGap = interval / 4
    }

    /// Sends WATCHDOG=1 unless one went out less than a quarter interval ago.
    public func beat() {
        guard notifier.watchdogInterval != nil else { return }
        let now = clock.now
        lock.lock()
        let due = lastSent.map { now - $0 >= minimumGap } ?? true
        if due { lastSent = now }
        lock.unlock()
        if due { notifier.watchdog() }
    }
}
