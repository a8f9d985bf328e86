import Foundation
import XCTest
@testable import Phantom

/// Small, fast series for tests: 128 x 128 at 1.8 mm (same field of view as 512 at 0.45 mm).
func smallConfig(seed: UInt64, subtypes: [Subtype]?, slices: Int = 10, thickness: Double = 5,
                 noise: Bool = true, partialVolume: Bool = true, mimics: Bool? = nil) -> PhantomConfig {
    var c = PhantomConfig(seed: seed)
    c.subtypes = subtypes
    c.sliceCount = slices
    c.sliceThickness = thickness
    c.matrix = 128
    c.pixelSpacing = 1.8
    c.noise = noise
    c.partialVolume = partialVolume
    c.mimics = mimics
    c.tiltDegrees = 0
    return c
}

func render(_ config: PhantomConfig) throws -> PhantomSeries {
    PhantomRenderer.render(try PhantomCase(config))
}

func tissue(_ raw: UInt8) -> Tissue { Tissue(rawValue: raw) ?? .air }

func makeTempDir(_ name: String) -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("phantom-tests-\(name)-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))")
    return url
}

/// Runs a tool and returns (exit status, stdout).
func runTool(_ path: String, _ args: [String]) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = Pipe()
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

func which(_ tool: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let path = "\(dir)/\(tool)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}
