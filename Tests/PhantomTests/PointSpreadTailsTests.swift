import XCTest
@testable import Phantom

/// The long tails of the in-plane point-spread (`PointSpreadTails`): brain near the skull brighter,
/// the deep brain as it was, the same pixels every time.
final class PointSpreadTailsTests: XCTestCase {
    func testBoxRadiiGiveTheGaussiansWidth() {
        // Three boxes of 2r+1 pixels have variance r(r+1): at 0.45 mm, 2 mm is 4.4 pixels (r 4, sigma 4.47)
        // and 8 mm 17.8 pixels (r 17, sigma 17.5).
        XCTAssertEqual(PointSpreadTails.boxRadius(sigmaPixels: 2.0 / 0.45), 4)
        XCTAssertEqual(PointSpreadTails.boxRadius(sigmaPixels: 8.0 / 0.45), 17)
        XCTAssertEqual(PointSpreadTails.boxRadius(sigmaPixels: 0.3), 0)
        // A single bright pixel spreads with that variance and keeps its mass.
        let m = 41
        var impulse = [Float](repeating: 0, count: m * m)
        impulse[20 * m + 20] = 1
        let g = PointSpreadTails.gaussian(impulse, m, radius: 3)
        XCTAssertEqual(g.reduce(0, +), 1, accuracy: 1e-4)
        var variance: Float = 0
        for j in 0..<m { variance += g[20 * m + j] * Float((j - 20) * (j - 20)) }
        let rowMass = (0..<m).reduce(Float(0)) { $0 + g[20 * m + $1] }
        XCTAssertEqual(variance / rowMass, 12, accuracy: 0.01, "r(r+1) = 12 for r = 3")
    }

    func testBrainNearTheSkullBrightensAndTheDeepBrainDoesNot() throws {
        var on = PhantomConfig(seed: 41)
        on.subtypes = []
        on.sliceCount = 28   // 140 mm: the whole head, so one slice is the widest
        on.sliceThickness = 5
        on.tiltDegrees = 0
        on.matrix = 192
        on.pixelSpacing = 1.2
        on.noise = false
        on.mimics = false
        on.pointSpreadTails = true
        var off = on
        off.pointSpreadTails = false
        let tailed = try render(on), plain = try render(off)
        XCTAssertEqual(try render(on).slices.map(\.stored), tailed.slices.map(\.stored), "same pixels every time")
        let cavity = tailed.slices.map { $0.tissue.filter { tissue($0).isIntracranial }.count }
        let widest = cavity.indices.max { cavity[$0] < cavity[$1] }!
        let a = tailed.slices[widest], b = plain.slices[widest]
        let m = 192
        // Distance (4-neighbour steps) from the nearest skull pixel, by a breadth-first search.
        var dist = [Int](repeating: Int.max, count: m * m)
        var queue: [Int] = []
        for i in 0..<m * m where tissue(a.tissue[i]).isBone { dist[i] = 0; queue.append(i) }
        XCTAssertFalse(queue.isEmpty, "the slice cuts the skull")
        var head = 0
        while head < queue.count {
            let p = queue[head]; head += 1
            let (i, j) = (p / m, p % m)
            for (di, dj) in [(0, 1), (0, -1), (1, 0), (-1, 0)] {
                let (ni, nj) = (i + di, j + dj)
                guard ni >= 0, ni < m, nj >= 0, nj < m else { continue }
                let q = ni * m + nj
                if dist[q] == Int.max { dist[q] = dist[p] + 1; queue.append(q) }
            }
        }
        var near: [Float] = [], deep: [Float] = []
        for i in 0..<m * m where tissue(a.tissue[i]).isIntracranial && !a.hu[i].isNaN {
            let d = Double(dist[i]) * 1.2
            if d >= 1.5 && d <= 5 { near.append(a.hu[i] - b.hu[i]) }
            if d >= 30 { deep.append(a.hu[i] - b.hu[i]) }
        }
        XCTAssertGreaterThan(near.count, 100)
        XCTAssertGreaterThan(deep.count, 100)
        let mean = { (v: [Float]) in v.reduce(0, +) / Float(v.count) }
        XCTAssertGreaterThan(mean(near), 10, "brain 1.5-5 mm from the skull: \(mean(near)) HU brighter")
        XCTAssertLessThan(abs(mean(deep)), 2, "brain 30 mm or more from the skull: \(mean(deep)) HU")
    }
}
