/// One decoded slice in Hounsfield units, row-major.
public struct HUImage: Sendable {
    public var rows: Int
    public var columns: Int
    public var pixels: [Float]
    /// The RSNA 12-bit quirk was corrected for this slice.
    public var rsnaFixApplied: Bool
    /// Pixels equal to PixelPaddingValue, written as `IntakeConfiguration.paddingHU`.
    public var paddedPixels: Int
}

/// Decoding pixels to HU: stored * RescaleSlope + RescaleIntercept with padding masked and the RSNA
/// quirk handled (see `IntakeConfiguration.applyRSNAFix`). Every transfer syntax free DCMTK
/// decodes is accepted; JPEG 2000 throws `.unsupportedTransferSyntax`.
public enum HUDecoder {
    public static func decode(path: String, configuration: IntakeConfiguration = .init()) throws -> HUImage {
        let file = try DICOMFile(path: path, configuration: configuration)
        return try file.decodeHU(paddingHU: configuration.paddingHU, applyRSNAFix: configuration.applyRSNAFix)
    }

    /// The series' slices in series order.
    public static func decode(series: CTSeries, configuration: IntakeConfiguration = .init()) throws -> [HUImage] {
        try series.slices.map { try decode(path: $0.path, configuration: configuration) }
    }

    /// Stored values (masked to BitsStored, sign-extended) of the first frame, before rescaling.
    public static func storedValues(path: String, configuration: IntakeConfiguration = .init()) throws -> [Int16] {
        try DICOMFile(path: path, configuration: configuration).decodeStored()
    }
}
