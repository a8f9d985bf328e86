import Foundation
import XCTest
@testable import Phantom

/// labels.csv / masks / series.csv consistency and DICOM files read back by dcmdump.
final class OutputTests: XCTestCase {
    /// One small dataset (two series) written once for all tests of this class.
    nonisolated(unsafe) private static var written: URL?
    private var dir: URL { Self.written! }

    override class func setUp() {
        let dir = makeTempDir("out")
        do { try writeDataset(dir); written = dir } catch { XCTFail("cannot write the test dataset: \(error)") }
    }

    override class func tearDown() { if let d = written { try? FileManager.default.removeItem(at: d) } }

    override func setUpWithError() throws {
        guard Self.written != nil else { throw XCTSkip("the shared dataset failed to write (see class setUp failure)") }
    }

    private static func writeDataset(_ dir: URL) throws {
        var writer = try DatasetWriter(root: dir)
        _ = try writer.add(try render(smallConfig(seed: 21, subtypes: [.epidural, .intraventricular], slices: 6)).output,
                           folder: "series-000000")
        var negative = smallConfig(seed: 22, subtypes: [], slices: 5)
        negative.encoding = .signed16(padding: -2000)
        _ = try writer.add(try render(negative).output, folder: "series-000001")
        try writer.finish()
    }

    func testLabelsAreRSNAFormatAndAgreeWithMasks() throws {
        let text = try String(contentsOf: dir.appendingPathComponent("labels.csv"), encoding: .utf8)
        var lines = text.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.removeFirst(), "ID,Label")
        XCTAssertEqual(lines.count, (6 + 5) * 6, "six rows per slice")
        var labels: [String: [String: Int]] = [:]   // sop -> label -> value
        var order: [String] = []
        for line in lines {
            let parts = line.split(separator: ",").map(String.init)
            XCTAssertEqual(parts.count, 2)
            XCTAssertTrue(parts[1] == "0" || parts[1] == "1", line)
            let id = parts[0]
            XCTAssertTrue(id.hasPrefix("ID_"), id)
            let cut = id.lastIndex(of: "_")!
            let sop = String(id[id.index(id.startIndex, offsetBy: 3)..<cut]), label = String(id[id.index(after: cut)...])
            XCTAssertTrue(sop.allSatisfy { $0.isNumber || $0 == "." }, "SOPInstanceUID \(sop)")
            if labels[sop] == nil { order.append(sop) }
            labels[sop, default: [:]][label] = Int(parts[1])!
        }
        XCTAssertEqual(order.count, 11)
        var positives = 0
        for sop in order {
            let l = labels[sop]!
            XCTAssertEqual(Set(l.keys), Set(Subtype.rsnaLabels))
            let anySub = Subtype.allCases.contains { l[$0.rawValue] == 1 }
            XCTAssertEqual(l["any"] == 1, anySub, "any must be the OR of the subtypes")
            XCTAssertFalse(l["epidural"] == 0 && l["intraventricular"] == 0 && Subtype.allCases.contains { l[$0.rawValue] == 1 },
                           "a subtype that was not requested")
            let maskURL = dir.appendingPathComponent("masks/\(sop).npy")
            if anySub {
                positives += 1
                let mask = try NPY.readUInt8(maskURL)
                XCTAssertEqual(mask.rows, 96); XCTAssertEqual(mask.columns, 96)
                var bits: UInt8 = 0
                mask.values.forEach { bits |= $0 }
                for s in Subtype.allCases { XCTAssertEqual(bits & s.maskBit != 0, l[s.rawValue] == 1, "\(s) label vs mask") }
            } else {
                XCTAssertFalse(FileManager.default.fileExists(atPath: maskURL.path), "mask written for a negative slice")
            }
        }
        XCTAssertGreaterThan(positives, 0)
        let series = try String(contentsOf: dir.appendingPathComponent("series.csv"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        XCTAssertEqual(series.first, DatasetWriter.seriesHeader)
        XCTAssertEqual(series.count, 3)
        XCTAssertTrue(series[1].hasPrefix("series-000000,"))
        XCTAssertTrue(series[1].contains(",21,procedural,epidural;intraventricular,"), series[1])
        XCTAssertTrue(series[2].contains(",none,none,"), series[2])
    }

    func testDICOMFilesReadBackWithDcmdump() throws {
        guard let dcmdump = which("dcmdump") else { throw XCTSkip("dcmdump not installed (scripts/setup.sh installs dcmtk)") }
        let slices = try String(contentsOf: dir.appendingPathComponent("slices.csv"), encoding: .utf8)
            .split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        XCTAssertEqual(slices.count, 11)
        for (row, expectSigned) in [(slices[0], false), (slices[8], true)] {
            let file = dir.appendingPathComponent(row[2]).path
            let (status, out) = try runTool(dcmdump, ["+P", "0002,0010", "+P", "0008,0016", "+P", "0008,0018", "+P", "0008,0060",
                                                      "+P", "0008,0008", "+P", "0018,0015", "+P", "0028,0010",
                                                      "+P", "0028,0100", "+P", "0028,0101", "+P", "0028,0103",
                                                      "+P", "0028,1052", "+P", "0028,0120", "+P", "0020,0037",
                                                      "+P", "0018,1120", "+P", "0020,0013", "+P", "7fe0,0010", file])
            XCTAssertEqual(status, 0, out)
            XCTAssertTrue(out.contains("LittleEndianExplicit"), out)
            XCTAssertTrue(out.contains("=CTImageStorage"), out)
            XCTAssertTrue(out.contains("[\(row[0].dropFirst(3))]"), "SOPInstanceUID in file matches labels: \(out)")
            XCTAssertTrue(out.contains("[CT]"))
            XCTAssertTrue(out.contains("[ORIGINAL\\PRIMARY\\AXIAL]"))
            XCTAssertTrue(out.contains("[HEAD]"))
            XCTAssertTrue(out.contains("(0028,0010) US 96"), out)
            XCTAssertTrue(out.contains("(0028,0100) US 16"))
            XCTAssertTrue(out.contains("(0018,1120) DS [0]"), out)
            XCTAssertTrue(out.contains("(0020,0013) IS [\(row[3])]"), out)
            XCTAssertTrue(out.contains("(7fe0,0010) OW"), out)
            if expectSigned {
                XCTAssertTrue(out.contains("(0028,0101) US 16") && out.contains("(0028,0103) US 1"), out)
                XCTAssertTrue(out.contains("(0028,1052) DS [0]"), out)
                XCTAssertTrue(out.contains("(0028,0120) SS -2000"), out)
            } else {
                XCTAssertTrue(out.contains("(0028,0103) US"))
                XCTAssertTrue(out.contains("(0028,1052) DS [-1024]") == out.contains("(0028,0101) US 12"), out)
            }
        }
    }

    func testRefusesANonEmptyFolder() throws {
        XCTAssertThrowsError(try DatasetWriter(root: dir)) { error in
            XCTAssertTrue("\(error)".contains("not empty"), "\(error)")
        }
    }

    func testBadSubtypeListIsAClearError() {
        XCTAssertThrowsError(try Subtype.parseList("epidural,bogus")) { XCTAssertTrue("\($0)".contains("bogus")) }
        XCTAssertEqual(try Subtype.parseList("none"), [])
        XCTAssertEqual(try Subtype.parseList("subdural, epidural"), [.subdural, .epidural])
    }
}
