import Foundation

/// A file the intake did not turn into a slice, and why.
public struct SkippedFile: Sendable, Equatable {
    public var path: String
    public var reason: String
    /// true when the file was unreadable or inconsistent (quarantined when a quarantine folder is set),
    /// false when it is a valid object the triage does not analyse (localizer, secondary capture, ...).
    public var isError: Bool
}

/// What the intake makes of a folder.
public struct ScanResult: Sendable {
    public var series: [CTSeries]
    public var skipped: [SkippedFile]
    public var quarantined: [QuarantineRecord]
}

/// The intake's entry points: `scan(folder:)` for the CLI and tests, `DropFolderWatcher` for the
/// service, `HUDecoder` for preprocessing, `StorageReceiver` for scanner pushes.
public enum DICOMIntake {
    /// Reads every file under `folder` once (no waiting for stability), classifies, assembles.
    public static func scan(folder: String, configuration: IntakeConfiguration = .init()) -> ScanResult {
        let processor = FileProcessor(configuration: configuration)
        var kept: [SliceHeader] = []
        var skipped: [SkippedFile] = []
        var quarantined: [QuarantineRecord] = []
        for file in FolderWalk.list(folder, excluding: configuration.quarantineFolder?.path).files {
            switch processor.process(file.path) {
            case .kept(let h): kept.append(h)
            case .skipped(let s): skipped.append(s)
            case .failed(let s, let record):
                skipped.append(s)
                if let record { quarantined.append(record) }
            }
        }
        return ScanResult(series: SeriesAssembly.assemble(kept, configuration: configuration),
                          skipped: skipped, quarantined: quarantined)
    }
}

/// Reading, classifying and (on error) quarantining one file: shared by scan and the watcher.
struct FileProcessor {
    let configuration: IntakeConfiguration

    enum Outcome {
        case kept(SliceHeader)
        case skipped(SkippedFile)
        case failed(SkippedFile, QuarantineRecord?)
    }

    func read(_ path: String) -> Result<SliceHeader, IntakeError> {
        do {
            return .success(try SliceHeader.read(path: path, configuration: configuration))
        } catch let e as IntakeError {
            return .failure(e)
        } catch {
            return .failure(IntakeError(.internal, "\(error)", path: path))
        }
    }

    func process(_ path: String) -> Outcome {
        switch read(path) {
        case .success(let h): return classify(h)
        case .failure(let e): return fail(path, e)
        }
    }

    func classify(_ h: SliceHeader) -> Outcome {
        if let reason = Classification.skipReason(h) {
            return .skipped(SkippedFile(path: h.path, reason: reason, isError: false))
        }
        return .kept(h)
    }

    func fail(_ path: String, _ error: IntakeError) -> Outcome {
        var e = error
        e.path = nil
        let reason = e.description
        // A file in a syntax we cannot decode is not corrupt: skip it, leave it where it is.
        if e.code == .unsupportedTransferSyntax { return .skipped(SkippedFile(path: path, reason: reason, isError: false)) }
        let record = configuration.quarantineFolder.flatMap { Quarantine(folder: $0).quarantine(path: path, reason: reason) }
        return .failed(SkippedFile(path: path, reason: reason, isError: true), record)
    }
}
