import CDICOM
import Crypto
import DICOMIntake
import Foundation

/// The key-slice overlays as a DICOM Secondary Capture series for PACS: new series and instance UIDs,
/// filed in the source study (its StudyInstanceUID), each image referencing its source CT slice (SourceImageSequence), burned-in "NOT FOR DIAGNOSTIC USE".
enum SecondaryCapture {
    /// A UID derived from `parts` (PS3.5 B.2: "2.25." and a UUID as a decimal integer; here a
    /// name-based UUID, version 8, from SHA-256). The same series analysed again by the same model
    /// (a retry after a crash or a power cut) gets the same UIDs, so a PACS that received the first
    /// attempt replaces its images instead of filing a second copy of the series.
    static func derivedUID(_ parts: [String]) -> String {
        var bytes = Array(SHA256.hash(data: Data(parts.joined(separator: "\u{1F}").utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80  // version 8
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 9562 variant
        let value = bytes.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
        return "2.25.\(value)"
    }

    /// Writes one file per image into `folder`; returns the file URLs. `model` identifies the detector
    /// (name, version): with the source slices it decides the UIDs.
    static func write(images: [(rgb: [UInt8], size: Int, key: AlertRecord.KeySlice)], series: CTSeries,
                      model: AlertRecord.Model, folder: URL) throws -> [URL] {
        // Everything the images depend on: the exact slices analysed and the model that analysed them.
        let source = ["ichtriage-sc", series.studyInstanceUID, series.seriesInstanceUID, model.name, model.version]
            + series.slices.map(\.sopInstanceUID)
        let seriesUID = derivedUID(source + ["series"])
        var urls: [URL] = []
        for (n, image) in images.enumerated() {
            let sopUID = derivedUID(source + ["image", String(n), image.key.sopInstanceUID])
            let url = folder.appendingPathComponent(String(format: "SC%03d.dcm", n + 1))
            let attributes: [(String, String?, String)] = [
                ("(0008,0016)", nil, CDICOM_SOP_CLASS_SECONDARY_CAPTURE), ("(0008,0018)", nil, sopUID),
                ("(0008,0008)", nil, "DERIVED\\SECONDARY"), ("(0008,0060)", nil, "OT"), ("(0008,0064)", nil, "WSD"),
                ("(0008,0020)", nil, series.studyDate), ("(0008,0030)", nil, series.studyTime),
                ("(0008,0050)", nil, series.accessionNumber), ("(0008,0090)", nil, ""), ("(0008,0070)", nil, ""),
                ("(0008,103E)", nil, "ICH triage key images - NOT FOR DIAGNOSTIC USE"),
                ("(0008,2111)", nil, "Grad-CAM overlay of the ICH triage detector - NOT FOR DIAGNOSTIC USE"),
                ("(0010,0010)", nil, ""), ("(0010,0020)", nil, ""), ("(0010,0030)", nil, ""), ("(0010,0040)", nil, ""),
                ("(0020,000D)", nil, series.studyInstanceUID), ("(0020,000E)", nil, seriesUID),
                ("(0020,0010)", nil, ""), ("(0020,0011)", nil, "9901"), ("(0020,0013)", nil, String(n + 1)),
                ("(0020,0020)", nil, ""), ("(0020,0060)", nil, ""), ("(0028,0301)", nil, "YES"),
                ("(0020,4000)", nil, "NOT FOR DIAGNOSTIC USE. Key slice \(image.key.index + 1), p=\(String(format: "%.3f", image.key.probability))"),
                ("(0008,2112)[0].(0008,1150)", nil, CDICOM_SOP_CLASS_CT_IMAGE),
                ("(0008,2112)[0].(0008,1155)", nil, image.key.sopInstanceUID),
            ]
            try writeFile(url: url, attributes: attributes, rgb: image.rgb, size: image.size)
            urls.append(url)
        }
        return urls
    }

    private static func writeFile(url: URL, attributes: [(String, String?, String)], rgb: [UInt8], size: Int) throws {
        // Keep every C string alive for the duration of the call.
        let strings = attributes.map { (strdup($0.0)!, $0.1.map { strdup($0)! }, strdup($0.2)!) }
        defer { for s in strings { free(s.0); s.1.map { free($0) }; free(s.2) } }
        let elements = strings.map { cdicom_write_element(tag: $0.0, vr: $0.1, value: $0.2) }
        let photometric = strdup("RGB")!
        defer { free(photometric) }
        var error = [CChar](repeating: 0, count: 512)
        let capacity = error.count
        let status = rgb.withUnsafeBytes { raw in
            var pixels = cdicom_write_pixels(data: raw.baseAddress, length_bytes: raw.count, rows: UInt16(size),
                                             columns: UInt16(size), samples_per_pixel: 3, bits_allocated: 8,
                                             bits_stored: 8, pixel_representation: 0, photometric: photometric)
            return elements.withUnsafeBufferPointer {
                cdicom_write_file(url.path, $0.baseAddress, $0.count, &pixels, 0, &error, capacity)
            }
        }
        guard status == CDICOM_WRITE_OK else {
            throw TriageError(.output, "\(url.path): \(String(cString: error))")
        }
    }
}
