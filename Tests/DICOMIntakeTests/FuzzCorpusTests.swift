import CDICOM
import XCTest
@testable import DICOMIntake

/// The fuzz target's seed corpus (and the inputs the fuzzer found) through the same C calls, without
/// sanitizers: a cheap regression check inside `make test` (the fuzzing itself is `make fuzz`).
final class FuzzCorpusTests: XCTestCase {
    static var corpus: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/corpus")
    }

    func testEveryCorpusInputGivesAResultNotACrash() throws {
        let files = try FileManager.default.contentsOfDirectory(at: Self.corpus, includingPropertiesForKeys: nil)
        XCTAssertGreaterThan(files.count, 10)
        var decoded = 0
        for url in files {
            let bytes = [UInt8](try Data(contentsOf: url))
            var limits = cdicom_limits(max_pixels: 256 * 256, max_sequence_depth: 16)
            var file: OpaquePointer?
            var message = [CChar](repeating: 0, count: 256)
            let status = cdicom_open_memory(bytes, bytes.count, &limits, &file, &message, message.count)
            if url.lastPathComponent.hasPrefix("regress-") {
                XCTAssertNotEqual(status, CDICOM_OK, url.lastPathComponent)
                XCTAssertFalse(String(cString: message).isEmpty)
                continue
            }
            XCTAssertEqual(status, CDICOM_OK, "\(url.lastPathComponent): \(String(cString: message))")
            guard let file else { continue }
            defer { cdicom_close(file) }
            var info = cdicom_image_info()
            XCTAssertEqual(cdicom_get_image_info(file, &info, &message, message.count), CDICOM_OK)
            var hu = [Float](repeating: 0, count: Int(info.rows * info.columns))
            if cdicom_decode_hu(file, nil, &hu, hu.count, nil, &message, message.count) == CDICOM_OK { decoded += 1 }
        }
        // Every seed is a valid small CT image in one of the supported transfer syntaxes.
        XCTAssertEqual(decoded, files.filter { !$0.lastPathComponent.hasPrefix("regress-") }.count)
    }
}
