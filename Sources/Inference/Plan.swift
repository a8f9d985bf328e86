import CKernels
import Foundation

/// Memory for one tensor of a plan: an arena slice (placed by the memory planner) or a constant.
final class Buffer {
    let bytes: Int
    /// First and last step index that touch the buffer (-1: written before the run; Int.max: read after it).
    var first = Int.max
    var last = -1
    var offset = -1
    var ptr: UnsafeMutableRawPointer!
    /// >= 0 when the buffer lives only inside one image-by-image stretch: offset of its one image in each
    /// thread's image arena (it then has no place in the plan's arena).
    var imageOffset = -1
    let isConstant: Bool

    init(bytes: Int) {
        self.bytes = max(bytes, 1)
        isConstant = false
    }

    init(constant: Tensor, store: ConstantStore) {
        bytes = max(constant.bytes.count, 1)
        isConstant = true
        ptr = store.copy(constant.bytes)
    }

    func touch(_ step: Int) {
        first = min(first, step)
        last = max(last, step)
    }
}

/// Owns 64-byte aligned memory for constants and packed weights; freed with the plan or model.
final class ConstantStore: @unchecked Sendable {
    private var blocks: [UnsafeMutableRawPointer] = []
    private(set) var totalBytes = 0

    func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 64), alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: max(bytes, 64))
        blocks.append(p)
        totalBytes += bytes
        return p
    }

    func copy(_ bytes: [UInt8]) -> UnsafeMutableRawPointer {
        let p = allocate(bytes.count)
        bytes.withUnsafeBytes { if $0.count > 0 { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        return p
    }

    deinit { blocks.forEach { $0.deallocate() } }
}

/// What a step sees while running: the thread pool and one scratch area per thread.
struct RunContext {
    let pool: ThreadPool
    let scratch: UnsafeMutableRawPointer
    let scratchPerThread: Int

    func scratch(_ thread: Int) -> UnsafeMutableRawPointer { scratch + thread * scratchPerThread }
}

/// One operation of a compiled plan. Steps hold their buffers and parameters; `run` must not allocate.
protocol Step: AnyObject {
    var label: String { get }
    /// Multiply-accumulates per run (for GMAC/s figures); 0 when not meaningful.
    var macs: Int { get }
    func run(_ ctx: RunContext) throws
}

extension Step {
    var macs: Int { 0 }
}

/// Counts every arena or scratch allocation an engine makes, so tests can prove a run allocates nothing.
public enum AllocationCounter {
    nonisolated(unsafe) static var value = 0
    static let lock = NSLock()
    static func bump() { lock.lock(); value += 1; lock.unlock() }
    /// Number of engine buffer allocations (arenas, scratch) since the process started.
    public static var count: Int { lock.lock(); defer { lock.unlock() }; return value }
}

/// Liveness-based placement: buffers whose step intervals overlap get disjoint arena ranges; the rest may share.
enum MemoryPlanner {
    static let alignment = 64

    /// Assigns `offset` to every buffer; returns the arena size.
    static func place(_ buffers: [Buffer]) -> Int {
        var placed: [Buffer] = []
        var arena = 0
        for b in buffers.sorted(by: { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.first < $1.first }) {
            let size = (b.bytes + alignment - 1) / alignment * alignment
            // Ranges already taken during b's lifetime, by offset.
            let busy = placed.filter { $0.first <= b.last && b.first <= $0.last }
                .map { ($0.offset, $0.offset + ($0.bytes + alignment - 1) / alignment * alignment) }
                .sorted { $0.0 < $1.0 }
            var candidate = 0
            for (lo, hi) in busy {
                if candidate + size <= lo { break }
                candidate = max(candidate, hi)
            }
            b.offset = candidate
            arena = max(arena, candidate + size)
            placed.append(b)
        }
        return arena
    }
}
