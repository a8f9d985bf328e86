import DICOMIntake
import Foundation

/// Writes what an analysed series produced into `<root>/<SeriesInstanceUID>/`: `alert.json`, the
/// thumbnails `key-NN.png`, and the Secondary Capture series under `<root>/outbox/<SeriesInstanceUID>/`.
/// Only ever writes under `root`; the source DICOM is read-only to the pipeline.
public struct TriageOutputs: Sendable {
    public var root: URL
    public var writeSecondaryCapture: Bool

    public init(root: URL, writeSecondaryCapture: Bool = true) {
        self.root = root
        self.writeSecondaryCapture = writeSecondaryCapture
    }

    public struct Written: Sendable {
        public var record: URL
        public var thumbnails: [URL]
        public var secondaryCaptures: [URL]
    }

    /// Renders and writes; fills the record's `thumbnails` (relative to its folder) and its
    /// "render" and "outputs" timings.
    @discardableResult
    public func write(_ analysis: inout SeriesAnalysis, series: CTSeries) throws -> Written {
        var clock = Stopwatch()
        let folderName = Self.safeName(series.seriesInstanceUID) + (series.part.map { "-part\($0)" } ?? "")
        let folder = root.appendingPathComponent(folderName)
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw TriageError(.output, "cannot create \(folder.path): \(error.localizedDescription)")
        }
        var thumbnails: [URL] = []
        var captured: [(rgb: [UInt8], size: Int, key: AlertRecord.KeySlice)] = []
        for (n, image) in analysis.keyImages.enumerated() {
            let png = folder.appendingPathComponent(String(format: "key-%02d.png", n + 1))
            let caption = "slice \(image.keySlice.index + 1)  \(image.label.rawValue) \(String(format: "%.2f", image.keySlice.probability))"
            let rgb = try KeyImageRenderer.render(image, caption: caption, png: png)
            thumbnails.append(png)
            captured.append((rgb, image.size, image.keySlice))
        }
        analysis.record.thumbnails = thumbnails.map(\.lastPathComponent)
        analysis.record.timingsMs["render"] = clock.lap()
        var scs: [URL] = []
        if writeSecondaryCapture && !captured.isEmpty {
            let outbox = root.appendingPathComponent("outbox").appendingPathComponent(folderName)
            do {
                try FileManager.default.createDirectory(at: outbox, withIntermediateDirectories: true)
            } catch {
                throw TriageError(.output, "cannot create \(outbox.path): \(error.localizedDescription)")
            }
            scs = try SecondaryCapture.write(images: captured, series: series, model: analysis.record.model, folder: outbox)
        }
        analysis.record.timingsMs["outputs"] = clock.lap()
        let recordURL = folder.appendingPathComponent("alert.json")
        do {
            try AlertRecord.jsonEncoder().encode(analysis.record).write(to: recordURL, options: .atomic)
        } catch {
            throw TriageError(.output, "cannot write \(recordURL.path): \(error.localizedDescription)")
        }
        return Written(record: recordURL, thumbnails: thumbnails, secondaryCaptures: scs)
    }

    /// UIDs are digits and dots already; anything else becomes '_' so a hostile UID cannot leave `root`.
    /// A series' folder name: the UID's digits and dots (at most 64 characters).
    public static func safeName(_ uid: String) -> String {
        let cleaned = String(uid.map { $0.isNumber || $0 == "." ? $0 : "_" }.prefix(64))
        return cleaned.isEmpty || cleaned.allSatisfy({ $0 == "." }) ? "series" : cleaned
    }
}
