import CKernels
import Foundation

/// Where a thread running a stretch image by image keeps its image's intermediates and its kernel scratch.
struct ImageSlot {
    let arena: UnsafeMutableRawPointer
    let scratch: UnsafeMutableRawPointer
}

/// A step that can run one image of its batch on the calling thread: every buffer it touches holds `images`
/// images one after another (NHWC, batch outermost).
protocol ImageStep: Step {
    var images: Int { get }
    /// Each buffer the step touches, with its bytes per image.
    var imageBuffers: [(Buffer, Int)] { get }
    /// Runs image n; returns ICK_OK or a kernel error code.
    func runImage(_ n: Int, _ at: ImageSlot) -> Int32
}

extension Buffer {
    /// Image n of the buffer: in the plan's arena, or in the thread's image arena when the buffer lives only
    /// inside one stretch (then one image's worth is all that exists, per thread).
    @inline(__always)
    func image(_ n: Int, _ imageBytes: Int, _ at: ImageSlot) -> UnsafeMutableRawPointer {
        imageOffset >= 0 ? at.arena + imageOffset : ptr + n * imageBytes
    }
}

/// Consecutive image steps over the same batch run image by image instead of layer by layer: each thread takes
/// whole images through the stretch, so an image's activations stay in that core's caches from one layer to the
/// next (layer by layer, a 16-slice batch of MobileNetV2 activations streams through DRAM at every layer), the
/// threads meet once per stretch instead of once per layer, and the buffers that live only inside the stretch
/// need one image per thread instead of the whole batch.
struct ImageStretch {
    let steps: [ImageStep]
    let range: Range<Int>
    let images: Int

    /// Stretches of at least two image steps whose batch gives every thread at least one image.
    static func find(_ steps: [Step], threads: Int) -> [ImageStretch] {
        var result: [ImageStretch] = []
        var i = 0
        while i < steps.count {
            guard let first = steps[i] as? ImageStep, first.images >= max(2, threads) else { i += 1; continue }
            var j = i + 1
            while j < steps.count, let s = steps[j] as? ImageStep, s.images == first.images { j += 1 }
            if j - i >= 2 {
                result.append(ImageStretch(steps: steps[i..<j].map { $0 as! ImageStep }, range: i..<j, images: first.images))
            }
            i = j
        }
        return result
    }

    /// Moves the buffers that live only inside this stretch to the per-thread image arena (liveness-based
    /// placement of one image each) and keeps every other buffer it touches alive across the whole stretch in
    /// the plan's arena (threads are at different steps at once). Returns the image arena bytes it needs.
    func placeImageBuffers() -> Int {
        var perImage: [ObjectIdentifier: (Buffer, Int, Bool)] = [:]
        for s in steps {
            for (b, bytes) in s.imageBuffers where !b.isConstant {
                let id = ObjectIdentifier(b)
                let consistent = b.bytes == bytes * images && (perImage[id].map { $0.1 == bytes && $0.2 } ?? true)
                perImage[id] = (b, bytes, consistent)
            }
        }
        var proxies: [Buffer] = []
        var owners: [Buffer] = []
        for (b, bytes, consistent) in perImage.values.sorted(by: { $0.0.first < $1.0.first }) {
            if consistent && b.first >= range.lowerBound && b.last < range.upperBound {
                let p = Buffer(bytes: bytes)
                (p.first, p.last) = (b.first, b.last)
                proxies.append(p)
                owners.append(b)
            } else {
                b.first = min(b.first, range.lowerBound)
                b.last = max(b.last, range.upperBound - 1)
            }
        }
        let size = MemoryPlanner.place(proxies)
        for (p, b) in zip(proxies, owners) { b.imageOffset = p.offset }
        return size
    }
}

/// What a plan runs: single steps (layer by layer) and image-by-image stretches.
enum ScheduledWork {
    case step(Step)
    case stretch(ImageStretch)

    static func schedule(_ steps: [Step], _ stretches: [ImageStretch]) -> [ScheduledWork] {
        var out: [ScheduledWork] = []
        var i = 0, k = 0
        while i < steps.count {
            if k < stretches.count && stretches[k].range.lowerBound == i {
                out.append(.stretch(stretches[k]))
                i = stretches[k].range.upperBound
                k += 1
            } else {
                out.append(.step(steps[i]))
                i += 1
            }
        }
        return out
    }
}
