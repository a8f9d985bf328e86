import ArgumentParser
import DICOMIntake
import Foundation

/// `ichtriage scan <folder>`: what the intake makes of a folder (series found, files skipped).
struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Show the CT head series the intake finds in a folder and the files it skips.")

    @Argument(help: "Folder to scan (all depths; DICOMDIR and hidden files ignored).")
    var folder: String

    @Flag(help: "Print JSON (fields documented in docs/cli.md).")
    var json = false

    @Flag(help: "Also decode every slice of every series to HU (checks the pixel data).")
    var decode = false

    @Option(help: "Move unreadable files to this folder with a reason file (default: only report them).")
    var quarantine: String?

    func validate() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("not a folder: \(folder)")
        }
    }

    func run() throws {
        var config = IntakeConfiguration()
        config.quarantineFolder = quarantine.map { URL(fileURLWithPath: $0) }
        let result = DICOMIntake.scan(folder: folder, configuration: config)
        var report = ScanReport(result)
        if decode {
            for (i, series) in result.series.enumerated() {
                var ok = 0
                for slice in series.slices {
                    do {
                        _ = try HUDecoder.decode(path: slice.path, configuration: config)
                        ok += 1
                    } catch {
                        report.series[i].warnings.append("cannot decode \(slice.path): \(error)")
                    }
                }
                report.series[i].decoded = ok
            }
        }
        print(json ? try report.jsonString() : report.text)
    }
}

/// The stable JSON shape of `scan --json` (see docs/cli.md). No patient names.
struct ScanReport: Encodable {
    struct Series: Encodable {
        var studyInstanceUID: String
        var seriesInstanceUID: String
        var part: Int?
        var description: String
        var slices: Int
        var rows: Int
        var columns: Int
        var sliceThicknesses: [Double]
        var spacingMin: Double?
        var spacingMax: Double?
        var gantryTilt: Double
        var duplicatesDropped: Int
        var warnings: [String]
        var files: [String]
        var decoded: Int?
    }
    struct Skipped: Encodable {
        var path: String
        var reason: String
        var error: Bool
    }
    struct Quarantined: Encodable {
        var path: String
        var movedTo: String?
        var reasonFile: String
    }
    var series: [Series]
    var skipped: [Skipped]
    var quarantined: [Quarantined]

    init(_ r: ScanResult) {
        series = r.series.map { s in
            Series(studyInstanceUID: s.studyInstanceUID, seriesInstanceUID: s.seriesInstanceUID, part: s.part,
                   description: s.description, slices: s.slices.count, rows: s.slices.first?.rows ?? 0,
                   columns: s.slices.first?.columns ?? 0, sliceThicknesses: s.sliceThicknesses,
                   spacingMin: s.spacings.min(), spacingMax: s.spacings.max(), gantryTilt: s.gantryTilt,
                   duplicatesDropped: s.duplicatesDropped, warnings: s.warnings, files: s.slices.map(\.path))
        }
        skipped = r.skipped.map { Skipped(path: $0.path, reason: $0.reason, error: $0.isError) }
        quarantined = r.quarantined.map { Quarantined(path: $0.originalPath, movedTo: $0.movedTo, reasonFile: $0.reasonFile) }
    }

    func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    var text: String {
        var lines: [String] = []
        lines.append("\(series.count) series, \(skipped.count) file(s) skipped")
        for (i, s) in series.enumerated() {
            let name = s.description.isEmpty ? s.seriesInstanceUID : s.description
            let thick = s.sliceThicknesses.map { String(format: "%g", $0) }.joined(separator: "/")
            lines.append("  [\(i + 1)] \(name)\(s.part.map { " (part \($0))" } ?? ""): \(s.slices) slices \(s.rows)x\(s.columns), thickness \(thick.isEmpty ? "?" : thick) mm, tilt \(String(format: "%g", s.gantryTilt)) deg\(s.decoded.map { ", \($0) decoded to HU" } ?? "")")
            for w in s.warnings { lines.append("      warning: \(w)") }
        }
        for k in skipped { lines.append("  skipped \(k.path): \(k.reason)") }
        for q in quarantined { lines.append("  quarantined \(q.path) -> \(q.movedTo ?? "(recorded only)")") }
        return lines.joined(separator: "\n")
    }
}
