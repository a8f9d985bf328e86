import XCTest
@testable import DICOMIntake

/// Skip reasons for what is not an original axial CT head image, and the assembly's reports
/// (gaps, split series).
final class ClassificationAndAssemblyTests: XCTestCase {
    func testNonCTAndNonAxialAndNonImageObjectsAreSkippedWithReasons() throws {
        try TestSupport.requireData()
        let dir = try TestSupport.temporaryFolder(self)
        let slices = try TestSupport.geSlices()
        func variant(_ name: String, _ args: [String]) throws {
            let f = try TestSupport.copy(slices[5], to: dir.appendingPathComponent(name))
            try TestSupport.run("dcmodify", ["-nb", "-gin"] + args + [f.path])
        }
        try variant("mr", ["-m", "(0008,0060)=MR"])
        try variant("coronal", ["-m", "(0020,0037)=1\\0\\0\\0\\0\\-1"])
        try variant("sagittal", ["-m", "(0020,0037)=0\\1\\0\\0\\0\\-1"])
        try variant("derived", ["-m", "(0008,0008)=DERIVED\\SECONDARY\\AXIAL"])
        try variant("chest", ["-m", "(0018,0015)=CHEST"])
        try variant("no-position", ["-e", "(0020,0032)"])
        // A dose report: a structured report without pixel data.
        let dump = dir.appendingPathComponent("dose.txt")
        try """
        (0008,0016) UI [1.2.840.10008.5.1.4.1.1.88.67]
        (0008,0018) UI [1.2.3.4.5.6.7]
        (0008,0060) CS [SR]
        (0020,000d) UI [1.2.3.4]
        (0020,000e) UI [1.2.3.4.5]
        """.write(to: dump, atomically: true, encoding: .utf8)
        try TestSupport.run("dump2dcm", ["-g", dump.path, dir.appendingPathComponent("dose.dcm").path])
        try FileManager.default.removeItem(at: dump)

        let result = DICOMIntake.scan(folder: dir.path)
        XCTAssertTrue(result.series.isEmpty, "\(result.series.map(\.slices.count))")
        let reasons = Dictionary(uniqueKeysWithValues: result.skipped.map {
            (URL(fileURLWithPath: $0.path).lastPathComponent, $0.reason)
        })
        XCTAssertEqual(reasons["mr"], "modality MR is not CT")
        XCTAssertEqual(reasons["coronal"], "coronal image, not axial")
        XCTAssertEqual(reasons["sagittal"], "sagittal image, not axial")
        XCTAssertEqual(reasons["derived"], "derived image (ImageType DERIVED\\SECONDARY\\AXIAL)")
        XCTAssertEqual(reasons["chest"], "body part CHEST is not head")
        XCTAssertEqual(reasons["no-position"], "no ImagePositionPatient/ImageOrientationPatient: cannot order slices")
        XCTAssertEqual(reasons["dose.dcm"], "dose report (Radiation Dose SR), not an image")
        XCTAssertTrue(result.skipped.allSatisfy { !$0.isError }, "\(result.skipped)")
    }

    func testMissingSlicesAreReportedAsAGap() throws {
        try TestSupport.requireData()
        let dir = try TestSupport.temporaryFolder(self)
        let s2010 = TestSupport.philipsExport.appendingPathComponent("S21570/S2010")
        let full = DICOMIntake.scan(folder: s2010.path).series[0]
        // Drop three consecutive slices from the middle of the ordered series.
        for (i, slice) in full.slices.enumerated() where !(12...14).contains(i) {
            try TestSupport.copy(URL(fileURLWithPath: slice.path), to: dir.appendingPathComponent("s\(i)"))
        }
        let s = try XCTUnwrap(DICOMIntake.scan(folder: dir.path).series.first)
        XCTAssertEqual(s.slices.count, 25)
        XCTAssertTrue(s.warnings.contains { $0.hasPrefix("1 gap(s) in coverage: 20 mm after slice 12") }, "\(s.warnings)")
        XCTAssertFalse(full.warnings.contains { $0.contains("gap") }, "\(full.warnings)")
    }

    func testSeriesWithDifferentOrientationsIsSplit() throws {
        try TestSupport.requireData()
        let dir = try TestSupport.temporaryFolder(self)
        let slices = try TestSupport.geSlices()
        for (i, url) in slices[0..<10].enumerated() {
            let f = try TestSupport.copy(url, to: dir.appendingPathComponent(url.lastPathComponent))
            if i >= 6 { try TestSupport.run("dcmodify", ["-nb", "-m", "(0020,0037)=1\\0\\0\\0\\1\\0", f.path]) }
        }
        let result = DICOMIntake.scan(folder: dir.path)
        XCTAssertEqual(result.series.count, 2)
        XCTAssertEqual(result.series.map(\.slices.count).sorted(), [4, 6])
        XCTAssertEqual(Set(result.series.map(\.seriesInstanceUID)).count, 1)
        XCTAssertEqual(result.series.compactMap(\.part).sorted(), [1, 2])
        XCTAssertTrue(result.series.allSatisfy { $0.warnings.contains { $0.hasPrefix("series split") } })
    }
}
