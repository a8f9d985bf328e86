import XCTest
@testable import Phantom

final class DeterminismTests: XCTestCase {
    func testSameSeedGivesByteIdenticalPixels() throws {
        let a = try render(smallConfig(seed: 1234, subtypes: nil, slices: 6))
        let b = try render(smallConfig(seed: 1234, subtypes: nil, slices: 6))
        XCTAssertEqual(a.slices.count, 6)
        for (x, y) in zip(a.slices, b.slices) {
            XCTAssertEqual(x.stored, y.stored, "slice \(x.index) differs between two runs of one seed")
            XCTAssertEqual(x.mask, y.mask)
        }
        XCTAssertEqual(a.phantomCase.subtypes, b.phantomCase.subtypes)
    }

    func testDifferentSeedsGiveDifferentHeadsAndBleeds() throws {
        let a = try render(smallConfig(seed: 1, subtypes: [.subdural], slices: 6))
        let b = try render(smallConfig(seed: 2, subtypes: [.subdural], slices: 6))
        let differing = zip(a.slices, b.slices).filter { $0.stored != $1.stored }.count
        XCTAssertEqual(differing, 6, "every slice should differ between seeds")
        XCTAssertNotEqual(a.slices.map(\.mask), b.slices.map(\.mask), "bleeds should differ between seeds")
    }

    func testDrawnSubtypesMixPositivesAndNegatives() throws {
        var negatives = 0, positives = 0
        var seen = Set<Subtype>()
        for seed in 0..<200 as Range<UInt64> {
            let c = try PhantomCase(smallConfig(seed: seed, subtypes: nil))
            if c.subtypes.isEmpty { negatives += 1 } else { positives += 1 }
            seen.formUnion(c.subtypes)
        }
        XCTAssertGreaterThan(negatives, 70); XCTAssertGreaterThan(positives, 70)
        XCTAssertEqual(seen, Set(Subtype.allCases))
    }

    func testGeneratorStreamIsFixed() {
        // xoshiro256** seeded through SplitMix64: pinned so that a change to the stream
        // (which would silently change every dataset) is noticed.
        var g = SeededGenerator(seed: 42)
        let first = (0..<3).map { _ in g.next() }
        // Reference values computed independently (Python big integers) from the published algorithm.
        XCTAssertEqual(first, [13_696_896_915_399_030_466, 12_641_092_763_546_669_283, 14_580_102_322_132_234_639])
        var k = SeededGenerator(seed: 43)
        XCTAssertNotEqual(first[0], k.next())
        // The deterministic sine agrees with libm to 1e-9.
        for x in stride(from: -20.0, through: 20.0, by: 0.37) {
            XCTAssertEqual(DetMath.sin(x), Foundation.sin(x), accuracy: 1e-9)
        }
    }
}
