import CGPIOD
import Foundation
@testable import Indicators
import Triage
import XCTest

/// The controller over the fake driver, and the libgpiod backend's errors against the real library.
final class GPIOTests: XCTestCase {
    final class TestClock {
        var now = Duration.zero
    }

    func testControllerWritesOnlyChangesAndRecordsButtonAcknowledgements() throws {
        let driver = FakeLineDriver()
        let clock = TestClock()
        let store = JSONLinesAcknowledgementStore(stateDirectory: try Fixtures.temporaryDirectory())
        let controller = IndicatorController(driver: driver, acknowledgements: store, clock: { clock.now },
                                             wallClock: { Fixtures.now })
        try controller.poll(maxWait: .zero)
        XCTAssertEqual(driver.writes, [LineLevels(green: true)])
        try controller.poll(maxWait: .zero)
        XCTAssertEqual(driver.writes.count, 1, "unchanged levels are not rewritten")

        try controller.handle(.analysisStarted)
        try controller.handle(.analysisFinished(seriesInstanceUID: "s1", tier: .critical))
        XCTAssertEqual(driver.levels, LineLevels(red: true, buzzer: true))
        clock.now = .milliseconds(250)
        try controller.poll(maxWait: .zero)
        XCTAssertEqual(driver.levels, LineLevels(red: true, buzzer: false))
        clock.now = .milliseconds(500)
        try controller.poll(maxWait: .zero)
        XCTAssertEqual(driver.levels, LineLevels(red: false, buzzer: true))

        driver.queuedEdges = [true]
        clock.now = .milliseconds(600)
        try controller.poll(maxWait: .zero)
        XCTAssertTrue(try store.all().isEmpty, "not debounced yet")
        XCTAssertEqual(driver.levels, .dark, "blink off, between beeps")
        clock.now = .milliseconds(640)
        try controller.poll(maxWait: .zero)
        XCTAssertEqual(try store.all(), [Acknowledgement(seriesInstanceUID: "s1", time: Fixtures.now, source: "button")])
        XCTAssertEqual(driver.levels, LineLevels(red: true))

        try controller.handle(.analysisFinished(seriesInstanceUID: "s2", tier: .negative))
        XCTAssertEqual(driver.levels, LineLevels(green: true))
        XCTAssertEqual(driver.writes, [
            LineLevels(green: true), LineLevels(amber: true), LineLevels(red: true, buzzer: true),
            LineLevels(red: true), LineLevels(buzzer: true), .dark, LineLevels(red: true), LineLevels(green: true),
        ])
        driver.release()
        XCTAssertEqual(driver.levels, .dark)
    }

    // MARK: libgpiod

    func testAbsentChipIsAClearError() {
        var config = GPIOConfig()
        config.chip = "/dev/gpiochip-does-not-exist"
        XCTAssertThrowsError(try GPIODLineDriver(config: config)) { error in
            XCTAssertEqual((error as? IndicatorsError)?.code, .gpioChip)
            XCTAssertTrue("\(error)".contains("GPIO chip /dev/gpiochip-does-not-exist does not exist"), "\(error)")
        }
        config.chip = "gpiochip97"
        XCTAssertThrowsError(try GPIODLineDriver(config: config)) { error in
            XCTAssertTrue("\(error)".contains("/dev/gpiochip97 does not exist"), "\(error)")
        }
    }

    func testNonGPIODeviceIsAClearError() {
        var config = GPIOConfig()
        config.chip = "/dev/null"
        XCTAssertThrowsError(try GPIODLineDriver(config: config)) { error in
            XCTAssertEqual((error as? IndicatorsError)?.code, .gpioChip)
            XCTAssertTrue("\(error)".contains("/dev/null is not a GPIO character device"), "\(error)")
        }
    }

    func testDuplicateLinesAreRejectedBeforeTouchingHardware() {
        var config = GPIOConfig()
        config.green = .init(offset: config.red.offset)
        XCTAssertThrowsError(try GPIODLineDriver(config: config)) { error in
            XCTAssertEqual((error as? IndicatorsError)?.code, .invalidArgument)
            XCTAssertTrue("\(error)".contains("configured for both the red and the green"), "\(error)")
        }
    }

    /// Needs a GPIO chip: a board's, or one made by the gpio-sim kernel module. Requests the same
    /// lines twice: the second request must fail as busy, naming the holder. Also an offset past
    /// the chip's last line.
    func testBusyAndAbsentLinesOnARealChip() throws {
        let env = ProcessInfo.processInfo.environment
        let chips = ((try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []).filter { $0.hasPrefix("gpiochip") }.sorted()
        guard let chip = env["ICHTRIAGE_TEST_GPIOCHIP"] ?? chips.first.map({ "/dev/" + $0 }) else {
            throw XCTSkip("no GPIO chip on this machine (no /dev/gpiochip*; the gpio-sim module cannot be loaded here: "
                          + "no modprobe or /lib/modules in this container). Set ICHTRIAGE_TEST_GPIOCHIP=/dev/gpiochipN to run it")
        }
        guard let handle = gpiod_chip_open(chip) else { throw XCTSkip("cannot open \(chip): \(String(cString: strerror(errno)))") }
        let lines = Int(gpiod_chip_num_lines(handle))
        gpiod_chip_close(handle)
        guard lines >= 5 else { throw XCTSkip("\(chip) has only \(lines) lines; 5 are needed") }

        var config = GPIOConfig()
        config.chip = chip
        config.red = .init(offset: 0)
        config.amber = .init(offset: 1, activeLow: true)
        config.green = .init(offset: 2)
        config.buzzer = .init(offset: 3)
        config.button = .init(offset: 4, activeLow: true)
        config.buttonBias = .asIs
        let first = try GPIODLineDriver(config: config)
        try first.apply(LineLevels(red: true, green: true))
        XCTAssertThrowsError(try GPIODLineDriver(config: config)) { error in
            XCTAssertEqual((error as? IndicatorsError)?.code, .gpioBusy)
            XCTAssertTrue("\(error)".contains("busy: already used by 'ichtriage'"), "\(error)")
        }
        first.release()
        XCTAssertNoThrow(try GPIODLineDriver(config: config).release(), "released lines can be requested again")

        config.buzzer = .init(offset: lines + 10)
        XCTAssertThrowsError(try GPIODLineDriver(config: config)) { error in
            XCTAssertEqual((error as? IndicatorsError)?.code, .gpioLine)
            XCTAssertTrue("\(error)".contains("GPIO line \(lines + 10) for the buzzer does not exist"), "\(error)")
        }
    }
}
