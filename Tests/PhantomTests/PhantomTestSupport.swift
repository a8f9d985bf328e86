import Foundation
import XCTest
@testable import Phantom

/// Small, fast series for tests: 96 x 96 at 2.4 mm (same field of view as 512 at 0.45 mm).
func smallConfig(seed: UInt64, subtypes: [Subtype]?, slices: Int = 10, thickness: Double = 5,
                 noise: Bool = true, partialVolume: Bool = true, mimics: Bool? = nil) -> PhantomConfig {
    var c = PhantomConfig(seed: seed)
    c.subtypes = subtypes
    c.sliceCount = slices
    c.sliceThickness = thickness
    c.matrix = 96
    c.pixelSpacing = 2.4
    c.noise = noise
    c.partialVolume = partialVolume
    c.calvarialShift = partialVolume   // exact-HU renders stay exact
    c.pointSpreadTails = partialVolume
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

/// Exact-HU renders (no noise, no blur, no mimics) shared by the anatomy tests: each
/// (subtypes, seed) is rendered once per test run.
enum ExactSeries {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var cache: [String: PhantomSeries] = [:]

    static func get(_ subtypes: [Subtype], seed: UInt64) throws -> PhantomSeries {
        let key = "\(subtypes.map(\.rawValue))-\(seed)"
        lock.lock(); defer { lock.unlock() }
        if let s = cache[key] { return s }
        let s = try render(smallConfig(seed: seed, subtypes: subtypes, slices: 8, noise: false, partialVolume: false, mimics: false))
        cache[key] = s
        return s
    }

    /// The two seeds each subtype is checked on.
    static func seeds(_ s: Subtype) -> [UInt64] {
        let i = UInt64(Subtype.allCases.firstIndex(of: s)!)
        return [10 + i, 50 + i]
    }
}
