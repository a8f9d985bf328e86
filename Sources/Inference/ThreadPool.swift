import Foundation

/// A small fixed pool of worker threads created once (at model load); `parallelFor` hands each thread a static
/// share of the work without allocating or creating threads per call. The calling thread is worker 0.
final class ThreadPool: @unchecked Sendable {
    let threadCount: Int
    private var workers: [Thread] = []
    private let start: [DispatchSemaphore]
    private let done = DispatchSemaphore(value: 0)
    // The job of the current parallelFor; valid only while the caller waits in parallelFor.
    private var job: ((Int, Int) -> Void)?
    private var jobCount = 0
    private var stopping = false

    init(threads: Int) {
        threadCount = max(1, threads)
        start = (0..<threadCount).map { _ in DispatchSemaphore(value: 0) }
        for t in 1..<max(threadCount, 1) {
            let th = Thread { [unowned self] in self.workerLoop(t) }
            th.name = "ichtriage-infer-\(t)"
            th.stackSize = 1 << 20
            workers.append(th)
            th.start()
        }
    }

    deinit {
        stopping = true
        for t in 1..<max(threadCount, 1) { start[t].signal() }
        for _ in 1..<max(threadCount, 1) { done.wait() }
    }

    private func workerLoop(_ t: Int) {
        while true {
            start[t].wait()
            if stopping { done.signal(); return }
            runShare(t)
            done.signal()
        }
    }

    private func runShare(_ t: Int) {
        guard let job else { return }
        var i = t
        while i < jobCount {
            job(i, t)
            i += threadCount
        }
    }

    /// Runs body(item, threadIndex) for item in 0..<count; thread t takes items t, t+T, t+2T, ...
    func parallelFor(_ count: Int, _ body: (Int, Int) -> Void) {
        if threadCount == 1 || count <= 1 {
            for i in 0..<count { body(i, 0) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            job = escapable
            jobCount = count
            let helpers = min(threadCount, count) - 1
            for t in 1...helpers { start[t].signal() }
            runShare(0)
            for _ in 0..<helpers { done.wait() }
            job = nil
        }
    }
}
