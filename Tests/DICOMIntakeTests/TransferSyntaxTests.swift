import XCTest
@testable import DICOMIntake

/// Every transfer syntax the intake accepts decodes to the same HU as the uncompressed original.
/// The encodings are made at test time with DCMTK's command-line tools.
final class TransferSyntaxTests: XCTestCase {
    struct Encoding {
        var name: String
        var tool: String
        var flags: [String]
        var lossless: Bool
        var uid: String
    }

    static let encodings: [Encoding] = [
        .init(name: "implicit-le", tool: "dcmconv", flags: ["+ti"], lossless: true, uid: "1.2.840.10008.1.2"),
        .init(name: "explicit-le", tool: "dcmconv", flags: ["+te"], lossless: true, uid: "1.2.840.10008.1.2.1"),
        .init(name: "explicit-be", tool: "dcmconv", flags: ["+tb"], lossless: true, uid: "1.2.840.10008.1.2.2"),
        .init(name: "deflated", tool: "dcmconv", flags: ["+td"], lossless: true, uid: "1.2.840.10008.1.2.1.99"),
        .init(name: "jpeg-lossless-sv1", tool: "dcmcjpeg", flags: ["+e1"], lossless: true, uid: "1.2.840.10008.1.2.4.70"),
        .init(name: "jpeg-lossless", tool: "dcmcjpeg", flags: ["+el"], lossless: true, uid: "1.2.840.10008.1.2.4.57"),
        .init(name: "jpeg-ls-lossless", tool: "dcmcjpls", flags: ["+el"], lossless: true, uid: "1.2.840.10008.1.2.4.80"),
        .init(name: "rle", tool: "dcmcrle", flags: [], lossless: true, uid: "1.2.840.10008.1.2.5"),
        .init(name: "jpeg-baseline", tool: "dcmcjpeg", flags: ["+eb"], lossless: false, uid: "1.2.840.10008.1.2.4.50"),
        .init(name: "jpeg-extended", tool: "dcmcjpeg", flags: ["+ee"], lossless: false, uid: "1.2.840.10008.1.2.4.51"),
    ]

    /// Lossy bounds, in HU over the pixels that are not padding in the original, measured on these
    /// two slices with DCMTK 3.6.7 defaults (quality 90): the tests fail if decoding gets worse.
    /// jpeg-baseline is 8-bit: DCMTK maps the ~3300 HU range onto 256 levels (steps of 8-16 HU).
    static let lossyBounds: [String: (meanAbs: Float, maxAbs: Float)] = [
        "jpeg-baseline": (meanAbs: 12, maxAbs: 260),  // measured: GE 10.7 / 238.5, Philips 5.4 / 48.1
        "jpeg-extended": (meanAbs: 2, maxAbs: 20),    // measured: GE 1.33 / 16, Philips 0.79 / 9
    ]

    func testEveryTransferSyntaxDecodesToTheOriginalHU() throws {
        try TestSupport.requireData()
        let dir = try TestSupport.temporaryFolder(self)
        let sources = [
            ("ge", TestSupport.geExam.appendingPathComponent("12.dcm")),  // signed 16-bit, padding -1500
            ("philips", TestSupport.philipsExport.appendingPathComponent("S21570/S2010/I140")),  // 12-bit unsigned
        ]
        var report: [String] = []
        for (label, source) in sources {
            let original = try TestSupport.copy(source, to: dir.appendingPathComponent("\(label)-original.dcm"))
            let reference = try HUDecoder.decode(path: original.path)
            let padding = try HUDecoder.storedValues(path: original.path).map { label == "ge" && $0 == -1500 }
            for e in Self.encodings {
                let out = dir.appendingPathComponent("\(label)-\(e.name).dcm")
                try TestSupport.run(e.tool, e.flags + [original.path, out.path])
                let header = try SliceHeader.read(path: out.path)
                XCTAssertEqual(header.transferSyntaxUID, e.uid, "\(label) \(e.name)")
                let hu = try HUDecoder.decode(path: out.path)
                XCTAssertEqual(hu.pixels.count, reference.pixels.count)
                if e.lossless {
                    XCTAssertTrue(hu.pixels == reference.pixels, "\(label) \(e.name): lossless decode differs")
                    report.append("\(label) \(e.name): identical")
                } else {
                    var sum: Float = 0, worst: Float = 0, n = 0
                    for i in 0..<hu.pixels.count where !padding[i] {
                        let d = abs(hu.pixels[i] - reference.pixels[i])
                        sum += d; worst = max(worst, d); n += 1
                    }
                    let mean = sum / Float(n)
                    let bound = Self.lossyBounds[e.name]!
                    XCTAssertLessThanOrEqual(mean, bound.meanAbs, "\(label) \(e.name)")
                    XCTAssertLessThanOrEqual(worst, bound.maxAbs, "\(label) \(e.name)")
                    report.append("\(label) \(e.name): mean |dHU| \(mean), max |dHU| \(worst)")
                }
            }
        }
        print("transfer syntax HU comparison:\n  " + report.joined(separator: "\n  "))
    }

