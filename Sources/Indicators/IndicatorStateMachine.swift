import Triage

/// Monotonic time as the indicator sees it: a duration since an arbitrary start. Tests pass
/// values directly; the controller reads a clock.
public typealias MonotonicTime = Duration

/// The four output lines, each either active (lit / sounding) or not. "Active" is logical:
/// active-low wiring is handled by the driver.
public struct LineLevels: Equatable, Sendable, CustomStringConvertible {
    public var red = false
    public var amber = false
    public var green = false
    public var buzzer = false

    public init(red: Bool = false, amber: Bool = false, green: Bool = false, buzzer: Bool = false) {
        self.red = red
        self.amber = amber
        self.green = green
        self.buzzer = buzzer
    }

    public static let dark = LineLevels()

    public var description: String {
        [("red", red), ("amber", amber), ("green", green), ("buzzer", buzzer)].map { "\($0.0)=\($0.1 ? "on" : "off")" }
            .joined(separator: " ")
    }
}

/// Timing of blinking, the buzzer and the button. Defaults: 1 Hz blink, a double beep every 2 s,
/// 30 ms debounce.
public struct IndicatorTiming: Sendable, Equatable {
    public var blinkPeriod: Duration = .milliseconds(1000)
    /// Buzzer pattern as alternating on/off durations starting with "on", repeated.
    public var buzzerPattern: [Duration] = [.milliseconds(200), .milliseconds(200), .milliseconds(200), .milliseconds(1400)]
    /// The button must hold a level this long before the level counts.
    public var debounce: Duration = .milliseconds(30)

    public init() {}
}

/// The indicator's logic, pure: events in (with the time they happened), line levels out for any
/// time. No clock, no I/O.
///
/// Lamps are independent, so several conditions show at once:
/// - red: blinking while a CRITICAL alert is unacknowledged (with the buzzer pattern); steady once
///   every CRITICAL is acknowledged, until the next NEGATIVE series or a reset.
/// - amber: blinking while in fault; otherwise steady while a series is being analysed.
/// - green: steady only when idle and healthy (no fault, not analysing, no red).
public struct IndicatorStateMachine: Sendable, Equatable {
    public enum Event: Sendable, Equatable {
        case analysisStarted
        /// A series finished with this tier (the alert record's series UID).
        case analysisFinished(seriesInstanceUID: String, tier: Tier)
        /// Someone acknowledged: one series, or (nil) the current one, i.e. the newest unacknowledged.
        case acknowledge(seriesInstanceUID: String?, source: String)
        case fault(Fault?)
        /// Clears the steady red of acknowledged alerts. Unacknowledged alerts survive a reset.
        case reset
        /// A raw edge on the button line (pressed = logical active), before debouncing.
        case buttonEdge(pressed: Bool)
    }

    /// What the owner must do because of an event: record an acknowledgement.
    public enum Effect: Sendable, Equatable {
        case acknowledged(seriesInstanceUID: String, source: String)
    }

    public let timing: IndicatorTiming
    public private(set) var analysing = false
    public private(set) var fault: Fault?
    /// Unacknowledged CRITICAL series, oldest first.
    public private(set) var unacknowledged: [String] = []
    /// True after all CRITICALs were acknowledged, until a NEGATIVE series or a reset.
    public private(set) var acknowledgedCritical = false
    private var alarmSince: MonotonicTime?
    private var faultSince: MonotonicTime?
    // Debouncer: the raw level, when it last changed, and the level that counts.
    private var rawPressed = false
    private var rawSince: MonotonicTime = .zero
    public private(set) var buttonPressed = false

    public init(timing: IndicatorTiming = IndicatorTiming()) {
        self.timing = timing
    }

    /// Applies an event that happened at `now` (after advancing time to `now`).
    public mutating func handle(_ event: Event, at now: MonotonicTime) -> [Effect] {
        var effects = advance(to: now)
        switch event {
        case .analysisStarted:
            analysing = true
        case .analysisFinished(let series, let tier):
            analysing = false
            switch tier {
            case .critical:
                if !unacknowledged.contains(series) { unacknowledged.append(series) }
                if alarmSince == nil { alarmSince = now }
            case .negative:
                acknowledgedCritical = false
            case .suspect, .notAnalysable:
                break
            }
        case .acknowledge(let series, let source):
            effects += acknowledge(series, source: source)
        case .fault(let newFault):
            if newFault != nil, fault == nil { faultSince = now }
            if newFault == nil { faultSince = nil }
            fault = newFault
        case .reset:
            acknowledgedCritical = false
        case .buttonEdge(let pressed):
            if pressed != rawPressed {
                rawPressed = pressed
                rawSince = now
            }
        }
        return effects
    }

