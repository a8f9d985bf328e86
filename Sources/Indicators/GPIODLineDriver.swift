import CGPIOD
import Foundation

/// Which GPIO chip and lines the lights, buzzer and button are wired to.
public struct GPIOConfig: Sendable, Equatable {
    public struct Line: Sendable, Equatable {
        public var offset: Int
        /// Wired so that a low level lights the lamp / means "pressed".
        public var activeLow: Bool
        public init(offset: Int, activeLow: Bool = false) {
            self.offset = offset
            self.activeLow = activeLow
        }
    }

    public enum Bias: String, Sendable, Equatable { case asIs, pullUp, pullDown }

    /// "gpiochip0" (looked up under /dev) or a path such as "/dev/gpiochip0".
    public var chip: String = "gpiochip0"
    public var red = Line(offset: 17)
    public var amber = Line(offset: 27)
    public var green = Line(offset: 22)
    public var buzzer: Line? = Line(offset: 23)
    public var button: Line? = Line(offset: 24, activeLow: true)
    public var buttonBias: Bias = .pullUp
    public var consumer = "ichtriage"

    public init() {}
}

/// The libgpiod 1.6 backend: outputs requested with the consumer label and per-line active-low,
/// the button requested for both edges. Every failure names the chip, the line and what to check.
public final class GPIODLineDriver: LineDriver {
    public let config: GPIOConfig
    private let chip: OpaquePointer
    private let chipName: String
    private var outputs: [(name: String, line: OpaquePointer)] = []
    private var button: OpaquePointer?
    private var released = false

    public init(config: GPIOConfig) throws {
        self.config = config
        chipName = config.chip
        guard let chip = config.chip.contains("/") ? gpiod_chip_open(config.chip) : gpiod_chip_open_by_name(config.chip) else {
            throw GPIODLineDriver.chipError(config.chip, errno: errno)
        }
        self.chip = chip
        do {
            var seen: [Int: String] = [:]
            let wanted: [(String, GPIOConfig.Line?)] = [("red", config.red), ("amber", config.amber), ("green", config.green),
                                                        ("buzzer", config.buzzer), ("button", config.button)]
            for case let (name, line?) in wanted {
                if let other = seen[line.offset] {
                    throw IndicatorsError(.invalidArgument, "GPIO line \(line.offset) is configured for both \(other) and \(name)")
                }
                seen[line.offset] = name
            }
            for (name, line) in [("red", config.red), ("amber", config.amber), ("green", config.green)] + (config.buzzer.map { [("buzzer", $0)] } ?? []) {
                let handle = try self.line(line, name: name)
                let flags = line.activeLow ? Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) : 0
                guard gpiod_line_request_output_flags(handle, config.consumer, flags, 0) == 0 else {
                    throw requestError(handle, line: line, name: name, errno: errno)
                }
                outputs.append((name, handle))
            }
            if let line = config.button {
                let handle = try self.line(line, name: "button")
                var flags = line.activeLow ? Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) : 0
                switch config.buttonBias {
                case .asIs: break
                case .pullUp: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)
                case .pullDown: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN)
                }
                guard gpiod_line_request_both_edges_events_flags(handle, config.consumer, flags) == 0 else {
                    throw requestError(handle, line: line, name: "button", errno: errno)
                }
                button = handle
            }
        } catch {
            release()
            throw error
        }
    }

    deinit { release() }

    private func line(_ line: GPIOConfig.Line, name: String) throws -> OpaquePointer {
        let count = Int(gpiod_chip_num_lines(chip))
        guard line.offset >= 0, line.offset < count, let handle = gpiod_chip_get_line(chip, UInt32(line.offset)) else {
            throw IndicatorsError(.gpioLine, "GPIO line \(line.offset) for the \(name) does not exist on \(chipName), "
                                  + "which has lines 0...\(max(0, count - 1)): check the line offsets in the configuration")
        }
        return handle
    }

    private func requestError(_ handle: OpaquePointer, line: GPIOConfig.Line, name: String, errno err: Int32) -> IndicatorsError {
        if err == EBUSY {
            _ = gpiod_line_update(handle)
            let holder = gpiod_line_consumer(handle).map { String(cString: $0) } ?? "another process or a kernel driver"
            return IndicatorsError(.gpioBusy, "GPIO line \(line.offset) for the \(name) on \(chipName) is busy: already used by '\(holder)' "
                                   + "(is another ichtriage running, or the pin claimed in the device tree?)")
        }
        return IndicatorsError(.gpioLine, "cannot request GPIO line \(line.offset) for the \(name) on \(chipName): \(String(cString: strerror(err)))")
    }

    static func chipError(_ chip: String, errno err: Int32) -> IndicatorsError {
        let path = chip.contains("/") ? chip : "/dev/" + chip
        switch err {
        case ENOENT:
            let present = ((try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? [])
                .filter { $0.hasPrefix("gpiochip") }.sorted()
            return IndicatorsError(.gpioChip, "GPIO chip \(path) does not exist; present: "
                                   + (present.isEmpty ? "none" : present.joined(separator: ", ")) + ". Check the chip in the configuration")
        case EACCES, EPERM:
            return IndicatorsError(.gpioChip, "no permission to open GPIO chip \(path): is the service user in the group that owns it?")
        case ENOTTY, EINVAL, ENODEV:
            return IndicatorsError(.gpioChip, "\(path) is not a GPIO character device")
        default:
            return IndicatorsError(.gpioChip, "cannot open GPIO chip \(path): \(String(cString: strerror(err)))")
        }
    }

    public func apply(_ levels: LineLevels) throws {
        for (name, handle) in outputs {
            let on: Bool
            switch name {
            case "red": on = levels.red
            case "amber": on = levels.amber
            case "green": on = levels.green
            default: on = levels.buzzer
            }
            guard gpiod_line_set_value(handle, on ? 1 : 0) == 0 else {
                throw IndicatorsError(.gpioIO, "setting the \(name) GPIO line on \(chipName) failed: \(String(cString: strerror(errno)))")
            }
        }
    }

    public func waitForButtonEdges(timeout: Duration) throws -> [Bool] {
        guard let button else {
            try sleep(timeout)
            return []
        }
        let ns = max(0, timeout.nanoseconds)
        var ts = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
        var edges: [Bool] = []
        var result = gpiod_line_event_wait(button, &ts)
        while result == 1 {
            var event = gpiod_line_event()
            guard gpiod_line_event_read(button, &event) == 0 else { break }
            // The level after the edge, read back logically (active-low honoured by libgpiod).
            let value = gpiod_line_get_value(button)
            edges.append(value >= 0 ? value == 1 : event.event_type == Int32(GPIOD_LINE_EVENT_RISING_EDGE))
            var zero = timespec(tv_sec: 0, tv_nsec: 0)
            result = gpiod_line_event_wait(button, &zero)
        }
        if result < 0, errno != EINTR {
            throw IndicatorsError(.gpioIO, "waiting for the button on \(chipName) failed: \(String(cString: strerror(errno)))")
        }
        return edges
    }

    private func sleep(_ duration: Duration) throws {
        let ns = max(0, duration.nanoseconds)
        var ts = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
        _ = nanosleep(&ts, nil)
    }

    /// Releases every line; the kernel then returns them to their default (usually input,
    /// high impedance), so lamps wired with pull-downs go dark.
    public func release() {
        guard !released else { return }
        released = true
        for (_, handle) in outputs { gpiod_line_release(handle) }
        if let button { gpiod_line_release(button) }
        outputs = []
        button = nil
        gpiod_chip_close(chip)
    }
}