    func testJPEG2000IsReportedAsUnsupportedTransferSyntaxNotCorrupt() throws {
        try TestSupport.requireData()
        let dir = try TestSupport.temporaryFolder(self)
        let source = TestSupport.geExam.appendingPathComponent("03.dcm")
        // Realistic: encapsulated pixel data labelled JPEG 2000 (the header reads, the pixels cannot).
        let encapsulated = dir.appendingPathComponent("j2k-encapsulated.dcm")
        try TestSupport.run("dcmcjpeg", ["+el", source.path, encapsulated.path])
        try MalformedFiles.setMetaTransferSyntax(encapsulated, "1.2.840.10008.1.2.4.90")
        let header = try SliceHeader.read(path: encapsulated.path)
        XCTAssertEqual(header.transferSyntaxUID, "1.2.840.10008.1.2.4.90")
        // Crude: native pixel data with only the transfer syntax UID changed (DCMTK cannot parse it).
        let native = try TestSupport.copy(source, to: dir.appendingPathComponent("j2k-native.dcm"))
        try MalformedFiles.setMetaTransferSyntax(native, "1.2.840.10008.1.2.4.90")
        for file in [encapsulated, native] {
            XCTAssertThrowsError(try HUDecoder.decode(path: file.path)) { error in
                XCTAssertEqual((error as? IntakeError)?.code, .unsupportedTransferSyntax, "\(error)")
                XCTAssertTrue("\(error)".contains("unsupported transfer syntax 1.2.840.10008.1.2.4.90"), "\(error)")
            }
        }
        // Through the intake: both skipped with that reason, not called corrupt, not quarantined.
        var config = IntakeConfiguration()
        config.quarantineFolder = dir.appendingPathComponent("quarantine")
        let result = DICOMIntake.scan(folder: dir.path, configuration: config)
        XCTAssertEqual(result.series.count, 0)
        XCTAssertEqual(result.skipped.count, 2, "\(result.skipped)")
        XCTAssertTrue(result.skipped.allSatisfy { $0.reason.contains("unsupported transfer syntax") && !$0.isError }, "\(result.skipped)")
        XCTAssertTrue(result.quarantined.isEmpty)
    }

    func testRSNAQuirkTreats12BitUnsignedWithHighInterceptAsSigned() throws {
        try TestSupport.requireData()
        let dir = try TestSupport.temporaryFolder(self)
        let file = try TestSupport.copy(TestSupport.philipsExport.appendingPathComponent("S21570/S2010/I10"),
                                        to: dir.appendingPathComponent("rsna.dcm"))
        try TestSupport.run("dcmodify", ["-nb", "-m", "(0028,1052)=0", file.path])
        // Pixel 0 stored 4000 (signed 12-bit: -96), pixel 1 stored 2047 (stays), pixel 2 stored 2048 (-2048).
        try MalformedFiles.overwriteTrailingPixels(file, pixelCount: 512 * 512, values: [0: 4000, 1: 2047, 2: 2048])
        let fixed = try HUDecoder.decode(path: file.path)
        XCTAssertTrue(fixed.rsnaFixApplied)
        XCTAssertEqual(Array(fixed.pixels[0..<3]), [-96, 2047, -2048])
        var config = IntakeConfiguration()
        config.applyRSNAFix = false
        let raw = try HUDecoder.decode(path: file.path, configuration: config)
        XCTAssertFalse(raw.rsnaFixApplied)
        XCTAssertEqual(Array(raw.pixels[0..<3]), [4000, 2047, 2048])
        // Intercept -1024 (the normal case) is left alone.
        XCTAssertFalse(try HUDecoder.decode(path: TestSupport.philipsExport.appendingPathComponent("S21570/S2010/I10").path).rsnaFixApplied)
    }
}
