import ArgumentParser
import Foundation
import Phantom

/// `ichtriage phantom`: synthetic head CT series with hemorrhages, as a labelled training set.
struct PhantomCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phantom",
        abstract: "Generate synthetic head CT series with labelled hemorrhages (RSNA-format labels, masks).",
        discussion: """
            Writes COUNT series under OUT (one folder per series, DICOM files ID_<SOPInstanceUID>.dcm),
            OUT/labels.csv (RSNA: ID,Label with ID_<SOPInstanceUID>_<label> for any and the five subtypes),
            OUT/masks/<SOPInstanceUID>.npy (uint8 bleed bitmask for slices with a bleed), OUT/series.csv
            and OUT/slices.csv. Series i uses seed SEED+i, so `--seed SEED+i --count 1` remakes it.
            See docs/phantom.md.
            """)

    @Option(help: "Output folder (created; must be empty or absent).")
    var out: String

    @Option(help: "Seed of the first series (series i uses seed + i).")
    var seed: UInt64

    @Option(help: "Number of series.")
    var count: Int = 1

    @Option(help: "Comma-separated subtypes every series carries (epidural, intraparenchymal, intraventricular, subarachnoid, subdural) or 'none' for negatives. Default: drawn per series, about half negative.")
    var subtypes: String?

    @Option(help: "Slices per series (default: enough to cover the head, 20-60).")
    var slices: Int?

    @Option(help: "Slice thickness and spacing in mm (default: drawn from 3-7).")
    var thickness: Double?

    @Option(help: "Anatomy: procedural or real (bleeds inserted into the real exams of the shared test data).")
    var anatomy: String = "procedural"

    @Option(help: "Gantry tilt in degrees (default: drawn, mostly 0).")
    var tilt: Double?

    @Option(help: "Rows = columns of each image.")
    var matrix: Int = 512

    @Option(help: "Folder of real head CT exams for --anatomy real (default: $ICHTRIAGE_SHARED_DATA or ../shared/data/real-head-ct).")
    var realData: String?

    @Flag(inversion: .prefixedNo, help: "Render the long tails of the in-plane point-spread (brain near the skull brighter over 5-10 mm, as on the real exam; docs/phantom.md). Procedural anatomy only. (default: on)")
    var psfTails: Bool?

    @Flag(help: "Print a JSON report instead of text.")
    var json = false

    func validate() throws {
        guard count >= 1 && count <= 100_000 else { throw ValidationError("--count must be 1...100000") }
        guard anatomy == "procedural" || anatomy == "real" else { throw ValidationError("--anatomy must be procedural or real") }
        if let s = subtypes { do { _ = try Subtype.parseList(s) } catch { throw ValidationError("\(error)") } }
        if let n = slices, !(1...400).contains(n) { throw ValidationError("--slices must be 1...400") }
        if let t = thickness, !(0.5...20).contains(t) { throw ValidationError("--thickness must be 0.5...20 mm") }
        if let t = tilt, !(-30...30).contains(t) { throw ValidationError("--tilt must be -30...30 degrees") }
        guard (16...1024).contains(matrix) else { throw ValidationError("--matrix must be 16...1024") }
        guard seed <= UInt64.max - UInt64(count) else { throw ValidationError("--seed too large for --count") }
        if anatomy == "real" && (slices != nil || thickness != nil || tilt != nil || matrix != 512 || psfTails != nil) {
            throw ValidationError("--slices, --thickness, --tilt, --matrix and --[no-]psf-tails do not apply to --anatomy real (the real exams fix them)")
        }
    }

    func run() throws {
        let requested = try subtypes.map(Subtype.parseList)
        var writer = try DatasetWriter(root: URL(fileURLWithPath: out))
        var summaries: [DatasetWriter.SeriesSummary] = []
        let started = Date()
        let real = anatomy == "real" ? try RealAnatomyLibrary.load(from: realDataFolder()) : nil
        if let real, !json {
            print("real anatomy: \(real.examNames.joined(separator: ", "))"
                  + real.excluded.map { "; not used: \($0.name) (\($0.reason))" }.joined())
        }
        for i in 0..<count {
            var config = PhantomConfig(seed: seed + UInt64(i))
            config.subtypes = requested
            config.sliceCount = slices
            config.sliceThickness = thickness
            config.tiltDegrees = tilt
            config.matrix = matrix
            if let psfTails { config.pointSpreadTails = psfTails }
            let series: GeneratedSeries
            if let real {
                series = try real.render(config)
            } else {
                series = PhantomRenderer.render(try PhantomCase(config)).output
            }
            let summary = try writer.add(series, folder: String(format: "series-%06d", i))
            summaries.append(summary)
            if !json {
                let present = summary.presentSubtypes.isEmpty ? "negative" : summary.presentSubtypes.joined(separator: "+")
                print("\(summary.folder): seed \(summary.seed), \(summary.slices) slices x \(fmtMM(summary.thicknessMM)) mm, "
                      + "\(present) (\(summary.positiveSlices) positive slices)")
            }
        }
        try writer.finish()
        let seconds = Date().timeIntervalSince(started)
        if json {
            struct Report: Codable {
                var out: String; var seed: UInt64; var count: Int; var anatomy: String
                var labels: String; var seriesTable: String; var slicesTable: String; var masks: String
                var seconds: Double; var series: [DatasetWriter.SeriesSummary]
            }
            let report = Report(out: out, seed: seed, count: count, anatomy: anatomy, labels: "labels.csv",
                                seriesTable: "series.csv", slicesTable: "slices.csv", masks: "masks",
                                seconds: (seconds * 100).rounded() / 100, series: summaries)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            print("wrote \(count) series to \(out) in \(String(format: "%.1f", seconds)) s (labels.csv, series.csv, slices.csv, masks/)")
        }
    }

    private func realDataFolder() -> URL {
        if let r = realData { return URL(fileURLWithPath: r) }
        if let env = ProcessInfo.processInfo.environment["ICHTRIAGE_SHARED_DATA"] { return URL(fileURLWithPath: env) }
        return URL(fileURLWithPath: "../shared/data/real-head-ct")
    }

    private func fmtMM(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(format: "%.1f", v) }
}
