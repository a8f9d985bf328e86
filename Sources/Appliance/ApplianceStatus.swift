import Foundation
import Indicators
import ServiceLifecycle

/// What the services tell each other about the appliance's condition: faults by source, whether
/// a series is being analysed, when the last series was seen. The indicator service reads it;
/// intake, analysis and the disk check write it. Changes bump `generation` so readers redraw only
/// when something changed.
public final class ApplianceStatus: @unchecked Sendable {
    public enum FaultSource: String, Sendable, CaseIterable {
        case model, disk, dropFolder
    }

    private let lock = NSLock()
    private var faults: [FaultSource: Fault] = [:]
    private var _analysing = false
    private var _lastSeriesSeen: Date?
    private var _generation = 0
    private var _analysedCount = 0

    public init() {}

    public func setFault(_ fault: Fault?, from source: FaultSource) {
        update { if $0.faults[source] != fault { $0.faults[source] = fault; return true } else { return false } }
    }

    public func setAnalysing(_ analysing: Bool) {
        update { if $0._analysing != analysing { $0._analysing = analysing; return true } else { return false } }
    }

    public func seriesSeen(at time: Date = Date()) {
        update { $0._lastSeriesSeen = time; return true }
    }

    public func analysisFinished() {
        update { $0._analysedCount += 1; return true }
    }

    /// The most important current fault (model before disk before drop folder).
    public var fault: Fault? { read { s in FaultSource.allCases.lazy.compactMap { s.faults[$0] }.first } }
    /// The fault one source reports now, if any.
    public func fault(from source: FaultSource) -> Fault? { read { $0.faults[source] } }
    public var analysing: Bool { read { $0._analysing } }
    public var lastSeriesSeen: Date? { read { $0._lastSeriesSeen } }
    public var generation: Int { read { $0._generation } }
    public var analysedCount: Int { read { $0._analysedCount } }

    private func update(_ change: (ApplianceStatus) -> Bool) {
        lock.lock()
        if change(self) { _generation += 1 }
        lock.unlock()
    }

    private func read<T>(_ body: (ApplianceStatus) -> T) -> T {
        lock.lock(); defer { lock.unlock() }
        return body(self)
    }
}

/// Sleeps up to `duration`, waking early (within a quarter second) when the service group shuts
/// down gracefully or the task is cancelled, so SIGTERM never waits on a long timer.
func pause(_ duration: Duration) async {
    let clock = ContinuousClock()
    let end = clock.now + duration
    while clock.now < end && !Task.isCancelled && !Task.isShuttingDownGracefully {
        try? await Task.sleep(for: min(.milliseconds(250), end - clock.now))
    }
}
