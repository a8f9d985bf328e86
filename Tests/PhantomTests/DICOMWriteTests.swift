import Foundation
import XCTest
@testable import Phantom

/// cdicom_write.h beyond CT: an 8-bit RGB Secondary Capture with a reference to its source
/// study (what the triage report will write), and errors that leave nothing behind.
final class DICOMWriteTests: XCTestCase {
    private var dir: URL!
    override func setUpWithError() throws {
        dir = makeTempDir("write")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func testSecondaryCaptureRGBWithSourceReference() throws {
        guard let dcmdump = which("dcmdump") else { throw XCTSkip("dcmdump not installed (scripts/setup.sh installs dcmtk)") }
        let path = dir.appendingPathComponent("sc.dcm").path
        let source = DICOMFileWriter.uid(), sop = DICOMFileWriter.uid()
        var rgb = [UInt8](repeating: 0, count: 4 * 6 * 3)
        for i in 0..<24 { rgb[i * 3] = UInt8(i * 10); rgb[i * 3 + 1] = 200; rgb[i * 3 + 2] = 7 }
        let elements: [DICOMFileWriter.Element] = [
            .init(tag: "(0008,0016)", value: "1.2.840.10008.5.1.4.1.1.7"),
            .init(tag: "(0008,0018)", value: sop),
            .init(tag: "(0008,0060)", value: "OT"),
            .init(tag: "(0020,000D)", value: source),
            .init(tag: "(0028,0301)", value: "YES"),
            .init(tag: "(0020,4000)", value: "NOT FOR DIAGNOSTIC USE"),
            .init(tag: "(0008,1110)[0].(0008,1150)", value: "1.2.840.10008.3.1.2.3.1"),
            .init(tag: "(0008,1110)[0].(0008,1155)", value: source),
        ]
        try rgb.withUnsafeBytes { raw in
            try DICOMFileWriter.write(path: path, elements: elements, data: raw, rows: 4, columns: 6, samples: 3,
                                      bitsAllocated: 8, bitsStored: 8, signed: false, photometric: "RGB")
        }
        let (status, out) = try runTool(dcmdump, [path])
        XCTAssertEqual(status, 0, out)
        for expected in ["=SecondaryCaptureImageStorage", "[\(sop)]", "(0028,0002) US 3", "(0028,0004) CS [RGB]",
                         "(0028,0006) US 0", "(0028,0100) US 8", "(0028,0301) CS [YES]", "[NOT FOR DIAGNOSTIC USE]",
                         "(0008,1110) SQ", "(0008,1155) UI [\(source)]", "(7fe0,0010) OB 00\\c8\\07\\0a\\c8\\07"] {
            XCTAssertTrue(out.contains(expected), "missing \(expected) in\n\(out)")
        }
    }

    func testErrorsAreReportedAndLeaveNoFile() throws {
        let path = dir.appendingPathComponent("bad.dcm").path
        let pixels = [Int16](repeating: 0, count: 16)
        let base: [DICOMFileWriter.Element] = [.init(tag: "(0008,0016)", value: "1.2.840.10008.5.1.4.1.1.2"),
                                               .init(tag: "(0008,0018)", value: DICOMFileWriter.uid())]
        let cases: [([DICOMFileWriter.Element], Int, String)] = [
            (base + [.init(tag: "0010,0010", value: "X")], 4, "bad tag path"),
            (base + [.init(tag: "(0028,0010)", vr: "QQ", value: "1")], 4, "unknown VR"),
            (base + [.init(tag: "(0028,0011)", value: "many")], 4, "refused"),
            ([base[0]], 4, "SOPInstanceUID"),
            (base, 5, "pixel buffer holds"),
        ]
        for (elements, side, message) in cases {
            XCTAssertThrowsError(try DICOMFileWriter.writeGrey16(path: path, elements: elements, pixels: pixels, rows: side,
                                                                 columns: 4, bitsStored: 16, signed: true)) { error in
                XCTAssertTrue("\(error)".contains(message), "expected '\(message)' in \(error)")
            }
            let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            XCTAssertEqual(left, [], "a failed write left files: \(left)")
        }
        // And a write into a missing folder is an I/O error, not a crash.
        XCTAssertThrowsError(try DICOMFileWriter.writeGrey16(path: dir.appendingPathComponent("no/such/x.dcm").path,
                                                             elements: base, pixels: pixels, rows: 4, columns: 4,
                                                             bitsStored: 16, signed: true)) { error in
            XCTAssertTrue("\(error)".contains("cannot write"), "\(error)")
        }
    }
}
