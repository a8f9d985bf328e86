import Foundation
import XCTest
@testable import Phantom

/// Bleeds inserted into the real exams of ../shared/data/real-head-ct (read at 1/4
/// resolution to keep the tests fast).
final class RealAnatomyTests: XCTestCase {
    nonisolated(unsafe) private static var library: RealAnatomyLibrary?
    nonisolated(unsafe) private static var loadError: String?

    static var dataFolder: URL {
        if let env = ProcessInfo.processInfo.environment["ICHTRIAGE_SHARED_DATA"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        // <package root>/Tests/PhantomTests/RealAnatomyTests.swift -> <package root>/../shared/data/real-head-ct
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/data/real-head-ct")
    }

    override class func setUp() {
        guard FileManager.default.fileExists(atPath: dataFolder.path) else {
            loadError = "no real exams at \(dataFolder.path) (set ICHTRIAGE_SHARED_DATA)"
            return
        }
        do { library = try RealAnatomyLibrary.load(from: dataFolder, downsample: 4) } catch { loadError = "\(error)" }
    }

    private func lib() throws -> RealAnatomyLibrary {
        if let l = Self.library { return l }
        let reason = Self.loadError ?? "not loaded"
        if reason.hasPrefix("no real exams") { throw XCTSkip(reason) }
        XCTFail("real anatomy failed to load: \(reason)")
        throw XCTSkip("load failed")
    }

    private func config(_ seed: UInt64, _ subtypes: [Subtype]) -> PhantomConfig {
        var c = PhantomConfig(seed: seed)
        c.subtypes = subtypes
        return c
    }

    func testHumanExamIsUsedAndEmptySkullPhantomIsExcluded() throws {
        let l = try lib()
        // The GE exam is a human head; the Philips S2010 series is a skull phantom with air inside.
        XCTAssertEqual(l.examNames, ["ge-hispeed-human"])
        XCTAssertEqual(l.excluded.map(\.name), ["S2010"])
        XCTAssertTrue(l.excluded.first?.reason.contains("no brain tissue") ?? false)
    }

    func testEachSubtypeLiesWhereItsAnatomySays() throws {
        let l = try lib()
        for s in Subtype.allCases {
            var placed = 0
            for seed in [UInt64(1), 2] {
                let series: GeneratedSeries
                do { series = try l.render(config(seed, [s])) } catch PhantomError.realAnatomy(let m) {
                    // Only CSF-bound subtypes may be impossible (an exam without visible CSF spaces).
                    XCTAssertTrue(s == .intraventricular || s == .subarachnoid, "\(s): \(m)")
                    continue
                }
                let regions = try XCTUnwrap(l.regions(examNamed: series.anatomy))
                for (k, slice) in series.slices.enumerated() {
                    let region = regions[k]
                    for idx in slice.mask.indices where slice.mask[idx] & s.maskBit != 0 {
                        placed += 1
                        let r = RealAnatomyLibrary.Region(rawValue: region[idx])
                        switch s {
                        case .intraparenchymal: XCTAssertEqual(r, .parenchyma, "\(s) outside parenchyma")
                        case .intraventricular, .subarachnoid: XCTAssertEqual(r, .csf, "\(s) outside CSF")
                        case .epidural, .subdural:
                            XCTAssertTrue(r == .parenchyma || r == .csf || r == .otherIntracranial, "\(s) outside the cavity")
                        }
                    }
                    if s == .epidural || s == .subdural {
                        // Every slice's collection touches bone (the inner table).
                        let m = series.columns
                        let touching = slice.mask.indices.contains { idx in
                            guard slice.mask[idx] & s.maskBit != 0 else { return false }
                            let i = idx / m, j = idx % m
                            for di in -1...1 { for dj in -1...1 {
                                let a = i + di, b = j + dj
                                if a >= 0, a < series.rows, b >= 0, b < m,
                                   region[a * m + b] == RealAnatomyLibrary.Region.bone.rawValue { return true }
                            } }
                            return false
                        }
                        if slice.subtypes.contains(s) { XCTAssertTrue(touching, "\(s) slice \(k) not against the inner table") }
                    }
                }
            }
            if s != .intraventricular && s != .subarachnoid { XCTAssertGreaterThan(placed, 0, "\(s) never placed") }
        }
    }

    func testInsertedBloodReadsAsAcuteBlood() throws {
        let l = try lib()
        for s in [Subtype.epidural, .intraparenchymal, .subdural] {
            let series = try l.render(config(5, [s]))
            var sum = 0.0, n = 0.0
            for slice in series.slices {
                for idx in slice.mask.indices where slice.mask[idx] != 0 {
                    let stored = Double(series.encoding == .unsigned12 ? Double(UInt16(bitPattern: slice.stored[idx])) : Double(slice.stored[idx]))
                    sum += stored + series.encoding.intercept; n += 1
                }
            }
            XCTAssertGreaterThan(n, 0)
            // Real noise stays on the blood; its mean is the acute-blood level (edges blend a little).
            XCTAssert((45...90).contains(sum / n), "\(s): mean \(sum / n) HU")
        }
    }

    func testSameSeedSamePixels() throws {
        let l = try lib()
        let a = try l.render(config(9, [.subdural, .intraparenchymal]))
        let b = try l.render(config(9, [.subdural, .intraparenchymal]))
        XCTAssertEqual(a.slices.map(\.stored), b.slices.map(\.stored))
        let c = try l.render(config(10, [.subdural, .intraparenchymal]))
        XCTAssertNotEqual(a.slices.map(\.mask), c.slices.map(\.mask))
    }
}
