import Foundation
import XCTest

/// The built executables and the package folders, for tests that run the real programs.
enum Executables {
    /// The package root (this file is Tests/ApplianceTests/Executables.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The folder holding `ichtriage` and `ichtriaged`: ICHTRIAGE_BIN_DIR, else the products
    /// folder the tests were built into (`swift test` builds the executables too).
    static func binDirectory() throws -> URL {
        if let env = ProcessInfo.processInfo.environment["ICHTRIAGE_BIN_DIR"] { return URL(fileURLWithPath: env) }
        let here = Bundle(for: ServiceTests.self).bundleURL
        for candidate in [here, here.deletingLastPathComponent(), here.deletingLastPathComponent().deletingLastPathComponent()]
        where ["ichtriage", "ichtriaged"].allSatisfy({ FileManager.default.isExecutableFile(atPath: candidate.appendingPathComponent($0).path) }) {
            return candidate
        }
        throw XCTSkip("ichtriage and ichtriaged are not built near \(here.path); `swift build` them or set ICHTRIAGE_BIN_DIR")
    }

    static func url(_ name: String) throws -> URL { try binDirectory().appendingPathComponent(name) }

    /// The real test exams: ICHTRIAGE_SHARED_DATA, else `<package>/../shared/data/real-head-ct`.
    static var sharedData: URL {
        if let path = ProcessInfo.processInfo.environment["ICHTRIAGE_SHARED_DATA"] { return URL(fileURLWithPath: path) }
        return packageRoot.appendingPathComponent("../shared/data/real-head-ct").standardized
    }

    /// One real exam's folder under `sharedData`; the test is skipped, with the reason, when it is missing.
    static func realExam(_ name: String) throws -> URL {
        let folder = sharedData.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: folder.path) else {
            throw XCTSkip("the real exam \(name) is not at \(folder.path) (set ICHTRIAGE_SHARED_DATA)")
        }
        return folder
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] }
    }

    /// Runs a program to its end, collecting its output (stderr read on its own thread so a
    /// chatty program cannot block on a full pipe).
    static func run(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let errors = LockedData()
        let finished = DispatchSemaphore(value: 0)
        Thread { errors.set(err.fileHandleForReading.readDataToEndOfFile()); finished.signal() }.start()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        finished.wait()
        return Result(status: process.terminationStatus, stdout: String(decoding: output, as: UTF8.self),
                      stderr: String(decoding: errors.value, as: UTF8.self))
    }

    /// Signs Models/default with a throwaway key and installs it into `store` (scripts/install-model.sh,
    /// as `make demo` does). Skips when the bundle is not in the checkout.
    static func installDefaultModel(store: URL, keys: URL) throws {
        let model = packageRoot.appendingPathComponent("Models/default")
        guard FileManager.default.fileExists(atPath: model.appendingPathComponent("model.onnx").path) else {
            throw XCTSkip("no model bundle in \(model.path)")
        }
        let result = try run(URL(fileURLWithPath: "/bin/bash"),
                             [packageRoot.appendingPathComponent("scripts/install-model.sh").path, try binDirectory().path,
                              model.path, store.path, keys.path])
        XCTAssertEqual(result.status, 0, "model install failed: \(result.stdout) \(result.stderr)")
    }
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.lock(); data = value; lock.unlock() }
    var value: Data { lock.lock(); defer { lock.unlock() }; return data }
}
