import Foundation

/// Writes generated series as a training set: DICOM folders, RSNA labels.csv, masks,
/// series.csv and slices.csv (formats in docs/phantom.md).
public struct DatasetWriter {
    public let root: URL
    private var labelRows: [String] = []
    private var seriesRows: [String] = []
    private var sliceRows: [String] = []

    public static let seriesHeader =
        "folder,series_instance_uid,seed,anatomy,requested_subtypes,present_subtypes,mimics,slices,thickness_mm,"
        + "tilt_deg,pixel_spacing_mm,rescale_intercept,midline_shift_mm,positive_slices"
    public static let slicesHeader = "id,folder,file,instance_number,slice_z_mm,mask_bits,mask_file"

    /// One written series, for the CLI's report.
    public struct SeriesSummary: Sendable, Codable {
        public var folder: String
        public var seed: UInt64
        public var anatomy: String
        public var requestedSubtypes: [String]
        public var presentSubtypes: [String]
        public var mimics: [String]
        public var slices: Int
        public var positiveSlices: Int
        public var thicknessMM: Double
        public var tiltDegrees: Double
    }

    /// Refuses a folder that already holds files (nothing is ever overwritten).
    public init(root: URL) throws {
        self.root = root
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: root.path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw PhantomError.io("\(root.path) exists and is not a folder") }
            let contents = (try? fm.contentsOfDirectory(atPath: root.path)) ?? []
            if !contents.isEmpty { throw PhantomError.io("\(root.path) is not empty; choose a new folder") }
        }
        do {
            try fm.createDirectory(at: root.appendingPathComponent("masks"), withIntermediateDirectories: true)
        } catch { throw PhantomError.io("cannot create \(root.path): \(error.localizedDescription)") }
    }

    /// Writes one series under `folder` and records its rows.
    public mutating func add(_ series: GeneratedSeries, folder: String) throws -> SeriesSummary {
        let dir = root.appendingPathComponent(folder)
        do { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw PhantomError.io("cannot create \(dir.path): \(error.localizedDescription)")
        }
        let seed = series.seed
        let study = DICOMFileWriter.uid(), seriesUID = DICOMFileWriter.uid(), frame = DICOMFileWriter.uid()
        // A date and time from the seed keep headers reproducible apart from UIDs.
        let date = Calendar(identifier: .gregorian).date(byAdding: .day, value: Int(seed % 3650),
                                                          to: Date(timeIntervalSince1970: 1_577_836_800))!
        let f = DateFormatter(); f.locale = Locale(identifier: "en_US_POSIX"); f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd"
        let studyDate = f.string(from: date)
        let studyTime = String(format: "%02d%02d%02d", Int(seed % 24), Int((seed / 24) % 60), Int((seed / 1440) % 60))
        let enc = series.encoding
        let thicknesses = series.slices.map(\.thickness).sorted()
        let medianThickness = thicknesses.isEmpty ? 0 : thicknesses[thicknesses.count / 2]
        let common: [DICOMFileWriter.Element] = [
            .init(tag: "(0008,0005)", value: "ISO_IR 100"),
            .init(tag: "(0008,0008)", value: "ORIGINAL\\PRIMARY\\AXIAL"),
            .init(tag: "(0008,0016)", value: "1.2.840.10008.5.1.4.1.1.2"),
            .init(tag: "(0008,0020)", value: studyDate), .init(tag: "(0008,0021)", value: studyDate),
            .init(tag: "(0008,0023)", value: studyDate),
            .init(tag: "(0008,0030)", value: studyTime), .init(tag: "(0008,0031)", value: studyTime),
            .init(tag: "(0008,0050)", value: "PH\(seed % 100_000_000)"),
            .init(tag: "(0008,0060)", value: "CT"),
            .init(tag: "(0008,0070)", value: "ichtriage phantom"),
            .init(tag: "(0008,0090)", value: ""),
            .init(tag: "(0008,103E)", value: series.description),
            .init(tag: "(0010,0010)", value: "PHANTOM^\(seed)"),
            .init(tag: "(0010,0020)", value: "PH\(seed)"),
            .init(tag: "(0010,0030)", value: ""), .init(tag: "(0010,0040)", value: "O"),
            .init(tag: "(0018,0015)", value: "HEAD"),
            .init(tag: "(0018,0060)", value: "120"),
            .init(tag: "(0018,1120)", value: fmt(series.tiltDegrees)),
            .init(tag: "(0018,5100)", value: "HFS"),
            .init(tag: "(0020,000D)", value: study), .init(tag: "(0020,000E)", value: seriesUID),
            .init(tag: "(0020,0010)", value: "1"), .init(tag: "(0020,0011)", value: "2"),
            .init(tag: "(0020,0037)", value: series.orientation.map(fmt).joined(separator: "\\")),
            .init(tag: "(0020,0052)", value: frame), .init(tag: "(0020,1040)", value: ""),
            .init(tag: "(0020,4000)", value: "SYNTHETIC PHANTOM seed \(seed) (\(series.anatomy)) - NOT A PATIENT"),
            .init(tag: "(0028,0030)", value: series.pixelSpacing.map(fmt).joined(separator: "\\")),
            .init(tag: "(0028,0120)", vr: enc.pixelRepresentation == 1 ? "SS" : "US", value: "\(enc.paddingStored)"),
            .init(tag: "(0028,1050)", value: "40"), .init(tag: "(0028,1051)", value: "80"),
            .init(tag: "(0028,1052)", value: fmt(enc.intercept)), .init(tag: "(0028,1053)", value: "1"),
            .init(tag: "(0028,1054)", value: "HU"),
        ]
        var positive = 0
        for (k, s) in series.slices.enumerated() {
            let sop = DICOMFileWriter.uid()
            var elements = common
            elements.append(.init(tag: "(0008,0018)", value: sop))
            elements.append(.init(tag: "(0018,0050)", value: fmt(s.thickness)))
            elements.append(.init(tag: "(0020,0013)", value: "\(k + 1)"))
            elements.append(.init(tag: "(0020,0032)", value: s.position.map(fmt).joined(separator: "\\")))
            elements.append(.init(tag: "(0020,1041)", value: fmt(s.sliceLocation)))
            let file = "ID_\(sop).dcm"
            try DICOMFileWriter.writeGrey16(path: dir.appendingPathComponent(file).path, elements: elements,
                                            pixels: s.stored, rows: series.rows, columns: series.columns,
                                            bitsStored: enc.bitsStored, signed: enc.pixelRepresentation == 1)
            let present = s.subtypes
            var bits: UInt8 = 0
            present.forEach { bits |= $0.maskBit }
            var maskFile = ""
            if bits != 0 {
                positive += 1
                maskFile = "masks/\(sop).npy"
                try NPY.writeUInt8(s.mask, rows: series.rows, columns: series.columns, to: root.appendingPathComponent(maskFile))
            }
            labelRows.append("ID_\(sop)_any,\(bits != 0 ? 1 : 0)")
            for sub in Subtype.allCases { labelRows.append("ID_\(sop)_\(sub.rawValue),\(present.contains(sub) ? 1 : 0)") }
            sliceRows.append("ID_\(sop),\(folder),\(folder)/\(file),\(k + 1),\(fmt(s.sliceLocation)),\(bits),\(maskFile)")
        }
        let summary = SeriesSummary(
            folder: folder, seed: seed, anatomy: series.anatomy, requestedSubtypes: series.requestedSubtypes.map(\.rawValue),
            presentSubtypes: series.presentSubtypes.map(\.rawValue), mimics: series.mimics, slices: series.slices.count,
            positiveSlices: positive, thicknessMM: medianThickness, tiltDegrees: series.tiltDegrees)
        let list = { (a: [String]) in a.isEmpty ? "none" : a.joined(separator: ";") }
        seriesRows.append([folder, seriesUID, "\(seed)", series.anatomy, list(summary.requestedSubtypes),
                           list(summary.presentSubtypes), list(summary.mimics), "\(series.slices.count)", fmt(medianThickness),
                           fmt(series.tiltDegrees), fmt(series.pixelSpacing[0]), fmt(enc.intercept), fmt(series.midlineShift),
                           "\(positive)"].joined(separator: ","))
        return summary
    }

    /// Writes labels.csv, series.csv and slices.csv (each via a temporary file + rename).
    public func finish() throws {
        try writeText("labels.csv", (["ID,Label"] + labelRows).joined(separator: "\n") + "\n")
        try writeText("series.csv", ([Self.seriesHeader] + seriesRows).joined(separator: "\n") + "\n")
        try writeText("slices.csv", ([Self.slicesHeader] + sliceRows).joined(separator: "\n") + "\n")
    }

    private func writeText(_ name: String, _ text: String) throws {
        do { try Data(text.utf8).write(to: root.appendingPathComponent(name), options: .atomic) } catch {
            throw PhantomError.io("\(name): \(error.localizedDescription)")
        }
    }
}

