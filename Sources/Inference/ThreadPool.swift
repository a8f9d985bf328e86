import Foundation

/// A small fixed pool of worker threads created once (at model load); `parallelFor` hands each thread a static
/// share of the work without allocating or creating threads per call. The calling thread is worker 0.
final class ThreadPool: @unchecked Sendable {
    /// What the workers share; they hold it (not the pool), so the pool's deinit can stop them.
    private final class State: @unchecked Sendable {
        let threadCount: Int
        let start: [DispatchSemaphore]
        let done = DispatchSemaphore(value: 0)
        // The job of the current parallelFor; valid only while the caller waits in parallelFor.
        var job: ((Int, Int) -> Void)?
        var jobCount = 0
        var stopping = false
        /// Dynamic jobs: the next item to hand out (under `lock`).
        var dynamic = false
        var next = 0
        let lock = NSLock()

        init(threadCount: Int) {
            self.threadCount = threadCount
            start = (0..<threadCount).map { _ in DispatchSemaphore(value: 0) }
        }

        func workerLoop(_ t: Int) {
            while true {
                start[t].wait()
                if stopping { done.signal(); return }
                runShare(t)
                done.signal()
            }
        }

        func runShare(_ t: Int) {
            guard let job else { return }
            if dynamic {
                // Each thread's first item is fixed (item t), so every thread runs the job's code in every call
                // (a first run on a thread can allocate once, e.g. runtime caches; a warm-up must cover it).
                if t < jobCount { job(t, t) }
                while true {
                    lock.lock()
                    let i = next
                    next += 1
                    lock.unlock()
                    if i >= jobCount { return }
                    job(i, t)
                }
            }
            var i = t
            while i < jobCount {
                job(i, t)
                i += threadCount
            }
        }
    }

    let threadCount: Int
    private let state: State

    init(threads: Int) {
        threadCount = max(1, threads)
        state = State(threadCount: threadCount)
        for t in 1..<max(threadCount, 1) {
            let s = state
            let th = Thread { s.workerLoop(t) }
            th.name = "ichtriage-infer-\(t)"
            th.stackSize = 1 << 20
            th.start()
        }
    }

    deinit {
        state.stopping = true
        for t in 1..<max(threadCount, 1) { state.start[t].signal() }
        for _ in 1..<max(threadCount, 1) { state.done.wait() }
    }

    /// Runs body(item, threadIndex) for item in 0..<count; thread t takes items t, t+T, t+2T, ... or, when
    /// `dynamic` (few large items), item t and then the next item not yet taken.
    func parallelFor(_ count: Int, dynamic: Bool = false, _ body: (Int, Int) -> Void) {
        if threadCount == 1 || count <= 1 {
            for i in 0..<count { body(i, 0) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            state.job = escapable
            state.jobCount = count
            state.dynamic = dynamic
            state.next = min(threadCount, count) /* items below are each thread's first (see runShare) */
            let helpers = min(threadCount, count) - 1
            for t in 1...helpers { state.start[t].signal() }
            state.runShare(0)
            for _ in 0..<helpers { state.done.wait() }
            state.job = nil
        }
    }
}
