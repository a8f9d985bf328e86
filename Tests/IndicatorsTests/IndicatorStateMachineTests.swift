import Foundation
import Indicators
import Triage
import XCTest

/// Every transition of the indicator, blink and buzzer timing against a test clock, debouncing.
final class IndicatorStateMachineTests: XCTestCase {
    typealias M = IndicatorStateMachine
    let idle = LineLevels(green: true)

    func ms(_ value: Int) -> Duration { .milliseconds(value) }

    func testIdleHealthyIsGreenSteady() {
        let m = M()
        for t in stride(from: 0, through: 5000, by: 250) { XCTAssertEqual(m.levels(at: ms(t)), idle) }
        XCTAssertNil(m.nextChange(after: .zero), "nothing changes by itself when idle")
    }

    func testAnalysingIsAmberSteadyAndNegativeReturnsToGreen() {
        var m = M()
        XCTAssertEqual(m.handle(.analysisStarted, at: ms(100)), [])
        for t in [100, 600, 1100, 5000] { XCTAssertEqual(m.levels(at: ms(t)), LineLevels(amber: true)) }
        _ = m.handle(.analysisFinished(seriesInstanceUID: "s1", tier: .negative), at: ms(6000))
        XCTAssertEqual(m.levels(at: ms(6000)), idle)
    }

    func testSuspectAndNotAnalysableReturnToGreen() {
        for tier in [Tier.suspect, .notAnalysable] {
            var m = M()
            _ = m.handle(.analysisStarted, at: .zero)
            _ = m.handle(.analysisFinished(seriesInstanceUID: "s", tier: tier), at: ms(10))
            XCTAssertEqual(m.levels(at: ms(10)), idle, "\(tier)")
        }
    }

    func testCriticalBlinksRedWithBuzzerPatternUntilAcknowledged() {
        var m = M()
        _ = m.handle(.analysisStarted, at: .zero)
        _ = m.handle(.analysisFinished(seriesInstanceUID: "s1", tier: .critical), at: ms(1000))
        // Red: on for 500 ms, off for 500 ms, from the moment of the alert. Buzzer: 200 on, 200 off,
        // 200 on, 1400 off. Green and amber off.
        let expectations: [(Int, Bool, Bool)] = [
            (1000, true, true), (1199, true, true), (1200, true, false), (1399, true, false), (1400, true, true),
            (1499, true, true), (1500, false, true), (1599, false, true), (1600, false, false), (1999, false, false),
            (2000, true, false), (2499, true, false), (2500, false, false), (2999, false, false), (3000, true, true),
            (61_000, true, true), (61_500, false, true),
        ]
        for (t, red, buzzer) in expectations {
            XCTAssertEqual(m.levels(at: ms(t)), LineLevels(red: red, buzzer: buzzer), "at \(t) ms")
        }
        XCTAssertEqual(m.nextChange(after: ms(1000)), ms(1200))
        XCTAssertEqual(m.nextChange(after: ms(1450)), ms(1500))
        XCTAssertEqual(m.nextChange(after: ms(1700)), ms(2000))

        // Acknowledged: red steady, buzzer silent, for as long as nothing else happens.
        XCTAssertEqual(m.handle(.acknowledge(seriesInstanceUID: nil, source: "cli"), at: ms(4321)),
                       [.acknowledged(seriesInstanceUID: "s1", source: "cli")])
        for t in [4321, 4500, 5000, 100_000] { XCTAssertEqual(m.levels(at: ms(t)), LineLevels(red: true)) }
        XCTAssertNil(m.nextChange(after: ms(5000)))

        // SUSPECT and NOT_ANALYSABLE keep red steady; analysing adds amber; NEGATIVE clears red.
        _ = m.handle(.analysisStarted, at: ms(200_000))
        XCTAssertEqual(m.levels(at: ms(200_000)), LineLevels(red: true, amber: true))
        _ = m.handle(.analysisFinished(seriesInstanceUID: "s2", tier: .suspect), at: ms(201_000))
        _ = m.handle(.analysisFinished(seriesInstanceUID: "s3", tier: .notAnalysable), at: ms(202_000))
        XCTAssertEqual(m.levels(at: ms(202_000)), LineLevels(red: true))
        _ = m.handle(.analysisFinished(seriesInstanceUID: "s4", tier: .negative), at: ms(203_000))
        XCTAssertEqual(m.levels(at: ms(203_000)), idle)
    }

