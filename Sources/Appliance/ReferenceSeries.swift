import DICOMIntake
import Foundation
import ModelStore
import Phantom
import Triage

/// The reference series kept on the appliance: two small generated head CT series (256x256, 12
/// slices), one with a known subdural bleed and one without, written once as DICOM (about 3 MB)
/// under `<store>/reference/` and
/// checked against their recorded SHA-256 before each use (a damaged or missing file is made
/// again: the generator is deterministic in its pixels). A bundle never brings them, so a new
/// model is tried on data it could not have been tuned to pass.
public struct ReferenceSeries: Sendable {
    /// One generated series.
    public struct Member: Sendable, Codable, Equatable {
        public var name: String
        public var seed: UInt64
        /// Requested subtypes (empty: a negative).
        public var subtypes: [String]
    }

    /// Changes whenever the generated content would change; a kept set with another value is
    /// made again.
    public static let generator = "ichtriage-reference/1 (phantom, 256x256 at 0.9 mm, 12 slices x 5 mm, no tilt, no mimics, no partial-volume sampling)"
    public static let members = [
        Member(name: "positive", seed: 880_001, subtypes: [Subtype.subdural.rawValue]),
        Member(name: "negative", seed: 880_002, subtypes: []),
    ]
    static let slices = 12
    static let sliceThicknessMm = 5.0

    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    /// The reference series of the model store at `storeDirectory` (`<store>/reference`).
    public static func inStore(_ storeDirectory: URL) -> ReferenceSeries {
        ReferenceSeries(directory: storeDirectory.appendingPathComponent("reference", isDirectory: true))
    }

    /// `reference.json`: what was generated and the SHA-256 of every file.
    struct Index: Codable, Equatable {
        var generator: String
        var members: [Member]
        /// Slices with the bleed, per member name (from the generator's masks).
        var bleedSlices: [String: Int]
        /// Relative path -> SHA-256.
        var files: [String: String]
    }

    /// One loaded member.
    public struct Loaded: Sendable {
        public var member: Member
        public var series: CTSeries
        /// Slices holding the generated bleed (0 for the negative).
        public var bleedSlices: Int
    }

    /// The series, generated first when missing, incomplete or damaged.
    public func load() throws -> [Loaded] {
        if let index = try? verifiedIndex() { return try open(index) }
        try generate()
        guard let index = try verifiedIndex() else {
            throw ApplianceError(.store, "the reference series under \(directory.path) do not verify right after being generated")
        }
        return try open(index)
    }

    /// The index when every listed file is present with its hash and the generator matches.
    func verifiedIndex() throws -> Index? {
        let data = try Data(contentsOf: directory.appendingPathComponent("reference.json"))
        let index = try JSONDecoder().decode(Index.self, from: data)
        guard index.generator == Self.generator, index.members == Self.members, !index.files.isEmpty else { return nil }
        for (path, sha) in index.files {
            guard !path.contains(".."), (try? FileDigest.sha256Hex(of: directory.appendingPathComponent(path))) == sha else { return nil }
        }
        return index
    }

    private func open(_ index: Index) throws -> [Loaded] {
        try Self.members.map { member in
            let folder = directory.appendingPathComponent(member.name)
            let found = DICOMIntake.scan(folder: folder.path).series
            guard found.count == 1, let series = found.first else {
                throw ApplianceError(.store, "reference series \(member.name): expected one series in \(folder.path), found \(found.count)")
            }
            return Loaded(member: member, series: series, bleedSlices: index.bleedSlices[member.name] ?? 0)
        }
    }

