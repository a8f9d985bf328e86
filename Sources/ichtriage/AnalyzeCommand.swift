import ArgumentParser
import DICOMIntake
import Foundation
import Triage

/// `ichtriage analyze <folder>`: the appliance's main job on a folder: every CT head series found is
/// triaged, and its alert record, thumbnails and Secondary Capture series are written under --out.
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Triage every CT head series in a folder (alert record, Grad-CAM key images, DICOM SC).")

    @Argument(help: "Folder with DICOM files (all depths). Never modified.")
    var folder: String

    @Option(help: "Model bundle folder (model.onnx + manifest.json). Default: Models/default of the package, else /usr/share/ichtriage/models/default.")
    var model: String?

    @Option(help: "Where alert records, thumbnails and the outbox (Secondary Captures) go.")
    var out = "triage-out"

    @Option(help: "Worker threads (decode, preprocessing, engine).")
    var threads = 2

    @Flag(help: "Print JSON (fields documented in docs/cli.md).")
    var json = false

    @Flag(help: "Also render key images for NEGATIVE series (the most probable 'any' slice).")
    var keyImagesAlways = false

    @Flag(help: "Triage a series even when the image check finds no brain inside the head outline (NOT ANALYSABLE 'no brain', e.g. an air-filled skull phantom), to see what the model makes of it.")
    var skipBrainCheck = false

    @Flag(help: ArgumentHelp("Run the CNN on each slice before the series counts as complete, as the service does while slices arrive (incremental inference); timingsMs then times only what remains at completion, and timingsMs.preparedBeforeCompletion (not in total) the CNN work done before.", visibility: .default))
    var incremental = false

    @Option(help: ArgumentHelp("Also write each series' detector input (NPY) into this folder (parity checks).", visibility: .hidden))
    var dumpInput: String?

    func validate() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("not a folder: \(folder)")
        }
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be 1 to 64") }
    }

    func run() throws {
        var config = TriageConfiguration()
        config.threads = threads
        config.keyImagesForNegatives = keyImagesAlways
        config.inputDumpFolder = dumpInput
        if skipBrainCheck { config.minimumSoftTissueFraction = 0 }
        let modelFolder = model.map { URL(fileURLWithPath: $0) } ?? ModelBundle.defaultFolder()
        let pipeline = TriagePipeline(configuration: config, modelFolder: modelFolder)
        let outputs = TriageOutputs(root: URL(fileURLWithPath: out))
        let scan = DICOMIntake.scan(folder: folder)
        var report = AnalyzeReport(model: pipeline.modelIdentity, modelFolder: modelFolder.path,
                                   modelProblem: pipeline.bundleProblem, series: [], skippedFiles: scan.skipped.count)
        for series in scan.series {
            var prepared: [String: PreparedSlice] = [:]
            let arrival = Date()
            if incremental {
                // A slice that cannot be prepared is simply redone (and reported) by analyze().
                for slice in series.slices { prepared[slice.sopInstanceUID] = try? pipeline.prepare(slice) }
            }
            let preparedMs = Date().timeIntervalSince(arrival) * 1000
            var analysis = pipeline.analyze(series, prepared: prepared, arrivalTime: arrival)
            if incremental { analysis.record.timingsMs["preparedBeforeCompletion"] = preparedMs }
            let written = try outputs.write(&analysis, series: series)
            report.series.append(AnalyzeReport.Series(analysis, part: series.part, written: written))
        }
        print(json ? try report.jsonString() : report.text)
    }
}

/// The stable JSON shape of `analyze --json` (docs/cli.md). No patient names.
struct AnalyzeReport: Encodable {
    struct Slice: Encodable {
        var sopInstanceUID: String
        var probabilities: [HemorrhageLabel: Double]
    }
    struct Series: Encodable {
        var studyInstanceUID: String
        var seriesInstanceUID: String
        var part: Int?
        var tier: Tier
        var reason: String?
        var probabilities: [HemorrhageLabel: Double]
        var slices: [Slice]
        var slabs: Int
        var keySlices: [AlertRecord.KeySlice]
        var thumbnails: [String]
        var secondaryCaptures: [String]
        var alertRecord: String
        var timingsMs: [String: Double]

        init(_ a: SeriesAnalysis, part: Int?, written: TriageOutputs.Written) {
            studyInstanceUID = a.record.studyInstanceUID
            seriesInstanceUID = a.record.seriesInstanceUID
            self.part = part
            tier = a.record.tier
            reason = a.record.reason
            probabilities = a.record.probabilities
            slices = a.slices.map { Slice(sopInstanceUID: $0.sopInstanceUID, probabilities: $0.probabilities) }
            slabs = a.slices.isEmpty ? 0 : a.slabs.count
            keySlices = a.record.keySlices
            thumbnails = written.thumbnails.map(\.path)
            secondaryCaptures = written.secondaryCaptures.map(\.path)
            alertRecord = written.record.path
            timingsMs = a.record.timingsMs
        }
    }
    var model: AlertRecord.Model
    var modelFolder: String
    var modelProblem: String?
    var series: [Series]
    var skippedFiles: Int

    func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    var text: String {
        var lines = ["model: \(model.name) \(model.version) (\(modelFolder))"]
        if let modelProblem { lines.append("  model problem: \(modelProblem)") }
        if series.isEmpty { lines.append("no CT head series found (\(skippedFiles) files skipped)") }
        for s in series {
            let total = s.timingsMs["total"].map { String(format: "%.0f ms", $0) } ?? ""
            lines.append("series \(s.seriesInstanceUID): \(s.tier.rawValue)  (\(s.slices.count) slices, \(s.slabs) slabs, \(total))")
            if let reason = s.reason { lines.append("  reason: \(reason)") }
            if !s.probabilities.isEmpty {
                lines.append("  " + HemorrhageLabel.allCases.map { "\($0.rawValue) \(String(format: "%.3f", s.probabilities[$0] ?? 0))" }
                    .joined(separator: "  "))
            }
            if !s.keySlices.isEmpty {
                lines.append("  key slices: " + s.keySlices.map { "\($0.index + 1) (\(String(format: "%.2f", $0.probability)))" }.joined(separator: ", "))
            }
            lines.append("  record: \(s.alertRecord)")
            if !s.secondaryCaptures.isEmpty { lines.append("  secondary captures: \(s.secondaryCaptures.count) in \(URL(fileURLWithPath: s.secondaryCaptures[0]).deletingLastPathComponent().path)") }
        }
        lines.append("NOT FOR DIAGNOSTIC USE")
        return lines.joined(separator: "\n")
    }
}
