import XCTest
@testable import Phantom

/// Through-slice partial volume (`SliceProfile`): where the skull crosses a thick slice at a shallow
/// angle, a pixel must show the mean over the slab, graded as in a real thick slice, and not the
/// thirds that three planes can make. The vertex is where real exams show it most (the GE exam's top
/// slices), and where the detector's false alerts on real anatomy sit.
final class PartialVolumeTests: XCTestCase {
    func testSlabMeanFollowsTheTrueMeanWhereTheVertexIsCutTangentially() throws {
        let thickness = 7.0
        let c = try PhantomCase(smallConfig(seed: 41, subtypes: [], slices: 1, thickness: thickness,
                                            noise: false, partialVolume: true, mimics: false))
        let normal = Vec3(0, 0, 1)   // no tilt
        // The top of the inner table above the head's centre: the first calvarium sample going up.
        var zTop = 0.0
        while c.head.sample(c.head.toHead(Vec3(0, 0, zTop))).tissue != .calvarium { zTop += 0.1 }
        let profile = SliceProfile.offsets(thickness: thickness)
        let coarse = profile.thirds
        var rim = 0, bloodLike = 0, worstAdaptive = 0.0, worstThirds = 0.0
        // Slabs centred 1-4 mm under the top: the table is cut tangentially over a wide area.
        for dz in [1.0, 2.5, 4.0] {
            for i in stride(from: -40, through: 40, by: 2) {
                for j in stride(from: -40, through: 40, by: 2) {
                    let base = Vec3(Double(i), Double(j), zTop - dz)
                    var t: UInt8 = 0, m: UInt8 = 0
                    func sample(_ along: Double) -> Double {
                        PhantomRenderer.value(c, c.head.toHead(base + normal * along), centre: false, tissue: &t, mask: &m)
                    }
                    let adaptive = PhantomRenderer.slabMean(c, base, normal, profile, tissue: &t, mask: &m)
                    // The reference: the slab mean on 105 planes.
                    let reference = (0..<105).map { sample((Double($0) + 0.5) / 105 * thickness - thickness / 2) }.reduce(0, +) / 105
                    let centre = sample(0)
                    let thirds = (centre + sample(coarse[0]) + sample(coarse[1])) / 3
                    guard abs(reference - centre) > 20 else { continue }   // partial volume matters here
                    rim += 1
                    worstAdaptive = max(worstAdaptive, abs(adaptive - reference))
                    worstThirds = max(worstThirds, abs(thirds - reference))
                    if (50...100).contains(reference) && (30...120).contains(adaptive) { bloodLike += 1 }
                }
            }
        }
        print("partial volume at the vertex: \(rim) rim samples; worst error against the 105-plane mean: "
              + "adaptive \(Int(worstAdaptive)) HU, three planes \(Int(worstThirds)) HU; blood-like (50-100 HU) and rendered so: \(bloodLike)")
        XCTAssertGreaterThan(rim, 500, "the slabs near the vertex should cross the inner table")
        // One of 15 sub-slabs of the densest bone is at most ~170 HU; half of it is the midpoint rule's worst case.
        XCTAssertLessThan(worstAdaptive, 120, "the refined slab mean should follow the true mean")
        XCTAssertGreaterThan(worstThirds, 2 * worstAdaptive, "three planes alone should be clearly worse here")
        XCTAssertGreaterThan(bloodLike, 20, "a tangential cut should grade through blood-like HU, as real thick slices do")
    }

    func testProfileSamplesEverySubSlabMidpointOnce() {
        let t = 6.0
        let p = SliceProfile.offsets(thickness: t)
        let all = (0..<SliceProfile.planes).map { (Double($0) + 0.5) / Double(SliceProfile.planes) * t - t / 2 }
        XCTAssertEqual(([0] + p.thirds + p.edges + p.refine).sorted(), all)
        XCTAssertEqual(p.thirds[0], -t / 3, accuracy: 1e-12)
        XCTAssertEqual(p.thirds[1], t / 3, accuracy: 1e-12)
        XCTAssertEqual(p.edges, [all.first!, all.last!])
    }
}
