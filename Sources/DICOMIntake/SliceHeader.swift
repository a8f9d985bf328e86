import CDICOM
import Foundation

/// What the intake reads from one file's header. Patient name is kept only as initials for the
/// status screen and is not part of `description`: never log it.
public struct SliceHeader: Sendable, CustomStringConvertible {
    public var path: String
    public var sopClassUID: String
    public var sopInstanceUID: String
    public var studyInstanceUID: String
    public var seriesInstanceUID: String
    public var modality: String
    public var imageType: [String]
    public var seriesDescription: String
    public var studyDate: String
    public var studyTime: String
    public var accessionNumber: String
    public var bodyPartExamined: String
    public var patientInitials: String
    public var transferSyntaxUID: String
    public var instanceNumber: Int?
    public var hasPixelData: Bool
    /// Filled for image objects only (after the image module was validated).
    public var rows: Int = 0
    public var columns: Int = 0
    public var numberOfFrames: Int = 1
    public var samplesPerPixel: Int = 1
    public var pixelSpacing: [Double]?
    public var sliceThickness: Double?
    public var imagePosition: [Double]?
    public var imageOrientation: [Double]?
    public var gantryTilt: Double?
    public var rescaleSlope: Double = 1
    public var rescaleIntercept: Double = 0

    public var description: String {
        "\(path): \(modality) \(sopClassUID) series \(seriesInstanceUID) instance \(instanceNumber.map(String.init) ?? "-")"
    }

    /// Reads the header. Throws `IntakeError` for files that are not readable DICOM, and for image
    /// objects whose image description is inconsistent (missing Rows, pixel data shorter than
    /// declared, non-numeric rescale, absurd size, ...).
    public static func read(path: String, configuration: IntakeConfiguration = .init()) throws -> SliceHeader {
        let file = try DICOMFile(path: path, configuration: configuration)
        return try read(file, configuration: configuration)
    }

    static func read(_ f: DICOMFile, configuration: IntakeConfiguration) throws -> SliceHeader {
        var h = SliceHeader(
            path: f.path,
            sopClassUID: f.string(Tag.sopClassUID) ?? "",
            sopInstanceUID: f.string(Tag.sopInstanceUID) ?? "",
            studyInstanceUID: f.string(Tag.studyInstanceUID) ?? "",
            seriesInstanceUID: f.string(Tag.seriesInstanceUID) ?? "",
            modality: f.string(Tag.modality)?.uppercased() ?? "",
            imageType: f.strings(Tag.imageType).map { $0.uppercased() },
            seriesDescription: f.string(Tag.seriesDescription) ?? "",
            studyDate: f.string(Tag.studyDate) ?? "",
            studyTime: f.string(Tag.studyTime) ?? "",
            accessionNumber: f.string(Tag.accessionNumber) ?? "",
            bodyPartExamined: f.string(Tag.bodyPartExamined)?.uppercased() ?? "",
            patientInitials: Self.initials(ofPersonName: f.string(Tag.patientName) ?? ""),
            transferSyntaxUID: f.transferSyntax,
            instanceNumber: (try? f.numbers(Tag.instanceNumber, name: "InstanceNumber", max: 1))??.first.map { Int($0) },
            hasPixelData: f.has(Tag.pixelData))
        guard SOPClass.isImage(h.sopClassUID) || (h.sopClassUID.isEmpty && h.hasPixelData) else { return h }
        // An image object: its image description must hold together.
        let info = try f.imageInfo()
        h.rows = Int(info.rows)
        h.columns = Int(info.columns)
        h.numberOfFrames = Int(info.number_of_frames)
        h.samplesPerPixel = Int(info.samples_per_pixel)
        h.rescaleSlope = info.rescale_slope
        h.rescaleIntercept = info.rescale_intercept
        h.pixelSpacing = try f.numbers(Tag.pixelSpacing, name: "PixelSpacing", max: 2)
        h.sliceThickness = try f.numbers(Tag.sliceThickness, name: "SliceThickness", max: 1)?.first
        h.imagePosition = try f.numbers(Tag.imagePositionPatient, name: "ImagePositionPatient", max: 3)
        h.imageOrientation = try f.numbers(Tag.imageOrientationPatient, name: "ImageOrientationPatient", max: 6)
        h.gantryTilt = try f.numbers(Tag.gantryDetectorTilt, name: "GantryDetectorTilt", max: 1)?.first
        if let p = h.imagePosition, p.count != 3 {
            throw IntakeError(.badValue, "ImagePositionPatient has \(p.count) values, not 3", path: f.path)
        }
        if let o = h.imageOrientation, o.count != 6 {
            throw IntakeError(.badValue, "ImageOrientationPatient has \(o.count) values, not 6", path: f.path)
        }
        return h
    }

