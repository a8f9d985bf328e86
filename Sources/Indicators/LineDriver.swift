/// Where the indicator's levels go and the button's edges come from.
public protocol LineDriver: AnyObject {
    /// Sets every output line to `levels` (logical: active-low wiring is the driver's business).
    func apply(_ levels: LineLevels) throws
    /// Waits up to `timeout` for button edges; returns them in order (empty on timeout or when
    /// no button is configured). `true` = pressed.
    func waitForButtonEdges(timeout: Duration) throws -> [Bool]
    /// Lets go of the lines (they revert to the kernel default: see docs/indicators.md).
    func release()
}

/// A driver for tests: records every level written and hands out queued button edges.
public final class FakeLineDriver: LineDriver {
    public private(set) var levels = LineLevels.dark
    public private(set) var writes: [LineLevels] = []
    public private(set) var released = false
    public var queuedEdges: [Bool] = []

    public init() {}

    public func apply(_ levels: LineLevels) throws {
        self.levels = levels
        writes.append(levels)
    }

    public func waitForButtonEdges(timeout: Duration) throws -> [Bool] {
        defer { queuedEdges = [] }
        return queuedEdges
    }

    public func release() {
        released = true
        levels = .dark
    }
}

/// Drives a `LineDriver` from the state machine: feeds events with the clock's time, records
/// acknowledgements, and writes the lines only when their levels change.
public final class IndicatorController {
    public private(set) var machine: IndicatorStateMachine
    private let driver: LineDriver
    private let acknowledgements: AcknowledgementStore?
    private let clock: () -> MonotonicTime
    private let wallClock: () -> Date
    private var written: LineLevels?

    /// `clock` is monotonic time (tests inject one); `wallClock` stamps acknowledgement records.
    public init(driver: LineDriver, timing: IndicatorTiming = IndicatorTiming(), acknowledgements: AcknowledgementStore?,
                clock: @escaping () -> MonotonicTime, wallClock: @escaping () -> Date = Date.init) {
        self.driver = driver
        self.machine = IndicatorStateMachine(timing: timing)
        self.acknowledgements = acknowledgements
        self.clock = clock
        self.wallClock = wallClock
    }

    /// Applies an event from the service (analysis started/finished, fault, CLI acknowledgement...).
    public func handle(_ event: IndicatorStateMachine.Event) throws {
        let effects = machine.handle(event, at: clock())
        try perform(effects)
        try refresh()
    }

    /// One turn of the loop: wait for button edges until the next blink/debounce change (at most
    /// `maxWait`), feed them, and update the lines.
    public func poll(maxWait: Duration = .milliseconds(100)) throws {
        let now = clock()
        let wait = machine.nextChange(after: now).map { min(max(.zero, $0 - now), maxWait) } ?? maxWait
        for pressed in try driver.waitForButtonEdges(timeout: wait) {
            try perform(machine.handle(.buttonEdge(pressed: pressed), at: clock()))
        }
        try perform(machine.advance(to: clock()))
        try refresh()
    }

    private func perform(_ effects: [IndicatorStateMachine.Effect]) throws {
        for case .acknowledged(let series, let source) in effects {
            try acknowledgements?.append(Acknowledgement(seriesInstanceUID: series, time: wallClock(), source: source))
        }
    }

    private func refresh() throws {
        let levels = machine.levels(at: clock())
        guard levels != written else { return }
        try driver.apply(levels)
        written = levels
    }
}

import Foundation