    func testResetClearsAcknowledgedRedButNotAnUnacknowledgedAlert() {
        var m = M()
        _ = m.handle(.analysisFinished(seriesInstanceUID: "s1", tier: .critical), at: .zero)
        _ = m.handle(.reset, at: ms(100))
        XCTAssertEqual(m.levels(at: ms(100)), LineLevels(red: true, buzzer: true), "reset must not silence an unacknowledged alert")
        XCTAssertEqual(m.unacknowledged, ["s1"])
        _ = m.handle(.acknowledge(seriesInstanceUID: "s1", source: "button"), at: ms(700))
        XCTAssertEqual(m.levels(at: ms(700)), LineLevels(red: true))
        _ = m.handle(.reset, at: ms(800))
        XCTAssertEqual(m.levels(at: ms(800)), idle)
    }

    func testNegativeWhileUnacknowledgedKeepsBlinking() {
        var m = M()
        _ = m.handle(.analysisFinished(seriesInstanceUID: "s1", tier: .critical), at: .zero)
        _ = m.handle(.analysisFinished(seriesInstanceUID: "s2", tier: .negative), at: ms(3000))
        XCTAssertEqual(m.levels(at: ms(4000)), LineLevels(red: true, buzzer: true))
        XCTAssertEqual(m.levels(at: ms(4500)).red, false, "still blinking")
    }

    func testEachCriticalNeedsItsOwnAcknowledgement() {
        var m = M()
        _ = m.handle(.analysisFinished(seriesInstanceUID: "old", tier: .critical), at: .zero)
        _ = m.handle(.analysisFinished(seriesInstanceUID: "new", tier: .critical), at: ms(250))
        // The blink phase stays anchored at the first alert.
        XCTAssertFalse(m.levels(at: ms(600)).red)
        XCTAssertEqual(m.handle(.acknowledge(seriesInstanceUID: nil, source: "button"), at: ms(700)),
                       [.acknowledged(seriesInstanceUID: "new", source: "button")], "the current one is the newest")
        XCTAssertEqual(m.levels(at: ms(2000)), LineLevels(red: true, buzzer: true), "one left: still alarming")
        XCTAssertEqual(m.handle(.acknowledge(seriesInstanceUID: "unknown", source: "cli"), at: ms(1100)), [])
        XCTAssertEqual(m.handle(.acknowledge(seriesInstanceUID: "old", source: "cli"), at: ms(1200)),
                       [.acknowledged(seriesInstanceUID: "old", source: "cli")])
        XCTAssertEqual(m.levels(at: ms(1500)), LineLevels(red: true))
        XCTAssertEqual(m.handle(.acknowledge(seriesInstanceUID: nil, source: "button"), at: ms(1600)), [], "nothing left to acknowledge")
        // The same series finishing twice (e.g. a redo after a restart) is one alert, not two.
        var twice = M()
        _ = twice.handle(.analysisFinished(seriesInstanceUID: "a", tier: .critical), at: .zero)
        _ = twice.handle(.analysisFinished(seriesInstanceUID: "a", tier: .critical), at: ms(10))
        XCTAssertEqual(twice.unacknowledged, ["a"])
    }

    func testFaultBlinksAmberAndOverridesAnalysing() {
        var m = M()
        _ = m.handle(.analysisStarted, at: .zero)
        _ = m.handle(.fault(.diskFull("0 bytes free")), at: ms(1000))
        for (t, amber) in [(1000, true), (1499, true), (1500, false), (1999, false), (2000, true), (10_600, false)] {
            XCTAssertEqual(m.levels(at: ms(t)), LineLevels(amber: amber), "at \(t) ms")
        }
        // A different fault does not restart the blink phase.
        _ = m.handle(.fault(.noValidModel("signature")), at: ms(2100))
        XCTAssertTrue(m.levels(at: ms(2200)).amber)
        XCTAssertFalse(m.levels(at: ms(2600)).amber)
        // Cleared: back to amber steady (still analysing), then green.
        _ = m.handle(.fault(nil), at: ms(3000))
        XCTAssertEqual(m.levels(at: ms(3600)), LineLevels(amber: true))
        _ = m.handle(.analysisFinished(seriesInstanceUID: "s", tier: .negative), at: ms(4000))
        XCTAssertEqual(m.levels(at: ms(4000)), idle)
    }

