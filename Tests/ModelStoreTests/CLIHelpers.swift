import Foundation
import XCTest

/// The `ichtriage` executable built beside the tests (or ICHTRIAGE_BIN).
func ichtriageBinary() throws -> URL {
    if let env = ProcessInfo.processInfo.environment["ICHTRIAGE_BIN"] { return URL(fileURLWithPath: env) }
    // The test bundle lies in the products folder (Linux: Bundle(for:) is that folder itself).
    let here = Bundle(for: CLITests.self).bundleURL
    let candidates = [here, here.deletingLastPathComponent(), here.deletingLastPathComponent().deletingLastPathComponent()]
        .map { $0.appendingPathComponent("ichtriage") }
    guard let bin = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
        XCTFail("ichtriage executable not found near \(here.path); `swift build` it or set ICHTRIAGE_BIN")
        throw CocoaError(.fileNoSuchFile)
    }
    return bin
}

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any]
    }
}

/// Runs a program with arguments and waits for it, collecting its output.
func runProcess(_ executable: URL, _ args: [String]) throws -> CommandResult {
    let p = Process()
    p.executableURL = executable
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return CommandResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}

/// Runs `ichtriage` with arguments and waits for it.
func runCLI(_ args: [String]) throws -> CommandResult {
    try runProcess(try ichtriageBinary(), args)
}
