import Foundation
import Indicators
import Triage
import XCTest

final class AcknowledgementTests: XCTestCase {
    func testAppendAndReadBack() throws {
        let dir = try Fixtures.temporaryDirectory().appendingPathComponent("state")  // created on first append
        let store = JSONLinesAcknowledgementStore(stateDirectory: dir)
        XCTAssertEqual(try store.all(), [])
        let a = Acknowledgement(seriesInstanceUID: "1.2.3", time: Fixtures.date("2026-11-29T14:20:01.250Z"), source: "button")
        let b = Acknowledgement(seriesInstanceUID: "1.2.4", time: Fixtures.date("2026-11-29T14:21:00Z"), source: "cli")
        try store.append(a)
        try store.append(b)
        XCTAssertEqual(try store.all(), [a, b])
        let text = try String(contentsOf: store.file, encoding: .utf8)
        XCTAssertEqual(text, """
            {"seriesInstanceUID":"1.2.3","source":"button","time":"2026-11-29T14:20:01.250Z"}
            {"seriesInstanceUID":"1.2.4","source":"cli","time":"2026-11-29T14:21:00.000Z"}

            """)
    }

    func testTruncatedLastLineIsIgnoredAndNotGluedToTheNext() throws {
        let dir = try Fixtures.temporaryDirectory()
        let store = JSONLinesAcknowledgementStore(stateDirectory: dir)
        let a = Acknowledgement(seriesInstanceUID: "1.2.3", time: Fixtures.now, source: "button")
        try store.append(a)
        let handle = try FileHandle(forWritingTo: store.file)
        handle.seekToEndOfFile()
        handle.write(Data(#"{"seriesInstanceUID":"1.2.9","sou"#.utf8))  // power cut mid-append
        handle.closeFile()
        XCTAssertEqual(try store.all(), [a])
        let b = Acknowledgement(seriesInstanceUID: "1.2.4", time: Fixtures.now, source: "cli")
        try store.append(b)
        XCTAssertThrowsError(try store.all(), "the cut line is now a complete bad line, reported") { error in
            XCTAssertTrue("\(error)".contains("line 2 is not an acknowledgement record"), "\(error)")
        }
        let lines = try String(contentsOf: store.file, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3, "b starts on its own line")
    }

    func testUnwritableStateDirectoryIsAClearError() throws {
        let file = try Fixtures.temporaryDirectory().appendingPathComponent("a-file")
        try Data().write(to: file)
        let store = JSONLinesAcknowledgementStore(stateDirectory: file.appendingPathComponent("state"))
        XCTAssertThrowsError(try store.append(Acknowledgement(seriesInstanceUID: "1", time: Fixtures.now, source: "cli"))) {
            XCTAssertTrue("\($0)".contains("cannot create state directory"), "\($0)")
        }
    }

    func testStateDirectoryPrecedence() {
        XCTAssertEqual(JSONLinesAcknowledgementStore.stateDirectory(option: "/x", environment: ["ICHTRIAGE_STATE_DIR": "/y"]).path, "/x")
        XCTAssertEqual(JSONLinesAcknowledgementStore.stateDirectory(option: nil, environment: ["ICHTRIAGE_STATE_DIR": "/y"]).path, "/y")
        XCTAssertEqual(JSONLinesAcknowledgementStore.stateDirectory(option: nil, environment: [:]).path, "/var/lib/ichtriage")
    }

    func testCurrentAlertIsTheNewestUnacknowledgedCritical() {
        let records = [
            Fixtures.record(series: "old", tier: .critical, completed: "2026-11-29T13:00:00Z"),
            Fixtures.record(series: "new", tier: .critical, completed: "2026-11-29T14:00:00Z"),
            Fixtures.record(series: "newest-but-suspect", tier: .suspect, completed: "2026-11-29T14:10:00Z"),
        ]
        XCTAssertEqual(CurrentAlert.unacknowledgedCritical(records, acknowledgements: []).map(\.seriesInstanceUID), ["new", "old"])
        let acked = [Acknowledgement(seriesInstanceUID: "new", time: Fixtures.now, source: "cli")]
        XCTAssertEqual(CurrentAlert.unacknowledgedCritical(records, acknowledgements: acked).map(\.seriesInstanceUID), ["old"])
    }
}
