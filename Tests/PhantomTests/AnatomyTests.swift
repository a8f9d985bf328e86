import XCTest
@testable import Phantom

/// Each subtype's lesion lies where its anatomy says, and HU values are in range.
final class AnatomyTests: XCTestCase {
    /// Exact HU (no noise, no blur) so that values can be checked against their ranges.
    private func exact(_ subtypes: [Subtype], seed: UInt64) throws -> PhantomSeries {
        try ExactSeries.get(subtypes, seed: seed)
    }

    private func maskPixels(_ series: PhantomSeries, _ s: Subtype) -> [(slice: PhantomSlice, index: Int)] {
        series.slices.flatMap { sl in sl.mask.indices.filter { sl.mask[$0] & s.maskBit != 0 }.map { (sl, $0) } }
    }

    func testEveryRequestedSubtypeIsVisible() throws {
        for s in Subtype.allCases {
            for seed in ExactSeries.seeds(s) {
                let series = try exact([s], seed: seed)
                XCTAssertEqual(series.presentSubtypes, [s], "seed \(seed): \(s) should be on some slice")
            }
        }
    }

    func testBloodHUInAcuteRangeAndTissueHU() throws {
        for s in Subtype.allCases {
            let series = try exact([s], seed: ExactSeries.seeds(s)[0])
            let px = maskPixels(series, s)
            XCTAssertFalse(px.isEmpty)
            for (sl, idx) in px {
                XCTAssertGreaterThanOrEqual(sl.hu[idx], 50, "\(s) blood below 50 HU")
                XCTAssertLessThanOrEqual(sl.hu[idx], 90, "\(s) blood above 90 HU")
            }
        }
        let series = try exact([], seed: 7)
        var sums: [Tissue: (Double, Int)] = [:]
        for sl in series.slices {
            for idx in sl.hu.indices where sl.mask[idx] == 0 {
                let t = tissue(sl.tissue[idx])
                let v = Double(sl.hu[idx])
                switch t {
                case .ventricle, .sulcalCSF, .cisternCSF, .convexityCSF: XCTAssert((0...12).contains(v), "CSF at \(v) HU")
                case .grey, .deepGrey: XCTAssert((30...42).contains(v), "grey matter at \(v) HU")
                case .white: XCTAssert((20...32).contains(v), "white matter at \(v) HU")
                case .calvarium: XCTAssertGreaterThan(v, 300, "skull at \(v) HU")
                case .air: XCTAssertEqual(v, -1000)
                default: break
                }
                let (sum, n) = sums[t] ?? (0, 0)
                sums[t] = (sum + v, n + 1)
            }
        }
        let mean = { (t: Tissue) in sums[t].map { $0.0 / Double($0.1) } ?? .nan }
        XCTAssertGreaterThan(mean(.grey) - mean(.white), 5, "grey-white contrast")
        for t in [Tissue.ventricle, .sulcalCSF, .grey, .white, .calvarium, .scalp] {
            XCTAssertGreaterThan(sums[t]?.1 ?? 0, 0, "no \(t) pixels in a whole head")
        }
    }

    /// Epidural and subdural: every cross-section touches the inner table (a bone pixel
    /// within one pixel) and lies inside the skull.
    func testExtraAxialBleedsTouchTheInnerTable() throws {
        for s in [Subtype.epidural, .subdural] {
            for seed in ExactSeries.seeds(s) {
                let series = try exact([s], seed: seed)
                var checked = 0
                for sl in series.slices {
                    for component in components(sl.mask, bit: s.maskBit, m: series.phantomCase.geometry.matrix) {
                        checked += 1
                        XCTAssertTrue(component.allSatisfy { tissue(sl.tissue[$0]).isIntracranial },
                                      "\(s) seed \(seed) slice \(sl.index): blood outside the cranial cavity")
                        let m = series.phantomCase.geometry.matrix
                        let touches = component.contains { idx in
                            neighbours(idx, m).contains { tissue(sl.tissue[$0]).isBone }
                        }
                        XCTAssertTrue(touches, "\(s) seed \(seed) slice \(sl.index): a collection not against the inner table")
                    }
                }
                XCTAssertGreaterThan(checked, 0)
            }
        }
    }