    /// "DOE^JOHN^Q" -> "J.D." (given name first, as on the scanner console); "" for no name.
    static func initials(ofPersonName name: String) -> String {
        let alphabetic = name.split(separator: "=").first.map(String.init) ?? ""
        let parts = alphabetic.split(separator: "^", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        let family = parts.first ?? ""
        let given = parts.count > 1 ? parts[1] : ""
        return [given, family].compactMap { $0.first.map { "\($0.uppercased())." } }.joined()
    }
}

/// Tags read by the intake (the C header's CDICOM_* macros are not importable as constants).
enum Tag {
    static func t(_ g: UInt32, _ e: UInt32) -> UInt32 { g << 16 | e }
    static let imageType = t(0x0008, 0x0008)
    static let sopClassUID = t(0x0008, 0x0016)
    static let sopInstanceUID = t(0x0008, 0x0018)
    static let studyDate = t(0x0008, 0x0020)
    static let studyTime = t(0x0008, 0x0030)
    static let accessionNumber = t(0x0008, 0x0050)
    static let modality = t(0x0008, 0x0060)
    static let seriesDescription = t(0x0008, 0x103E)
    static let patientName = t(0x0010, 0x0010)
    static let bodyPartExamined = t(0x0018, 0x0015)
    static let sliceThickness = t(0x0018, 0x0050)
    static let gantryDetectorTilt = t(0x0018, 0x1120)
    static let studyInstanceUID = t(0x0020, 0x000D)
    static let seriesInstanceUID = t(0x0020, 0x000E)
    static let instanceNumber = t(0x0020, 0x0013)
    static let imagePositionPatient = t(0x0020, 0x0032)
    static let imageOrientationPatient = t(0x0020, 0x0037)
    static let pixelSpacing = t(0x0028, 0x0030)
    static let pixelData = t(0x7FE0, 0x0010)
}

/// SOP classes the classification needs to name.
enum SOPClass {
    static let ctImage = "1.2.840.10008.5.1.4.1.1.2"
    static let enhancedCTImage = "1.2.840.10008.5.1.4.1.1.2.1"
    static let secondaryCapturePrefix = "1.2.840.10008.5.1.4.1.1.7"
    static let structuredReportPrefix = "1.2.840.10008.5.1.4.1.1.88."
    static let radiationDoseSR = "1.2.840.10008.5.1.4.1.1.88.67"
    static let presentationStatePrefix = "1.2.840.10008.5.1.4.1.1.11."
    static let encapsulatedDocumentPrefix = "1.2.840.10008.5.1.4.1.1.104."
    static let rawData = "1.2.840.10008.5.1.4.1.1.66"

    /// Storage classes that carry pixel data the intake could look at.
    static func isImage(_ uid: String) -> Bool {
        !(uid.hasPrefix(structuredReportPrefix) || uid.hasPrefix(presentationStatePrefix)
            || uid.hasPrefix(encapsulatedDocumentPrefix) || uid.hasPrefix(rawData) || uid.isEmpty
            || uid.hasPrefix("1.2.840.10008.1.3.10") /* Media Storage Directory (DICOMDIR) */)
    }
}
