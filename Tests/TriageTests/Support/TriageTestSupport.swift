import DICOMIntake
import Foundation
import XCTest

/// Paths and tools the triage tests share.
enum TriageTestSupport {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var sharedData: URL {
        if let env = ProcessInfo.processInfo.environment["ICHTRIAGE_SHARED_DATA"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/data/real-head-ct")
    }

    static let ge = "ge-hispeed-human"
    static let philips = "philips-ingenuity-phantom-usb-export"

    /// The one analysable series of a real exam folder.
    static func realSeries(_ name: String) throws -> CTSeries {
        let folder = sharedData.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: folder.path) else {
            throw XCTSkip("real exams not found at \(folder.path) (set ICHTRIAGE_SHARED_DATA)")
        }
        let series = DICOMIntake.scan(folder: folder.path).series
        guard series.count == 1 else { throw XCTSkip("expected one series in \(name), intake found \(series.count)") }
        return series[0]
    }

    /// The tools venv's Python (numpy, onnx, onnxruntime): ICHTRIAGE_VENV, else <root>/.venv-tools.
    static func toolsPython() throws -> String {
        let venv = ProcessInfo.processInfo.environment["ICHTRIAGE_VENV"].flatMap { $0.isEmpty ? nil : $0 }
            ?? packageRoot.appendingPathComponent(".venv-tools").path
        let python = venv + "/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw XCTSkip("no tools venv at \(venv) (make pyenv creates it); needed to build the test model")
        }
        return python
    }

    static func tempDir(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("triage-tests-\(name)-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Builds the tiny detector-shaped test model (Support/tiny_detector.py) once per run.
    nonisolated(unsafe) private static var tinyModelFolder: URL?
    private static let lock = NSLock()
    static func tinyModel() throws -> URL {
        lock.lock()
        defer { lock.unlock() }
        if let tinyModelFolder { return tinyModelFolder }
        let folder = try tempDir("tiny-model")
        let script = packageRoot.appendingPathComponent("Tests/TriageTests/Support/tiny_detector.py").path
        let (status, output) = try run(try toolsPython(), [script, folder.path])
        guard status == 0 else { throw XCTSkip("cannot build the tiny test model: \(output)") }
        tinyModelFolder = folder
        return folder
    }

    /// The trained bundle, when there is one: ICHTRIAGE_MODEL, else <root>/Models/default.
    static func trainedModel() throws -> URL {
        let folder = ProcessInfo.processInfo.environment["ICHTRIAGE_MODEL"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? packageRoot.appendingPathComponent("Models/default")
        guard FileManager.default.fileExists(atPath: folder.appendingPathComponent("model.onnx").path) else {
            throw XCTSkip("no trained model bundle at \(folder.path) (Models/default/model.onnx absent; set ICHTRIAGE_MODEL)")
        }
        return folder
    }

    /// Runs a program; returns its status and stdout+stderr.
    static func run(_ path: String, _ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func which(_ tool: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Size and modification time of every file under a folder (to prove it was not touched).
    static func fingerprint(_ folder: URL) -> [String: String] {
        var out: [String: String] = [:]
        let e = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.fileSizeKey, .contentModificationDateKey])
        while let url = e?.nextObject() as? URL {
            let v = try? url.resourceValues(forKeys: [.fileSizeKey, .contentModificationDateKey])
            out[url.path] = "\(v?.fileSize ?? -1) \(v?.contentModificationDate?.timeIntervalSince1970 ?? 0)"
        }
        return out
    }
}
