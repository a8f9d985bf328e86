import Foundation
import Indicators
import Triage
import XCTest

/// The status screen against committed golden PNGs (Tests/IndicatorsTests/Golden), compared with a
/// tolerance so that small anti-aliasing differences between FreeType/Cairo builds pass while a
/// changed layout, colour or text fails.
///
/// Regenerate after an intended change: `ICHTRIAGE_UPDATE_GOLDEN=1 swift test --filter StatusScreenGoldenTests`,
/// then look at the PNGs and commit them.
final class StatusScreenGoldenTests: XCTestCase {
    static let sizes = [PanelSize(width: 800, height: 480), PanelSize(width: 600, height: 1024)]

    func testNegativeSeries() throws {
        let alert = ScreenAlert(record: Fixtures.negativeRecord(), thumbnailFiles: [])
        let state = ScreenState(alerts: [alert], health: Fixtures.health(), now: Fixtures.now)
        try checkGolden(state, name: "negative")
    }

    func testCriticalWithThumbnails() throws {
        let state = ScreenState(alerts: [try Fixtures.criticalAlert()], health: Fixtures.health(), now: Fixtures.now)
        XCTAssertEqual(state.alerts[0].thumbnailFiles.count, 3)
        for file in state.alerts[0].thumbnailFiles {
            XCTAssertTrue(FileManager.default.fileExists(atPath: file.path), "thumbnail fixture \(file.path) missing")
        }
        try checkGolden(state, name: "critical")
    }

    func testFault() throws {
        var health = Fixtures.health(fault: .noValidModel("bundle signature does not verify"))
        health.model = nil
        health.modelStatus = "rejected (signature)"
        let state = ScreenState(alerts: [], health: health, now: Fixtures.now)
        try checkGolden(state, name: "fault")
    }

    /// A bundle from the stick was refused: the engineer reads what, when, why, and which model
    /// still serves, above the health line (amber).
    func testModelUpdateRejected() throws {
        var health = Fixtures.health()
        health.modelUpdate = ModelUpdateNotice(
            action: "install", time: Fixtures.date("2026-11-29T14:02:10Z"), outcome: .rejected, subject: "ich-det 1.1.0",
            reason: "reference series check failed: the model gives the same probabilities for every slice",
            activeModel: "ich-det 1.0.0")
        let alert = ScreenAlert(record: Fixtures.negativeRecord(), thumbnailFiles: [])
        try checkGolden(ScreenState(alerts: [alert], health: health, now: Fixtures.now), name: "model-update-rejected")
    }

    /// A good update went in (green line); no alerts yet.
    func testModelUpdateInstalled() throws {
        var health = Fixtures.health()
        health.model = .init(name: "ich-det", version: "1.1.0")
        health.modelUpdate = ModelUpdateNotice(
            action: "install", time: Fixtures.date("2026-11-29T14:15:00Z"), outcome: .installed, subject: "ich-det 1.1.0",
            activeModel: "ich-det 1.1.0")
        try checkGolden(ScreenState(alerts: [], health: health, now: Fixtures.now), name: "model-update-installed")
    }

    // MARK: comparison

    private func checkGolden(_ state: ScreenState, name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let renderer = try StatusScreenRenderer(config: Fixtures.config())
        for size in Self.sizes {
            let frame = try renderer.render(state, size: size)
            let golden = Fixtures.goldenFolder.appendingPathComponent("\(name)-\(size).png")
            if ProcessInfo.processInfo.environment["ICHTRIAGE_UPDATE_GOLDEN"] == "1" {
                try FileManager.default.createDirectory(at: Fixtures.goldenFolder, withIntermediateDirectories: true)
                try frame.writePNG(to: golden)
                print("updated golden image \(golden.path)")
            }
            let expected = try Frame.readPNG(from: golden)
            let result = compare(frame, expected)
            if !result.passes {
                let dir = try Fixtures.temporaryDirectory()
                let actualFile = dir.appendingPathComponent("\(name)-\(size)-actual.png")
                try frame.writePNG(to: actualFile)
                XCTFail("\(name) at \(size) differs from \(golden.lastPathComponent): \(result); actual frame in \(actualFile.path). "
                        + "If the change is intended, regenerate with ICHTRIAGE_UPDATE_GOLDEN=1.", file: file, line: line)
            }
        }
    }

    struct Comparison: CustomStringConvertible {
        var sameSize: Bool
        var differingPixels = 0
        var totalPixels = 0
        var maxChannelDifference = 0
        /// Pixels whose largest channel difference exceeds 48/255 may make up at most 0.02% of the frame
        /// (77 pixels at 800x480): anti-aliasing noise passes, a changed word does not.
        var passes: Bool { sameSize && Double(differingPixels) <= 0.0002 * Double(totalPixels) }
        var description: String {
            sameSize ? "\(differingPixels) of \(totalPixels) pixels differ by more than 48/255 (max channel difference \(maxChannelDifference))"
                : "sizes differ"
        }
    }

    func compare(_ a: Frame, _ b: Frame) -> Comparison {
        guard a.width == b.width, a.height == b.height else { return Comparison(sameSize: false) }
        var result = Comparison(sameSize: true, totalPixels: a.pixels.count)
        for i in 0..<a.pixels.count where a.pixels[i] != b.pixels[i] {
            var worst = 0
            for shift in [0, 8, 16] as [UInt32] {
                let ca = Int((a.pixels[i] >> shift) & 0xFF), cb = Int((b.pixels[i] >> shift) & 0xFF)
                worst = max(worst, abs(ca - cb))
            }
            result.maxChannelDifference = max(result.maxChannelDifference, worst)
            if worst > 48 { result.differingPixels += 1 }
        }
        return result
    }

    /// The comparison itself must catch a real change: a frame with a changed region fails.
    func testComparisonDetectsAChangedRegion() throws {
        let renderer = try StatusScreenRenderer(config: Fixtures.config())
        let state = ScreenState(alerts: [], health: Fixtures.health(), now: Fixtures.now)
        let frame = try renderer.render(state, size: Self.sizes[0])
        XCTAssertTrue(compare(frame, frame).passes)
        var changed = frame
        for y in 100..<140 { for x in 100..<200 { changed.pixels[y * frame.width + x] = 0xFFFF_0000 } }
        XCTAssertFalse(compare(frame, changed).passes, "a 100x40 red patch must fail the comparison")
    }

    /// One changed character of the accession number must fail against the golden image.
    func testComparisonDetectsOneChangedCharacter() throws {
        var record = Fixtures.negativeRecord()
        record.accessionNumber = "A24-118401"
        let state = ScreenState(alerts: [ScreenAlert(record: record, thumbnailFiles: [])], health: Fixtures.health(), now: Fixtures.now)
        let frame = try StatusScreenRenderer(config: Fixtures.config()).render(state, size: Self.sizes[0])
        let golden = try Frame.readPNG(from: Fixtures.goldenFolder.appendingPathComponent("negative-\(Self.sizes[0]).png"))
        let result = compare(frame, golden)
        XCTAssertFalse(result.passes, "\(result)")
        print("one changed character: \(result)")
    }
}