    /// Lets time pass: a button level held for the debounce interval becomes the level; a press
    /// acknowledges the current alert.
    public mutating func advance(to now: MonotonicTime) -> [Effect] {
        guard rawPressed != buttonPressed, now - rawSince >= timing.debounce else { return [] }
        buttonPressed = rawPressed
        return buttonPressed ? acknowledge(nil, source: "button") : []
    }

    private mutating func acknowledge(_ series: String?, source: String) -> [Effect] {
        let target = series ?? unacknowledged.last
        guard let target, let index = unacknowledged.firstIndex(of: target) else { return [] }
        unacknowledged.remove(at: index)
        if unacknowledged.isEmpty {
            alarmSince = nil
            acknowledgedCritical = true
        }
        return [.acknowledged(seriesInstanceUID: target, source: source)]
    }

    /// The line levels at `now` (no state change; call `advance` first for debouncing).
    public func levels(at now: MonotonicTime) -> LineLevels {
        var out = LineLevels()
        if let since = alarmSince {
            out.red = blinkOn(since: since, at: now)
            out.buzzer = buzzerOn(since: since, at: now)
        } else if acknowledgedCritical {
            out.red = true
        }
        if let since = faultSince {
            out.amber = blinkOn(since: since, at: now)
        } else if analysing {
            out.amber = true
        }
        out.green = fault == nil && !analysing && alarmSince == nil && !acknowledgedCritical
        return out
    }

    /// On for the first half of each period, starting on at `since`.
    private func blinkOn(since: MonotonicTime, at now: MonotonicTime) -> Bool {
        let period = timing.blinkPeriod
        guard period > .zero else { return true }
        let phase = (now - since).remainder(period)
        return phase < period / 2
    }

    private func buzzerOn(since: MonotonicTime, at now: MonotonicTime) -> Bool {
        let total = timing.buzzerPattern.reduce(Duration.zero, +)
        guard total > .zero else { return false }
        var phase = (now - since).remainder(total)
        for (i, segment) in timing.buzzerPattern.enumerated() {
            if phase < segment { return i % 2 == 0 }
            phase -= segment
        }
        return false
    }

    /// The next time the levels may change by themselves (blink, buzzer, debounce), so a driver
    /// loop can sleep until then. nil when nothing changes without an event.
    public func nextChange(after now: MonotonicTime) -> MonotonicTime? {
        var candidates: [MonotonicTime] = []
        if rawPressed != buttonPressed { candidates.append(max(now, rawSince + timing.debounce)) }
        if let since = alarmSince {
            candidates.append(nextBoundary(since: since, now: now, segments: [timing.blinkPeriod / 2, timing.blinkPeriod / 2]))
            candidates.append(nextBoundary(since: since, now: now, segments: timing.buzzerPattern))
        }
        if let since = faultSince {
            candidates.append(nextBoundary(since: since, now: now, segments: [timing.blinkPeriod / 2, timing.blinkPeriod / 2]))
        }
        return candidates.min()
    }

    private func nextBoundary(since: MonotonicTime, now: MonotonicTime, segments: [Duration]) -> MonotonicTime {
        let total = segments.reduce(Duration.zero, +)
        guard total > .zero else { return now + .seconds(3600) }
        let elapsed = now - since
        let phase = elapsed.remainder(total)
        var edge = Duration.zero
        for segment in segments {
            edge += segment
            if edge > phase { return now + (edge - phase) }
        }
        return now + (total - phase)
    }
}

extension Duration {
    /// Whole nanoseconds (enough for centuries of uptime in an Int64).
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }

    /// self modulo `divisor`, non-negative, at nanosecond resolution.
    func remainder(_ divisor: Duration) -> Duration {
        let d = divisor.nanoseconds
        guard d > 0 else { return .zero }
        var r = nanoseconds % d
        if r < 0 { r += d }
        return .nanoseconds(r)
    }
}
