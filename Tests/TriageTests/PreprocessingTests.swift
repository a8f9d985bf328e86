import XCTest
@testable import Triage

final class PreprocessingTests: XCTestCase {
    private func run(_ hu: [Float], rows: Int, columns: Int, size: Int) -> [Float] {
        let p = Preprocessing(outputSize: size)
        var out = [Float](repeating: -1, count: p.valuesPerSlice)
        hu.withUnsafeBufferPointer { h in out.withUnsafeMutableBufferPointer { p.slice(hu: h, rows: rows, columns: columns, into: $0) } }
        return out
    }

    func testWindowsClipAndScale() {
        // 2x2 input, one output pixel per channel: each channel sees the mean of the windowed values.
        let out = run([-1024, 40, 80, 3000], rows: 2, columns: 2, size: 1)
        // brain 40/80: [0, 0.5, 1, 1] -> 0.625; subdural 80/200: [0, 0.3, 0.5, 1] -> 0.45;
        // soft tissue 40/380: [0, 0.5, 0.6052632, 1] -> 0.5263158
        XCTAssertEqual(out[0], 0.625, accuracy: 1e-6)
        XCTAssertEqual(out[1], 0.45, accuracy: 1e-6)
        let soft: Float = (0.5 + Float(230) / 380 + 1) / 4
        XCTAssertEqual(out[2], soft, accuracy: 1e-6)
    }

    func testWindowingHappensBeforeAveraging() {
        // Averaging first would give mean HU 40 -> 0.5 in the brain window; windowing first gives
        // (0 + 1) / 2 because both extremes clip.
        let out = run([-500, 580, -500, 580], rows: 2, columns: 2, size: 1)
        XCTAssertEqual(out[0], 0.5, accuracy: 1e-6)
        let outClipped = run([-1000, 1000, -1000, 1000], rows: 2, columns: 2, size: 1)
        XCTAssertEqual(outClipped[0], 0.5, accuracy: 1e-6)
        let notSymmetric = run([-1000, 1000, 40, 40], rows: 2, columns: 2, size: 1)
        XCTAssertEqual(notSymmetric[0], 0.5, accuracy: 1e-6)
    }

    func testGeneralAreaAveragingMatchesHalvingOnEvenSizes() {
        // The exact resampler must agree with the 2x2 fast path where both apply.
        var hu = [Float](repeating: 0, count: 8 * 8)
        for i in hu.indices { hu[i] = Float((i * 37) % 200) - 40 }
        let fast = run(hu, rows: 8, columns: 8, size: 4)
        let p = Preprocessing(outputSize: 4)
        var general = [Float](repeating: 0, count: 4 * 4)
        hu.withUnsafeBufferPointer { h in
            general.withUnsafeMutableBufferPointer {
                Preprocessing.windowAndResample(h, rows: 8, columns: 8, low: 0, width: 80, size: 4, into: $0)
            }
        }
        for i in 0..<16 { XCTAssertEqual(fast[i], general[i], accuracy: 1e-6) }
        XCTAssertEqual(p.valuesPerSlice, 48)
    }

    func testFractionalAreaWeightsSumToOne() {
        for (input, output) in [(512, 256), (500, 256), (3, 2), (768, 256)] {
            let weights = Preprocessing.areaWeights(input: input, output: output)
            XCTAssertEqual(weights.count, output)
            for w in weights { XCTAssertEqual(w.reduce(0) { $0 + $1.1 }, 1, accuracy: 1e-5) }
        }
    }
}