    func testIntraventricularBloodIsInsideVentriclesAndLayersPosteriorly() throws {
        for seed in ExactSeries.seeds(.intraventricular) {
            let series = try exact([.intraventricular], seed: seed)
            let m = series.phantomCase.geometry.matrix
            var bloodRows = 0.0, bloodN = 0.0, ventRows = 0.0, ventN = 0.0
            for sl in series.slices {
                for idx in sl.mask.indices {
                    let t = tissue(sl.tissue[idx])
                    if sl.mask[idx] & Subtype.intraventricular.maskBit != 0 {
                        XCTAssertEqual(t, .ventricle, "seed \(seed): intraventricular blood outside a ventricle")
                        bloodRows += Double(idx / m); bloodN += 1
                    }
                    if t == .ventricle { ventRows += Double(idx / m); ventN += 1 }
                }
            }
            XCTAssertGreaterThan(bloodN, 0)
            // Rows grow posteriorly; supine patients layer blood in the posterior (dependent) horns.
            XCTAssertGreaterThan(bloodRows / bloodN, ventRows / ventN, "seed \(seed): blood not dependent")
        }
    }

    func testIntraparenchymalBloodIsInParenchymaWithDarkerRim() throws {
        for seed in ExactSeries.seeds(.intraparenchymal) {
            let series = try exact([.intraparenchymal], seed: seed)
            let m = series.phantomCase.geometry.matrix
            var rimDrop = 0.0, rimN = 0.0
            for sl in series.slices {
                for idx in sl.mask.indices where sl.mask[idx] & Subtype.intraparenchymal.maskBit != 0 {
                    XCTAssertTrue(tissue(sl.tissue[idx]).isParenchyma, "seed \(seed): clot outside brain parenchyma")
                }
                // Oedema: parenchyma next to the clot reads darker than the same tissue far away.
                for idx in sl.mask.indices where sl.mask[idx] == 0 && tissue(sl.tissue[idx]) == .white {
                    if neighbours(idx, m).contains(where: { sl.mask[$0] & Subtype.intraparenchymal.maskBit != 0 }) {
                        rimDrop += Double(series.phantomCase.headWhiteHU) - Double(sl.hu[idx]); rimN += 1
                    }
                }
            }
            if rimN > 0 { XCTAssertGreaterThan(rimDrop / rimN, 2.5, "seed \(seed): no oedema rim") }
        }
    }

    func testSubarachnoidBloodIsInSulciAndCisterns() throws {
        for seed in ExactSeries.seeds(.subarachnoid) {
            let series = try exact([.subarachnoid], seed: seed)
            var n = 0
            for sl in series.slices {
                for idx in sl.mask.indices where sl.mask[idx] & Subtype.subarachnoid.maskBit != 0 {
                    n += 1
                    XCTAssertTrue(tissue(sl.tissue[idx]).isSubarachnoidSpace, "seed \(seed): SAH outside the subarachnoid space")
                }
            }
            XCTAssertGreaterThan(n, 0)
        }
    }

    func testLargeBleedShiftsTheMidline() throws {
        var shifted = 0
        for seed in 600..<630 as Range<UInt64> {
            let c = try PhantomCase(smallConfig(seed: seed, subtypes: [.subdural], mimics: false))
            if c.midlineShift > 0 { shifted += 1; XCTAssertLessThanOrEqual(c.midlineShift, 12) }
        }
        XCTAssertGreaterThan(shifted, 0, "no large subdural shifted the midline")
    }

    func testNoiseHasRealisticLevel() throws {
        let series = try render(smallConfig(seed: 9, subtypes: [], slices: 4, mimics: false))
        let exactSeries = try render(smallConfig(seed: 9, subtypes: [], slices: 4, noise: false, mimics: false))
        var sq = 0.0, n = 0.0
        for (a, b) in zip(series.slices, exactSeries.slices) {
            for idx in a.hu.indices where tissue(a.tissue[idx]) == .white {
                let d = Double(a.hu[idx] - b.hu[idx]); sq += d * d; n += 1
            }
        }
        let sd = (sq / n).squareRoot()
        XCTAssert((2...9).contains(sd), "noise SD \(sd) HU")
    }

    // MARK: - helpers

    private func neighbours(_ idx: Int, _ m: Int) -> [Int] {
        let i = idx / m, j = idx % m
        var out: [Int] = []
        for di in -1...1 { for dj in -1...1 where di != 0 || dj != 0 {
            let a = i + di, b = j + dj
            if a >= 0 && a < m && b >= 0 && b < m { out.append(a * m + b) }
        } }
        return out
    }

    private func components(_ mask: [UInt8], bit: UInt8, m: Int) -> [[Int]] {
        var seen = [Bool](repeating: false, count: mask.count)
        var out: [[Int]] = []
        for start in mask.indices where mask[start] & bit != 0 && !seen[start] {
            var stack = [start], comp: [Int] = []
            seen[start] = true
            while let v = stack.popLast() {
                comp.append(v)
                for n in neighbours(v, m) where !seen[n] && mask[n] & bit != 0 { seen[n] = true; stack.append(n) }
            }
            out.append(comp)
        }
        return out
    }
}
