import XCTest
@testable import Phantom

/// The calvarial shift (`PhantomRenderer.calvarialShift`): intracranial tissue reads denser, by one
/// amount per slice, the smaller the slice's cranial cavity; nothing else changes.
final class CalvarialShiftTests: XCTestCase {
    func testIntracranialTissueReadsDenserWhereTheCavityIsSmall() throws {
        // 28 x 5 mm covers the whole head, so the slices run from the widest cavity to the vertex.
        var on = smallConfig(seed: 31, subtypes: [.subdural], slices: 28, thickness: 5, noise: false, partialVolume: false,
                             mimics: false)
        on.calvarialShift = true
        var off = on
        off.calvarialShift = false
        let shifted = try render(on), plain = try render(off)
        let drawn = shifted.phantomCase.calvarialShiftHU
        XCTAssert((8...30).contains(drawn), "drawn shift \(drawn) HU")
        XCTAssertEqual(plain.phantomCase.calvarialShiftHU, 0)

        var perSlice: [(cavity: Int, shift: Float)] = []
        var bloodSeen = false
        for (a, b) in zip(shifted.slices, plain.slices) {
            XCTAssertEqual(a.mask, b.mask, "labels and masks do not move")
            var shift: Float?
            var cavity = 0
            for i in a.hu.indices {
                if a.hu[i].isNaN || b.hu[i].isNaN {
                    XCTAssert(a.hu[i].isNaN && b.hu[i].isNaN)
                    continue
                }
                guard tissue(a.tissue[i]).isIntracranial else {
                    XCTAssertEqual(a.hu[i], b.hu[i], "slice \(a.index): a pixel outside the cranial cavity changed")
                    continue
                }
                cavity += 1
                let d = a.hu[i] - b.hu[i]
                if let s = shift {
                    XCTAssertEqual(d, s, accuracy: 1e-3, "slice \(a.index): the shift is not uniform")
                } else {
                    shift = d
                }
                if a.mask[i] != 0 { bloodSeen = true }   // blood is shifted like the tissue it lies in
            }
            if let s = shift { perSlice.append((cavity, s)) }
        }
        XCTAssert(bloodSeen)
        let bySize = perSlice.sorted { $0.cavity < $1.cavity }
        XCTAssertEqual(bySize.last!.shift, 0, "the widest cavity is not shifted")
        XCTAssertGreaterThan(bySize.first!.shift, Float(drawn) / 2, "the smallest cavity (vertex) is shifted most")
        XCTAssertLessThanOrEqual(bySize.first!.shift, Float(drawn) + 1e-3)
        for (smaller, larger) in zip(bySize, bySize.dropFirst()) {
            XCTAssertGreaterThanOrEqual(smaller.shift + 1e-3, larger.shift, "the shift falls as the cavity grows")
        }
    }
}
