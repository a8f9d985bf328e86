import Foundation
import Indicators
import Triage
import XCTest

/// The alert record's JSON, as issue 5 specifies it and the screen reads it.
final class AlertRecordTests: XCTestCase {
    func testRoundTripKeepsEveryField() throws {
        var record = Fixtures.negativeRecord()
        record.tier = .notAnalysable
        record.reason = "too few slices"
        record.keySlices = [.init(index: 3, sopInstanceUID: "1.2.3.4", probability: 0.5)]
        record.thumbnails = ["a.png", "/abs/b.png"]
        let data = try AlertRecord.jsonEncoder().encode(record)
        XCTAssertEqual(try AlertRecord.jsonDecoder().decode(AlertRecord.self, from: data), record)
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        XCTAssertEqual(object["tier"] as? String, "NOT_ANALYSABLE")
        XCTAssertEqual(Set((object["probabilities"] as! [String: Double]).keys),
                       ["any", "epidural", "intraparenchymal", "intraventricular", "subarachnoid", "subdural"])
        XCTAssertEqual(object["arrivalTime"] as? String, "2026-11-29T14:12:02.000Z")
        XCTAssertEqual(record.thumbnailURLs(relativeTo: URL(fileURLWithPath: "/rec")).map(\.path), ["/rec/a.png", "/abs/b.png"])
    }

    func testExampleRecordParses() throws {
        let record = try AlertRecord.load(from: Fixtures.criticalRecordFile)
        XCTAssertEqual(record.tier, .critical)
        XCTAssertEqual(record.probabilities[.subdural], 0.88)
        XCTAssertEqual(record.keySlices.count, 3)
        XCTAssertEqual(record.model, .init(name: "ich-det", version: "1.0.0"))
        XCTAssertEqual(record.completionTime, Fixtures.date("2026-11-29T14:07:41.250Z"))
    }

    func testMalformedRecordsGiveClearErrors() throws {
        let dir = try Fixtures.temporaryDirectory()
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.criticalRecordFile)) as! [String: Any]
        let cases: [(String, (inout [String: Any]) -> Void, String)] = [
            ("missing", { $0.removeValue(forKey: "tier") }, "missing field 'tier'"),
            ("tier", { $0["tier"] = "URGENT" }, "invalid value at 'tier'"),
            ("time", { $0["arrivalTime"] = "yesterday" }, "'yesterday' is not an ISO 8601 time"),
            ("label", { $0["probabilities"] = ["bleed": 0.5] }, "probabilities"),
        ]
        for (name, mutate, expected) in cases {
            var copy = object
            mutate(&copy)
            let file = dir.appendingPathComponent("\(name).json")
            try JSONSerialization.data(withJSONObject: copy).write(to: file)
            XCTAssertThrowsError(try AlertRecord.load(from: file), name) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(name): \(error)")
                XCTAssertTrue("\(error)".contains(file.path), "\(name): \(error)")
            }
        }
        object["patientInitials"] = nil
        let notJSON = dir.appendingPathComponent("garbage.json")
        try Data("{ not json".utf8).write(to: notJSON)
        XCTAssertThrowsError(try AlertRecord.load(from: notJSON))
    }

    func testFolderLoadingSkipsBadFilesAndReportsThem() throws {
        let dir = try Fixtures.temporaryDirectory()
        let series = dir.appendingPathComponent("series-1")
        try FileManager.default.createDirectory(at: series, withIntermediateDirectories: true)
        try AlertRecord.jsonEncoder().encode(Fixtures.negativeRecord()).write(to: series.appendingPathComponent("alert.json"))
        try Data("[]".utf8).write(to: dir.appendingPathComponent("broken.json"))
        try Data("ignored".utf8).write(to: dir.appendingPathComponent("notes.txt"))
        let (records, problems) = try AlertRecordFiles.load([dir])
        XCTAssertEqual(records.map(\.record), [Fixtures.negativeRecord()])
        XCTAssertEqual(problems.count, 1)
        XCTAssertTrue(problems[0].contains("broken.json"), problems[0])
        XCTAssertThrowsError(try AlertRecordFiles.load([dir.appendingPathComponent("broken.json")]))
        XCTAssertThrowsError(try AlertRecordFiles.load([dir.appendingPathComponent("absent.json")])) {
            XCTAssertTrue("\($0)".contains("does not exist"), "\($0)")
        }
    }
}
