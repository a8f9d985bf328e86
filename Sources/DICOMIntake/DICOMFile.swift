import CDICOM

/// One open DICOM file: the only Swift type that calls the C shim's read side.
final class DICOMFile {
    private let handle: OpaquePointer
    let path: String

    init(path: String, configuration: IntakeConfiguration) throws {
        var limits = cdicom_limits(max_pixels: configuration.maxPixelsPerImage,
                                   max_sequence_depth: configuration.maxSequenceDepth)
        var out: OpaquePointer?
        var message = [CChar](repeating: 0, count: 512)
        let status = cdicom_open(path, &limits, &out, &message, message.count)
        guard status == CDICOM_OK, let out else {
            throw IntakeError(status: status, message: String(cString: message), path: path)
        }
        handle = out
        self.path = path
    }

    deinit { cdicom_close(handle) }

    func has(_ tag: UInt32) -> Bool { cdicom_has_tag(handle, tag) != 0 }

    /// The whole text value; nil when absent or unreadable as text.
    func string(_ tag: UInt32) -> String? {
        var buffer = [CChar](repeating: 0, count: 1024)
        guard cdicom_get_string(handle, tag, &buffer, buffer.count) == CDICOM_OK else { return nil }
        return String(cString: buffer)
    }

    /// Multi-valued text split at backslashes, each value trimmed.
    func strings(_ tag: UInt32) -> [String] {
        guard let s = string(tag), !s.isEmpty else { return [] }
        return s.split(separator: "\\", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// Numeric values; nil when absent; throws when present but not numbers.
    func numbers(_ tag: UInt32, name: String, max: Int = 16) throws -> [Double]? {
        var values = [Double](repeating: 0, count: max)
        var count = 0
        let status = cdicom_get_numbers(handle, tag, &values, max, &count)
        if status == CDICOM_ERR_MISSING_TAG { return nil }
        guard status == CDICOM_OK else {
            throw IntakeError(.badValue, "\(name) is not a number", path: path)
        }
        return Array(values.prefix(count))
    }

    var transferSyntax: String {
        var buffer = [CChar](repeating: 0, count: 128)
        _ = cdicom_get_transfer_syntax(handle, &buffer, buffer.count)
        return String(cString: buffer)
    }

    func imageInfo() throws -> cdicom_image_info {
        var info = cdicom_image_info()
        var message = [CChar](repeating: 0, count: 512)
        let status = cdicom_get_image_info(handle, &info, &message, message.count)
        guard status == CDICOM_OK else {
            throw IntakeError(status: status, message: String(cString: message), path: path)
        }
        return info
    }

    func decodeHU(paddingHU: Float, applyRSNAFix: Bool) throws -> HUImage {
        let info = try imageInfo()
        let count = Int(info.rows) * Int(info.columns)
        var options = cdicom_hu_options(apply_rsna_fix: applyRSNAFix ? 1 : 0, padding_fill: paddingHU)
        var report = cdicom_hu_report()
        var message = [CChar](repeating: 0, count: 512)
        var status = CDICOM_OK
        let pixels = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            status = cdicom_decode_hu(handle, &options, buffer.baseAddress, count, &report, &message, message.count)
            if status != CDICOM_OK { buffer.initialize(repeating: 0) }
            initialized = count
        }
        guard status == CDICOM_OK else {
            throw IntakeError(status: status, message: String(cString: message), path: path)
        }
        return HUImage(rows: Int(info.rows), columns: Int(info.columns), pixels: pixels,
                       rsnaFixApplied: report.rsna_fix_applied != 0, paddedPixels: Int(report.padded_pixels))
    }

    func decodeStored() throws -> [Int16] {
        let info = try imageInfo()
        let count = Int(info.rows) * Int(info.columns)
        var message = [CChar](repeating: 0, count: 512)
        var status = CDICOM_OK
        let values = [Int16](unsafeUninitializedCapacity: count) { buffer, initialized in
            status = cdicom_decode_int16(handle, buffer.baseAddress, count, &message, message.count)
            if status != CDICOM_OK { buffer.initialize(repeating: 0) }
            initialized = count
        }
        guard status == CDICOM_OK else {
            throw IntakeError(status: status, message: String(cString: message), path: path)
        }
        return values
    }
}