/// Numbers as DICOM DS / CSV text: shortest round-trip form, at most 16 characters.
func fmt(_ v: Double) -> String {
    if v == v.rounded() && abs(v) < 1e9 { return String(Int(v)) }
    var s = String(format: "%.6f", v)
    while s.hasSuffix("0") { s.removeLast() }
    if s.hasSuffix(".") { s.removeLast() }
    return s == "-0" ? "0" : s
}

/// NumPy .npy (format 1.0) writer: readable with numpy.load alone.
public enum NPY {
    public static func writeUInt8(_ values: [UInt8], rows: Int, columns: Int, to url: URL) throws {
        var header = "{'descr': '|u1', 'fortran_order': False, 'shape': (\(rows), \(columns)), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        let len = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(len & 0xFF), UInt8(len >> 8)])
        data.append(contentsOf: header.utf8)
        data.append(contentsOf: values)
        do { try data.write(to: url, options: .atomic) } catch {
            throw PhantomError.io("\(url.path): \(error.localizedDescription)")
        }
    }

    /// Reads back a 2-D uint8 .npy written by `writeUInt8` (for tests and tools).
    public static func readUInt8(_ url: URL) throws -> (rows: Int, columns: Int, values: [UInt8]) {
        let data = try Data(contentsOf: url)
        guard data.count > 10, data.prefix(6) == Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]) else {
            throw PhantomError.badArgument("\(url.lastPathComponent) is not an .npy file")
        }
        let len = Int(data[8]) | Int(data[9]) << 8
        guard data.count >= 10 + len, let header = String(data: data.subdata(in: 10..<(10 + len)), encoding: .ascii),
              header.contains("'|u1'"), let open = header.range(of: "'shape': ("),
              let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw PhantomError.badArgument("\(url.lastPathComponent): unsupported .npy header")
        }
        let dims = header[open.upperBound..<close].split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        guard dims.count == 2, data.count == 10 + len + dims[0] * dims[1] else {
            throw PhantomError.badArgument("\(url.lastPathComponent): shape and size disagree")
        }
        return (dims[0], dims[1], [UInt8](data.subdata(in: (10 + len)..<data.count)))
    }
}
