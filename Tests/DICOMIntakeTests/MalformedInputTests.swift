import XCTest
@testable import DICOMIntake

/// Broken files: each gives a clear error and a quarantine record, nothing crashes, and the good
/// files beside them still make their series.
final class MalformedInputTests: XCTestCase {
    struct Case {
        var name: String
        var code: IntakeError.Code
        var text: String
    }

    func testEachMalformedFileIsQuarantinedWithAReasonAndTheRestGoesThrough() throws {
        try TestSupport.requireData()
        let root = try TestSupport.temporaryFolder(self)
        let drop = root.appendingPathComponent("drop")
        let quarantine = root.appendingPathComponent("quarantine")
        let slices = try TestSupport.geSlices()
        for url in slices[0..<5] { try TestSupport.copy(url, to: drop.appendingPathComponent("good/" + url.lastPathComponent)) }
        let template = slices[10]
        func make(_ name: String, _ edit: (URL) throws -> Void) throws {
            let url = try TestSupport.copy(template, to: drop.appendingPathComponent("bad/" + name))
            try edit(url)
        }
        try make("truncated") { url in
            let data = try Data(contentsOf: url)
            try data.prefix(300_000).write(to: url)
        }
        try make("empty") { try Data().write(to: $0) }
        try make("not-dicom.txt") { try Data("patient list\nnothing to see here\n".utf8).write(to: $0) }
        try make("no-rows") { try TestSupport.run("dcmodify", ["-nb", "-e", "(0028,0010)", $0.path]) }
        try make("no-pixeldata") { try TestSupport.run("dcmodify", ["-nb", "-e", "(7fe0,0010)", $0.path]) }
        try make("rows-too-large") { try TestSupport.run("dcmodify", ["-nb", "-m", "(0028,0010)=1024", $0.path]) }
        try make("bad-slope") { try TestSupport.run("dcmodify", ["-nb", "-m", "(0028,1053)=abc", $0.path]) }
        try make("bad-intercept") { try TestSupport.run("dcmodify", ["-nb", "-m", "(0028,1052)=1O24", $0.path]) }
        try make("memory-bomb") {
            try TestSupport.run("dcmodify", ["-nb", "-m", "(0028,0010)=65535", "-m", "(0028,0011)=65535",
                                             "-i", "(0028,0008)=1000", $0.path])
        }
        try make("deep-sequence") { try MalformedFiles.insertNestedSequences($0, depth: 5000) }

        let expected: [String: Case] = [
            "truncated": .init(name: "truncated", code: .truncated, text: "declares 524288 bytes"),
            "empty": .init(name: "empty", code: .notDICOM, text: "empty file"),
            "not-dicom.txt": .init(name: "not-dicom.txt", code: .notDICOM, text: "not a DICOM file"),
            "no-rows": .init(name: "no-rows", code: .missingAttribute, text: "missing Rows"),
            "no-pixeldata": .init(name: "no-pixeldata", code: .missingAttribute, text: "missing PixelData"),
            "rows-too-large": .init(name: "rows-too-large", code: .pixelDataShort, text: "need 1048576"),
            "bad-slope": .init(name: "bad-slope", code: .badValue, text: "RescaleSlope is not a number"),
            "bad-intercept": .init(name: "bad-intercept", code: .badValue, text: "RescaleIntercept is not a number"),
            "memory-bomb": .init(name: "memory-bomb", code: .tooLarge, text: "exceeds the limit"),
            "deep-sequence": .init(name: "deep-sequence", code: .tooLarge, text: "nested deeper than 16"),
        ]

        // First the error codes straight from the reader.
        for (name, c) in expected {
            let path = drop.appendingPathComponent("bad/" + name).path
            XCTAssertThrowsError(try SliceHeader.read(path: path), name) { error in
                XCTAssertEqual((error as? IntakeError)?.code, c.code, "\(name): \(error)")
                XCTAssertTrue("\(error)".contains(c.text), "\(name): \(error)")
            }
        }

        // Then the whole folder through the intake with a quarantine folder.
        var config = IntakeConfiguration()
        config.quarantineFolder = quarantine
        let result = DICOMIntake.scan(folder: drop.path, configuration: config)
        XCTAssertEqual(result.series.count, 1)
        XCTAssertEqual(result.series.first?.slices.count, 5)
        XCTAssertEqual(result.skipped.count, expected.count)
        XCTAssertTrue(result.skipped.allSatisfy(\.isError))
        XCTAssertEqual(result.quarantined.count, expected.count)
        for (name, c) in expected {
            let original = drop.appendingPathComponent("bad/" + name).path
            let skip = try XCTUnwrap(result.skipped.first { $0.path == original }, name)
            XCTAssertTrue(skip.reason.contains(c.text), "\(name): \(skip.reason)")
            let record = try XCTUnwrap(result.quarantined.first { $0.originalPath == original }, name)
            // Moved, not deleted: gone from the drop folder, present in quarantine, reason beside it.
            XCTAssertFalse(FileManager.default.fileExists(atPath: original), name)
            XCTAssertEqual(record.movedTo, quarantine.appendingPathComponent(name).path)
            XCTAssertTrue(FileManager.default.fileExists(atPath: record.movedTo!), name)
            let reason = try String(contentsOfFile: record.reasonFile, encoding: .utf8)
            XCTAssertTrue(reason.contains(c.text), "\(name): \(reason)")
            XCTAssertEqual(record.reasonFile, record.movedTo! + ".reason.txt")
        }
        // A second scan of the drop folder finds only the good files; quarantine is not rescanned.
        let again = DICOMIntake.scan(folder: drop.path, configuration: config)
        XCTAssertEqual(again.skipped.count, 0)
        XCTAssertEqual(again.series.first?.slices.count, 5)
    }

    func testReadOnlySourceIsRecordedNotMoved() throws {
        let root = try TestSupport.temporaryFolder(self)
        let source = root.appendingPathComponent("usb/garbage")
        try FileManager.default.createDirectory(at: source.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("not dicom".utf8).write(to: source)
        var q = Quarantine(folder: root.appendingPathComponent("quarantine"))
        q.move = { _, _ in EROFS }  // what rename(2) says on a stick mounted read-only
        let record = try XCTUnwrap(q.quarantine(path: source.path, reason: "not DICOM"))
        XCTAssertNil(record.movedTo)
        XCTAssertTrue(FileManager.default.fileExists(atPath: source.path), "source must stay")
        let text = try String(contentsOfFile: record.reasonFile, encoding: .utf8)
        XCTAssertTrue(text.contains("recorded only"), text)
        XCTAssertTrue(text.contains("not DICOM"), text)
    }

    func testQuarantineNeverOverwritesAnEarlierFileOfTheSameName() throws {
        let root = try TestSupport.temporaryFolder(self)
        let q = Quarantine(folder: root.appendingPathComponent("q"))
        var moved: [String] = []
        for i in 0..<3 {
            let dir = root.appendingPathComponent("d\(i)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let f = dir.appendingPathComponent("I10")
            try Data("x\(i)".utf8).write(to: f)
            moved.append(try XCTUnwrap(q.quarantine(path: f.path, reason: "r\(i)")?.movedTo))
        }
        XCTAssertEqual(Set(moved).count, 3)
        for (i, path) in moved.enumerated() {
            XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "x\(i)")
        }
    }
}
