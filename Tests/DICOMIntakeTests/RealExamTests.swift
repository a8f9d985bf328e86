import XCTest
@testable import DICOMIntake

/// The two real exams of ../shared/data/real-head-ct, read in place (read-only).
final class RealExamTests: XCTestCase {
    func testGEExamIsOneTiltedSeriesOf28InSpatialOrder() throws {
        try TestSupport.requireData()
        let result = DICOMIntake.scan(folder: TestSupport.geExam.path)
        XCTAssertEqual(result.series.count, 1)
        XCTAssertEqual(result.skipped.count, 0, "\(result.skipped)")
        let s = try XCTUnwrap(result.series.first)
        XCTAssertEqual(s.slices.count, 28)
        // Spatial order: positions along the normal strictly increase.
        let d = s.slices.map(\.positionAlongNormal)
        XCTAssertEqual(d, d.sorted())
        XCTAssertEqual(Set(d).count, 28)
        XCTAssertEqual(s.gantryTilt, 18.5, accuracy: 0.01)
        XCTAssertTrue(s.warnings.contains { $0.contains("gantry tilt 18.5") }, "\(s.warnings)")
        XCTAssertEqual(s.sliceThicknesses, [4, 7])
        XCTAssertTrue(s.warnings.contains { $0.hasPrefix("mixed slice thickness") }, "\(s.warnings)")
        XCTAssertTrue(s.warnings.contains { $0.hasPrefix("uneven slice spacing") }, "\(s.warnings)")
        // About 1 mm (overlap at the 4/7 mm boundary) to 7 mm between positions.
        XCTAssertEqual(try XCTUnwrap(s.spacings.min()), 1.0, accuracy: 0.2)
        XCTAssertEqual(try XCTUnwrap(s.spacings.max()), 7.0, accuracy: 0.1)
        // The geometry agrees with the declared tilt even without the tag.
        let measured = SeriesAssembly.gantryTilt(slices: s.slices, normal: Geometry.normal(s.slices[0].imageOrientation), declared: nil)
        XCTAssertEqual(measured, 18.5, accuracy: 0.3)
    }

    func testGEOrderIsNotInstanceNumberOrderWhenFilesAreShuffled() throws {
        try TestSupport.requireData()
        // Copy with names that sort in a scrambled order; the result must still be spatial.
        let dir = try TestSupport.temporaryFolder(self)
        var slices = try TestSupport.geSlices()
        var rng = SystemRandomNumberGenerator()
        slices.shuffle(using: &rng)
        for (i, url) in slices.enumerated() {
            try TestSupport.copy(url, to: dir.appendingPathComponent(String(format: "x%02d", i)))
        }
        let result = DICOMIntake.scan(folder: dir.path)
        XCTAssertEqual(result.series.count, 1)
        let s = try XCTUnwrap(result.series.first)
        XCTAssertEqual(s.slices.count, 28)
        let d = s.slices.map(\.positionAlongNormal)
        XCTAssertEqual(d, d.sorted())
        let reference = DICOMIntake.scan(folder: TestSupport.geExam.path).series[0]
        XCTAssertEqual(s.slices.map(\.sopInstanceUID), reference.slices.map(\.sopInstanceUID))
    }

    func testPhilipsUSBExportGivesOneSeriesAndSkipsTheRestWithReasons() throws {
        try TestSupport.requireData()
        let result = DICOMIntake.scan(folder: TestSupport.philipsExport.path)
        XCTAssertEqual(result.series.count, 1, "\(result.series.map(\.description))")
        let s = try XCTUnwrap(result.series.first)
        XCTAssertEqual(s.description, "STD BRAIN 5MM")
        XCTAssertEqual(s.slices.count, 28)
        XCTAssertTrue(s.slices.allSatisfy { $0.path.contains("/S2010/") })
        XCTAssertEqual(s.sliceThicknesses, [5])
        XCTAssertEqual(s.gantryTilt, 0)
        XCTAssertFalse(s.warnings.contains { $0.contains("gap") || $0.contains("uneven") }, "\(s.warnings)")
        let d = s.slices.map(\.positionAlongNormal)
        XCTAssertEqual(d, d.sorted())

        // No errors at all: the DICOMDIR entries whose files are absent are not looked for.
        XCTAssertTrue(result.skipped.allSatisfy { !$0.isError }, "\(result.skipped)")
        XCTAssertTrue(result.quarantined.isEmpty)
        let localizers = result.skipped.filter { $0.path.contains("/S1000/") }
        XCTAssertEqual(localizers.count, 1)
        XCTAssertTrue(localizers[0].reason.contains("localizer"), localizers[0].reason)
        let summaries = result.skipped.filter { $0.path.contains("/S4010/") }
        XCTAssertEqual(summaries.count, 6)
        XCTAssertTrue(summaries.allSatisfy { $0.reason.contains("secondary capture") }, "\(summaries)")
        // DICOMDIR and DIRFILE are ignored, not skipped as errors.
        XCTAssertFalse(result.skipped.contains { $0.path.hasSuffix("DICOMDIR") || $0.path.hasSuffix("DIRFILE") })
        XCTAssertEqual(result.skipped.count, 7)
    }

    func testPhilipsHUUsesInterceptAnd12BitDataIsNotWrapped() throws {
        try TestSupport.requireData()
        let slice = TestSupport.philipsExport.appendingPathComponent("S21570/S2010/I100").path
        let hu = try HUDecoder.decode(path: slice)
        let stored = try HUDecoder.storedValues(path: slice)
        XCTAssertFalse(hu.rsnaFixApplied, "intercept -1024 is not the RSNA case")
        XCTAssertEqual(hu.pixels.count, 512 * 512)
        for i in stride(from: 0, to: stored.count, by: 997) {
            XCTAssertEqual(hu.pixels[i], Float(stored[i]) - 1024)
        }
        // Air around the phantom is about -1000 HU.
        XCTAssertLessThan(hu.pixels[0], -900)
    }

    func testGEPaddingIsMasked() throws {
        try TestSupport.requireData()
        var config = IntakeConfiguration()
        config.paddingHU = -3000
        let path = TestSupport.geExam.appendingPathComponent("10.dcm").path
        let hu = try HUDecoder.decode(path: path, configuration: config)
        let stored = try HUDecoder.storedValues(path: path)
        let padding = stored.filter { $0 == -1500 }.count
        XCTAssertGreaterThan(padding, 0)
        XCTAssertEqual(hu.paddedPixels, padding)
        XCTAssertEqual(hu.pixels.filter { $0 == -3000 }.count, padding)
        XCTAssertFalse(hu.pixels.contains(-1500))
    }

    func testPatientInitialsAreDerivedAndNotInDescriptions() {
        XCTAssertEqual(SliceHeader.initials(ofPersonName: "DOE^JOHN^Q"), "J.D.")
        XCTAssertEqual(SliceHeader.initials(ofPersonName: "REMOVED"), "R.")
        XCTAssertEqual(SliceHeader.initials(ofPersonName: ""), "")
    }
}