    /// Writes the series into a fresh folder and renames it into place (a reader never sees half a set).
    func generate() throws {
        let fm = FileManager.default
        let parent = directory.deletingLastPathComponent()
        try fm.createDirectory(at: parent, withIntermediateDirectories: true)
        let building = parent.appendingPathComponent(".reference-\(getpid())-\(UUID().uuidString.prefix(8))")
        defer { try? fm.removeItem(at: building) }
        var index = Index(generator: Self.generator, members: Self.members, bleedSlices: [:], files: [:])
        for member in Self.members {
            var config = PhantomConfig(seed: member.seed)
            config.subtypes = member.subtypes.compactMap(Subtype.init(rawValue:))
            config.sliceCount = Self.slices
            config.sliceThickness = Self.sliceThicknessMm
            config.tiltDegrees = 0
            config.mimics = false
            // Small and quick to make (a debug build renders it in seconds, not minutes); the pipeline
            // resamples any matrix to the detector's 256x256, and 0.9 mm keeps a 230 mm field of view.
            config.matrix = 256
            config.pixelSpacing = 0.9
            config.partialVolume = false
            config.calvarialShift = false
            config.pointSpreadTails = false
            let phantom = PhantomRenderer.render(try PhantomCase(config))
            let root = building.appendingPathComponent(member.name)
            var writer = try DatasetWriter(root: root)
            _ = try writer.add(phantom.output, folder: "series")
            try writer.finish()
            // Only the DICOM files are kept (the masks and tables are the generator's training aids).
            let series = root.appendingPathComponent("series")
            for name in try fm.contentsOfDirectory(atPath: root.path) where name != "series" {
                try fm.removeItem(at: root.appendingPathComponent(name))
            }
            for name in try fm.contentsOfDirectory(atPath: series.path) {
                try fm.moveItem(at: series.appendingPathComponent(name), to: root.appendingPathComponent(name))
                index.files["\(member.name)/\(name)"] = try FileDigest.sha256Hex(of: root.appendingPathComponent(name))
            }
            try fm.removeItem(at: series)
            index.bleedSlices[member.name] = phantom.slices.filter { $0.mask.contains { $0 != 0 } }.count
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(index).write(to: building.appendingPathComponent("reference.json"))
        // Swap in: the old set (if any) goes aside first; a concurrent generator that won the race is kept.
        let old = parent.appendingPathComponent(".reference-old-\(getpid())-\(UUID().uuidString.prefix(8))")
        if fm.fileExists(atPath: directory.path) { try? fm.moveItem(at: directory, to: old) }
        defer { try? fm.removeItem(at: old) }
        if rename(building.path, directory.path) != 0, (try? verifiedIndex()) == nil {
            throw ApplianceError(.store, "cannot put the reference series in place at \(directory.path): \(String(cString: strerror(errno)))")
        }
    }
}

/// The model store's reference-series check, for real: the staged bundle goes through the whole
/// triage pipeline (DICOM decode, preprocessing, detector, decision, Grad-CAM) on the reference
/// series kept on this appliance. It passes when the model loads in the pipeline, every series
/// is analysed (not NOT ANALYSABLE), every per-slice probability of the six labels is finite and
/// in [0, 1] with one row per slice, a second run on the same series gives the same numbers, and
/// the outputs depend on the input (not one value for every slice of both series).
///
/// It does not ask the model to rank the bleed above the negative: the shipped default model is
/// too weak for that to be a fair gate (Models/default/EVALUATION.md); the tiers and scores it
/// gives are reported in the detail, and so in the receipt.
public struct ReferenceSeriesChecker: ReferenceSeriesCheck {
    public let reference: ReferenceSeries
    public var threads: Int

    public init(reference: ReferenceSeries, threads: Int = 2) {
        self.reference = reference
        self.threads = threads
    }

    public func check(_ request: SelfTestRequest) -> SelfTestOutcome {
        check(modelFolder: request.bundleDirectory)
    }

    /// The check on a bundle folder (staged, or an installed slot).
    public func check(modelFolder: URL) -> SelfTestOutcome {
        var triage = TriageConfiguration()
        triage.threads = threads
        let pipeline = TriagePipeline(configuration: triage, modelFolder: modelFolder)
        if let problem = pipeline.bundleProblem { return .fail("the model does not load in the triage pipeline: \(problem)") }
        let loaded: [ReferenceSeries.Loaded]
        do { loaded = try reference.load() } catch {
            return .fail("the reference series kept on this appliance cannot be read or made: \(error)")
        }
        let labels = HemorrhageLabel.allCases
        var rows: [[Double]] = []
        var summaries: [String] = []
        for (n, item) in loaded.enumerated() {
            let name = item.member.name
            let analysis = pipeline.analyze(item.series, arrivalTime: Date(timeIntervalSince1970: 0))
            guard analysis.record.tier != .notAnalysable else {
                return .fail("reference series \(name): not analysed: \(analysis.record.reason ?? "no reason given")")
            }
            guard analysis.slices.count == item.series.slices.count else {
                return .fail("reference series \(name): \(analysis.slices.count) rows of probabilities for \(item.series.slices.count) slices")
            }
            for (i, slice) in analysis.slices.enumerated() {
                let row = labels.map { slice.probabilities[$0] ?? .nan }
                guard row.allSatisfy({ $0.isFinite && $0 >= 0 && $0 <= 1 }) else {
                    return .fail("reference series \(name), slice \(i + 1): probabilities \(row) are not all finite and in [0, 1]")
                }
                rows.append(row)
            }
            if n == 0 {
                // Same input, same numbers: an engine or model with uninitialised or racy state fails here.
                let again = pipeline.analyze(item.series, arrivalTime: Date(timeIntervalSince1970: 0))
                guard again.slices == analysis.slices else {
                    let worst = zip(again.slices, analysis.slices).flatMap { a, b in
                        labels.map { abs((a.probabilities[$0] ?? .nan) - (b.probabilities[$0] ?? .nan)) }
                    }.max() ?? .nan
                    return .fail("reference series \(name): two runs on the same series differ (max |difference| \(worst))")
                }
            }
            let any = analysis.record.probabilities[.any].map { String(format: "%.4f", $0) } ?? "-"
            summaries.append("\(name) (\(item.bleedSlices) bleed slice(s) of \(item.series.slices.count)): \(analysis.record.tier.rawValue), any \(any)")
        }
        let spread = labels.indices.map { l in (rows.map { $0[l] }.max() ?? 0) - (rows.map { $0[l] }.min() ?? 0) }.max() ?? 0
        guard spread > 0 else {
            return .fail("the model gives the same probabilities for every slice of every reference series: its output does not depend on the image")
        }
        return .pass("reference series on this appliance: " + summaries.joined(separator: "; ")
                     + "; \(rows.count) slice rows finite and in [0, 1], deterministic over two runs, largest spread \(String(format: "%.4f", spread))")
    }
}
