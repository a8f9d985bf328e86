import Foundation
import Indicators
import Triage
import XCTest

/// Properties of the screen that hold on every panel size: deterministic, ordered, robust.
final class StatusScreenTests: XCTestCase {
    func testEveryCommonPanelRendersLandscapeAndPortraitWithTheTierColour() throws {
        let renderer = try StatusScreenRenderer(config: Fixtures.config())
        let state = ScreenState(alerts: [try Fixtures.criticalAlert(), ScreenAlert(record: Fixtures.negativeRecord(), thumbnailFiles: [])],
                                health: Fixtures.health(), now: Fixtures.now)
        for landscape in PanelSize.common {
            for size in [landscape, landscape.rotated] {
                let frame = try renderer.render(state, size: size)
                XCTAssertEqual(frame.width, size.width)
                XCTAssertEqual(frame.height, size.height)
                // The CRITICAL band (0xC62828) must be a large part of the screen: readable from 2 m.
                let red = frame.pixels.filter { $0 & 0xFFFFFF == 0xC62828 }.count
                XCTAssertGreaterThan(Double(red) / Double(frame.pixels.count), 0.07, "tier band too small at \(size)")
            }
        }
    }

    func testRenderingIsDeterministic() throws {
        let renderer = try StatusScreenRenderer(config: Fixtures.config())
        let state = ScreenState(alerts: [try Fixtures.criticalAlert()], health: Fixtures.health(), now: Fixtures.now)
        let size = PanelSize(width: 1024, height: 600)
        XCTAssertEqual(try renderer.render(state, size: size), try renderer.render(state, size: size))
        // Another renderer (fonts already cached) gives the same frame too.
        XCTAssertEqual(try StatusScreenRenderer(config: Fixtures.config()).render(state, size: size), try renderer.render(state, size: size))
    }

    func testClockIsInjectedNotRead() throws {
        let renderer = try StatusScreenRenderer(config: Fixtures.config())
        var state = ScreenState(alerts: [try Fixtures.criticalAlert()], health: Fixtures.health(), now: Fixtures.now)
        let size = PanelSize(width: 800, height: 480)
        let first = try renderer.render(state, size: size)
        state.now = Fixtures.now.addingTimeInterval(3600)
        XCTAssertNotEqual(first, try renderer.render(state, size: size), "a later 'now' must change the clock and the ages")
    }

    func testMissingAndCorruptThumbnailsDrawPlaceholders() throws {
        let dir = try Fixtures.temporaryDirectory()
        let corrupt = dir.appendingPathComponent("corrupt.png")
        try Data("not a png".utf8).write(to: corrupt)
        var alert = try Fixtures.criticalAlert()
        alert.thumbnailFiles = [dir.appendingPathComponent("absent.png"), corrupt]
        let state = ScreenState(alerts: [alert], health: Fixtures.health(), now: Fixtures.now)
        let frame = try StatusScreenRenderer(config: Fixtures.config()).render(state, size: PanelSize(width: 1280, height: 720))
        // The placeholder fill (0x2A333D) appears where the images would be.
        XCTAssertGreaterThan(frame.pixels.filter { $0 & 0xFFFFFF == 0x2A333D }.count, 10_000)
    }

    func testOrderIsMostUrgentThenNewest() {
        let records = [
            Fixtures.record(series: "neg-new", tier: .negative, completed: "2026-11-29T14:18:00Z"),
            Fixtures.record(series: "crit-old", tier: .critical, completed: "2026-11-29T13:00:00Z"),
            Fixtures.record(series: "crit-new", tier: .critical, completed: "2026-11-29T14:00:00Z"),
            Fixtures.record(series: "crit-acked", tier: .critical, completed: "2026-11-29T14:10:00Z"),
            Fixtures.record(series: "suspect", tier: .suspect, completed: "2026-11-29T14:05:00Z"),
            Fixtures.record(series: "na", tier: .notAnalysable, completed: "2026-11-29T14:17:00Z"),
        ]
        let alerts = records.map { r in
            ScreenAlert(record: r, thumbnailFiles: [], acknowledgedAt: r.seriesInstanceUID == "crit-acked" ? Fixtures.now : nil)
        }
        let state = ScreenState(alerts: alerts, health: Fixtures.health(), now: Fixtures.now)
        XCTAssertEqual(state.orderedAlerts.map(\.record.seriesInstanceUID),
                       ["crit-new", "crit-old", "crit-acked", "suspect", "na", "neg-new"])
    }

    /// A NOT ANALYSABLE reason is a sentence: a long one wraps onto further lines instead of being cut
    /// to one, on every common panel.
    func testLongNotAnalysableReasonWraps() throws {
        let renderer = try StatusScreenRenderer(config: Fixtures.config())
        func frame(_ reason: String, _ size: PanelSize) throws -> Frame {
            var record = Fixtures.record(series: "na", tier: .notAnalysable, completed: "2026-11-29T14:17:00Z")
            record.reason = reason
            return try renderer.render(ScreenState(alerts: [ScreenAlert(record: record, thumbnailFiles: [])],
                                                   health: Fixtures.health(), now: Fixtures.now), size: size)
        }
        let short = "no brain:"
        let long = short + " inside the head outline only 5 % of the pixels are soft tissue (-20 to 100 HU; median over"
            + " the 16 widest slices), at least 20 % expected; an air-filled phantom?"
        for landscape in PanelSize.common {
            for size in [landscape, PanelSize(width: landscape.height, height: landscape.width)] {
                let a = try frame(short, size), b = try frame(long, size)
                // Rows where the two frames differ, grouped into runs: one run per line of text.
                let rows = (0..<size.height).filter { y in
                    (0..<size.width).contains { a.pixels[y * size.width + $0] != b.pixels[y * size.width + $0] }
                }
                let runs = rows.indices.filter { $0 == 0 || rows[$0] > rows[$0 - 1] + 1 }.count
                XCTAssertGreaterThanOrEqual(runs, 2, "\(size.width)x\(size.height): the long reason is on one line")
            }
        }
    }

    func testIdentifiersAreConfigurable() throws {
        var config = Fixtures.config()
        let state = ScreenState(alerts: [try Fixtures.criticalAlert()], health: Fixtures.health(), now: Fixtures.now)
        let size = PanelSize(width: 800, height: 480)
        let standard = try StatusScreenRenderer(config: config).render(state, size: size)
        config.identifiers = [.accessionNumber]
        XCTAssertNotEqual(standard, try StatusScreenRenderer(config: config).render(state, size: size))
    }

    func testMissingFontIsAClearError() {
        var config = Fixtures.config()
        config.regularFontPaths = ["/nonexistent/DejaVuSans.ttf"]
        XCTAssertThrowsError(try StatusScreenRenderer(config: config)) { error in
            XCTAssertEqual((error as? IndicatorsError)?.code, .fontMissing)
            XCTAssertTrue("\(error)".contains("fonts-dejavu-core"), "\(error)")
        }
    }

    func testPNGRoundTrip() throws {
        let frame = try StatusScreenRenderer(config: Fixtures.config())
            .render(ScreenState(alerts: [], health: Fixtures.health(), now: Fixtures.now), size: PanelSize(width: 800, height: 480))
        let file = try Fixtures.temporaryDirectory().appendingPathComponent("frame.png")
        try frame.writePNG(to: file)
        XCTAssertEqual(try Frame.readPNG(from: file), frame)
    }
}