    func testFaultAndCriticalShowTogether() {
        var m = M()
        _ = m.handle(.fault(.dropFolderMissing("/srv/drop")), at: .zero)
        _ = m.handle(.analysisFinished(seriesInstanceUID: "s1", tier: .critical), at: ms(250))
        XCTAssertEqual(m.levels(at: ms(300)), LineLevels(red: true, amber: true, buzzer: true))
        XCTAssertEqual(m.levels(at: ms(600)), LineLevels(red: true, amber: false, buzzer: false))
        XCTAssertEqual(m.levels(at: ms(800)), LineLevels(red: false, amber: false, buzzer: true))
    }

    // MARK: button

    func testDebouncedPressAcknowledgesOnceDespiteBounce() {
        var m = M()
        _ = m.handle(.analysisFinished(seriesInstanceUID: "s1", tier: .critical), at: .zero)
        // Contact bounce: pressed, released, pressed within 8 ms.
        XCTAssertEqual(m.handle(.buttonEdge(pressed: true), at: ms(1000)), [])
        XCTAssertEqual(m.handle(.buttonEdge(pressed: false), at: ms(1003)), [])
        XCTAssertEqual(m.handle(.buttonEdge(pressed: true), at: ms(1008)), [])
        XCTAssertEqual(m.nextChange(after: ms(1010)), ms(1038), "the debounce deadline comes before the next blink")
        XCTAssertEqual(m.advance(to: ms(1037)), [], "not stable for 30 ms yet")
        XCTAssertEqual(m.advance(to: ms(1038)), [.acknowledged(seriesInstanceUID: "s1", source: "button")])
        XCTAssertTrue(m.buttonPressed)
        XCTAssertEqual(m.advance(to: ms(5000)), [], "holding the button does not repeat")
        // Release with bounce: no press.
        _ = m.handle(.buttonEdge(pressed: false), at: ms(6000))
        _ = m.handle(.buttonEdge(pressed: true), at: ms(6002))
        _ = m.handle(.buttonEdge(pressed: false), at: ms(6004))
        XCTAssertEqual(m.advance(to: ms(6100)), [])
        XCTAssertFalse(m.buttonPressed)
    }

    func testGlitchShorterThanDebounceIsIgnored() {
        var m = M()
        _ = m.handle(.analysisFinished(seriesInstanceUID: "s1", tier: .critical), at: .zero)
        _ = m.handle(.buttonEdge(pressed: true), at: ms(100))
        _ = m.handle(.buttonEdge(pressed: false), at: ms(120))  // 20 ms < 30 ms
        XCTAssertEqual(m.advance(to: ms(1000)), [])
        XCTAssertEqual(m.unacknowledged, ["s1"])
    }

    func testSecondPressAcknowledgesTheNextAlert() {
        var m = M()
        _ = m.handle(.analysisFinished(seriesInstanceUID: "a", tier: .critical), at: .zero)
        _ = m.handle(.analysisFinished(seriesInstanceUID: "b", tier: .critical), at: ms(1))
        _ = m.handle(.buttonEdge(pressed: true), at: ms(100))
        XCTAssertEqual(m.advance(to: ms(200)), [.acknowledged(seriesInstanceUID: "b", source: "button")])
        _ = m.handle(.buttonEdge(pressed: false), at: ms(300))
        _ = m.handle(.buttonEdge(pressed: true), at: ms(400))
        // The release was only 100 ms ago at 400, but each level held >= 30 ms: a second press.
        XCTAssertEqual(m.advance(to: ms(430)), [.acknowledged(seriesInstanceUID: "a", source: "button")])
    }

    func testCustomTiming() {
        var timing = IndicatorTiming()
        timing.blinkPeriod = .milliseconds(400)
        timing.buzzerPattern = [.milliseconds(100), .milliseconds(300)]
        var m = M(timing: timing)
        _ = m.handle(.analysisFinished(seriesInstanceUID: "s", tier: .critical), at: ms(50))
        XCTAssertEqual(m.levels(at: ms(149)), LineLevels(red: true, buzzer: true))
        XCTAssertEqual(m.levels(at: ms(150)), LineLevels(red: true, buzzer: false))
        XCTAssertEqual(m.levels(at: ms(250)), LineLevels(red: false, buzzer: false))
        XCTAssertEqual(m.levels(at: ms(450)), LineLevels(red: true, buzzer: true))
    }
}
