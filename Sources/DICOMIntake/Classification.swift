import CDICOM
import Foundation

/// Which objects the intake keeps: original axial CT images of the head. Everything else is
/// skipped with a reason a technician can read.
enum Classification {
    /// Body parts that count as head. An empty BodyPartExamined is accepted (many scanners leave it
    /// empty); another body part is not.
    static let headBodyParts: Set<String> = ["HEAD", "BRAIN", "SKULL", "HEADNECK", "HEAD_NECK", "CEREBRUM", "NEURO"]

    /// nil to keep the object, else why it is skipped.
    static func skipReason(_ h: SliceHeader) -> String? {
        let uid = h.sopClassUID
        if uid == SOPClass.radiationDoseSR { return "dose report (Radiation Dose SR), not an image" }
        if uid.hasPrefix(SOPClass.structuredReportPrefix) { return "structured report, not an image" }
        if uid.hasPrefix(SOPClass.secondaryCapturePrefix) {
            let what = h.seriesDescription.isEmpty ? "" : " (\(h.seriesDescription))"
            return "secondary capture\(what), not a CT slice"
        }
        if !SOPClass.isImage(uid) || !h.hasPixelData {
            return "not an image (SOP class \(uid.isEmpty ? "missing" : uid))"
        }
        if h.modality != "CT" { return "modality \(h.modality.isEmpty ? "missing" : h.modality) is not CT" }
        if uid == SOPClass.enhancedCTImage { return "Enhanced CT (multi-frame) is not supported" }
        if uid != SOPClass.ctImage { return "SOP class \(uid) is not CT Image Storage" }
        if h.imageType.contains("LOCALIZER") || h.imageType.contains("SCOUT") { return "localizer (scout) image" }
        if h.imageType.first != "ORIGINAL" {
            return "derived image (ImageType \(h.imageType.joined(separator: "\\")))"
        }
        if !h.transferSyntaxUID.isEmpty && cdicom_transfer_syntax_supported(h.transferSyntaxUID) == 0 {
            return "unsupported transfer syntax \(h.transferSyntaxUID): no decoder in free DCMTK (not corrupt)"
        }
        if h.samplesPerPixel != 1 { return "colour image, not a CT slice" }
        if h.numberOfFrames != 1 { return "multi-frame image is not supported" }
        guard let o = h.imageOrientation, let _ = h.imagePosition else {
            return "no ImagePositionPatient/ImageOrientationPatient: cannot order slices"
        }
        let n = Geometry.normal(o)
        if Geometry.length(n) < 0.5 { return "ImageOrientationPatient is degenerate" }
        // Axial: slice normal within 45 degrees of the patient's head-foot axis (tilted axial is axial).
        if abs(n[2]) < 0.7071 {
            return abs(n[0]) > abs(n[1]) ? "sagittal image, not axial" : "coronal image, not axial"
        }
        if !h.bodyPartExamined.isEmpty,
           !headBodyParts.contains(h.bodyPartExamined.replacingOccurrences(of: " ", with: "")) {
            return "body part \(h.bodyPartExamined) is not head"
        }
        return nil
    }
}

/// Small vector helpers for slice geometry.
enum Geometry {
    /// Unit normal of the slice plane: row direction x column direction.
    static func normal(_ o: [Double]) -> [Double] {
        let r = Array(o[0..<3]), c = Array(o[3..<6])
        let n = [r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]]
        let l = length(n)
        return l > 0 ? n.map { $0 / l } : n
    }

    static func length(_ v: [Double]) -> Double { (v.map { $0 * $0 }.reduce(0, +)).squareRoot() }
    static func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).map { $0 * $1 }.reduce(0, +) }
}
