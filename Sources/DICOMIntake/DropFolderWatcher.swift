import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Watches a drop folder and delivers complete series. inotify wakes it for local writes; a full
/// rescan every `rescanSeconds` catches writes inotify never sees (NFS/SMB from other hosts).
/// A file is read once it is stable: closed after writing (IN_CLOSE_WRITE) with size and mtime
/// unchanged since, or size and mtime unchanged for `stabilitySeconds`. A series is delivered when
/// no slice arrived and no file in the folder changed for `seriesQuietSeconds`.
///
/// Runs its own thread; the handler is called on that thread.
public final class DropFolderWatcher: @unchecked Sendable {
    public enum Event: Sendable {
        case series(CTSeries)
        /// A stable, readable slice of a series that is not complete yet (the service runs the CNN on
        /// it ahead of time: incremental inference). Its series comes later as `.series`.
        case sliceArrived(CTSlice, studyInstanceUID: String, seriesInstanceUID: String)
        case skipped(SkippedFile)
        case quarantined(QuarantineRecord)
    }

    public let folder: String
    public let configuration: IntakeConfiguration
    private let lock = NSLock()
    private var stopRequested = false
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)
    /// Header reads per path (tests check that a slowly written file is read once).
    private(set) var readCounts: [String: Int] = [:]
    /// Series (study/series key) whose delivery the receiver could not take, to deliver again.
    private var redeliveries: [String] = []

    public init(folder: String, configuration: IntakeConfiguration = .init()) {
        self.folder = folder
        self.configuration = configuration
    }

    /// Starts watching. Throws if the folder does not exist.
    public func start(handler: @escaping @Sendable (Event) -> Void) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw IntakeError(.io, "drop folder does not exist", path: folder)
        }
        let t = Thread { [self] in
            var loop = WatchLoop(watcher: self, handler: handler)
            loop.run()
            finished.signal()
        }
        t.name = "intake-watcher"
        thread = t
        t.start()
    }

    /// Stops the thread and waits for it.
    public func stop() {
        lock.lock()
        let wasRunning = thread != nil && !stopRequested
        stopRequested = true
        lock.unlock()
        if wasRunning { finished.wait() }
    }

    /// The events as an async sequence; cancelling the consumer stops the watcher.
    public func events() throws -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream<Event>.makeStream()
        try start { continuation.yield($0) }
        continuation.onTermination = { [self] _ in stop() }
        return stream
    }

    /// Delivers `series` again, whole, one quiet period from now: its receiver could not take it
    /// (the job store on a full disk), and its files are still in the folder. Without this the
    /// series would wait for a restart of the watcher. Safe to call from the handler.
    public func deliverAgain(_ series: CTSeries) {
        lock.lock(); redeliveries.append("\(series.studyInstanceUID)/\(series.seriesInstanceUID)"); lock.unlock()
    }

    func takeRedeliveries() -> [String] {
        lock.lock(); defer { redeliveries = []; lock.unlock() }
        return redeliveries
    }

    var shouldStop: Bool {
        lock.lock(); defer { lock.unlock() }
        return stopRequested
    }

    func countRead(_ path: String) {
        lock.lock(); readCounts[path, default: 0] += 1; lock.unlock()
    }

    func reads(of path: String) -> Int {
        lock.lock(); defer { lock.unlock() }
        return readCounts[path] ?? 0
    }
}

/// The watcher thread's state; touched only by that thread.
private struct WatchLoop {
    let watcher: DropFolderWatcher
    let handler: @Sendable (DropFolderWatcher.Event) -> Void
    let processor: FileProcessor
    var config: IntakeConfiguration { watcher.configuration }

    struct FileState {
        var file: FoundFile
        var unchangedSince: Date
        var processed = false
        /// Set when a read failed before the file was stable by time: retry once it is.
        var needsTimeStability = false
    }

    struct PendingSeries {
        var headers: [SliceHeader] = []
        var delivered = Set<String>()   // SOP instances already delivered
        var deliveredHeaders: [SliceHeader] = []
        var lastDelivery: Date?
    }

    var files: [String: FileState] = [:]
    /// Paths reported closed after writing, with the stat seen when the event was handled.
    var closedAfterWrite: [String: FoundFile] = [:]
    var series: [String: PendingSeries] = [:]
    var lastActivity = Date()
    var lastRescan = Date.distantPast
    var inotifyFD: Int32 = -1
    var watches: [Int32: String] = [:]
    var watchedDirs = Set<String>()

    init(watcher: DropFolderWatcher, handler: @escaping @Sendable (DropFolderWatcher.Event) -> Void) {
        self.watcher = watcher
        self.handler = handler
        self.processor = FileProcessor(configuration: watcher.configuration)
    }

    mutating func run() {
        inotifyFD = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        defer { if inotifyFD >= 0 { close(inotifyFD) } }
        var needRescan = true
        while !watcher.shouldStop {
            if inotifyFD >= 0 {
                var pfd = pollfd(fd: inotifyFD, events: Int16(POLLIN), revents: 0)
                if poll(&pfd, 1, 250) > 0 { needRescan = drainInotify() || needRescan }
            } else {
                usleep(250_000)
            }
            let now = Date()
            let unstable = files.values.contains { !$0.processed }
            let sinceRescan = now.timeIntervalSince(lastRescan)
            // Events come in bursts while files are copied: walk the folder at most 4 times a second.
            if ((needRescan || unstable) && sinceRescan >= 0.25) || sinceRescan >= config.rescanSeconds {
                rescan(now: now)
                needRescan = false
            }
            let again = watcher.takeRedeliveries()
            if !again.isEmpty { undeliver(again, now: now) }
            deliverQuietSeries(now: Date())
        }
    }

    /// Reads pending inotify events; true if anything happened.
    mutating func drainInotify() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var any = false
        while true {
            let n = buffer.withUnsafeMutableBytes { read(inotifyFD, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            any = true
            var offset = 0
            while offset + 16 <= n {
                let (wd, mask, len) = buffer.withUnsafeBytes { raw -> (Int32, UInt32, Int) in
                    (raw.loadUnaligned(fromByteOffset: offset, as: Int32.self),
                     raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self),
                     Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self)))
                }
                let nameBytes = buffer[(offset + 16)..<min(n, offset + 16 + len)].prefix { $0 != 0 }
                let name = String(decoding: nameBytes, as: UTF8.self)
                offset += 16 + len
                if mask & UInt32(IN_IGNORED) != 0 {
                    if let dir = watches.removeValue(forKey: wd) { watchedDirs.remove(dir) }
                    continue
                }
                if mask & UInt32(IN_CLOSE_WRITE) != 0, let dir = watches[wd], !name.isEmpty {
                    let path = dir + "/" + name
                    var st = stat()
                    if stat(path, &st) == 0 {
                        closedAfterWrite[path] = FoundFile(
                            path: path, size: Int64(st.st_size),
                            mtimeNanoseconds: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                            inode: UInt64(st.st_ino))
                    }
                }
            }
        }
        return any
    }

    mutating func rescan(now: Date) {
        lastRescan = now
        let listing = FolderWalk.list(watcher.folder, excluding: config.quarantineFolder?.path)
        if inotifyFD >= 0 {
            let mask = UInt32(IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_MODIFY | IN_DELETE | IN_ONLYDIR)
            for dir in listing.directories where !watchedDirs.contains(dir) {
                let wd = inotify_add_watch(inotifyFD, dir, mask)
                if wd >= 0 { watches[wd] = dir; watchedDirs.insert(dir) }
            }
        }
        var present = Set<String>()
        for f in listing.files {
            present.insert(f.path)
            if var state = files[f.path] {
                if state.file != f {
                    // Changed (still being written, or replaced): start over.
                    state = FileState(file: f, unchangedSince: now)
                    lastActivity = now
                }
                files[f.path] = state
            } else {
                files[f.path] = FileState(file: f, unchangedSince: now)
                lastActivity = now
            }
        }
        for path in files.keys where !present.contains(path) { files.removeValue(forKey: path) }
        for path in closedAfterWrite.keys where !present.contains(path) { closedAfterWrite.removeValue(forKey: path) }

        for path in files.keys.sorted() {
            guard var state = files[path], !state.processed else { continue }
            let stableByTime = now.timeIntervalSince(state.unchangedSince) >= config.stabilitySeconds
            let closed = closedAfterWrite[path] == state.file && !state.needsTimeStability
            guard stableByTime || closed else { continue }
            watcher.countRead(path)
            switch processor.read(path) {
            case .success(let h):
                handle(processor.classify(h), now: now)
                state.processed = true
            case .failure(let e):
                if !stableByTime && (e.code == .truncated || e.code == .notDICOM) {
                    // Closed, but perhaps by a writer that reopens to append: wait for quiet.
                    state.needsTimeStability = true
                } else {
                    handle(processor.fail(path, e), now: now)
                    state.processed = true
                }
            }
            closedAfterWrite.removeValue(forKey: path)
            files[path] = state
        }
    }

    mutating func handle(_ outcome: FileProcessor.Outcome, now: Date) {
        switch outcome {
        case .kept(let h):
            let key = "\(h.studyInstanceUID)/\(h.seriesInstanceUID)"
            var s = series[key] ?? PendingSeries()
            if s.delivered.contains(h.sopInstanceUID) {
                handler(.skipped(SkippedFile(path: h.path, reason: "duplicate of an instance already delivered", isError: false)))
            } else {
                s.headers.append(h)
                lastActivity = now
                if h.imagePosition != nil, h.imageOrientation != nil {
                    handler(.sliceArrived(SeriesAssembly.makeSlice(h), studyInstanceUID: h.studyInstanceUID,
                                          seriesInstanceUID: h.seriesInstanceUID))
                }
            }
            series[key] = s
        case .skipped(let k):
            handler(.skipped(k))
        case .failed(let k, let record):
            handler(.skipped(k))
            if let record { handler(.quarantined(record)) }
        }
    }

    /// Turns delivered series back into pending ones; they go out again after a quiet period
    /// (which also spaces the retries while the receiver cannot take them).
    mutating func undeliver(_ keys: [String], now: Date) {
        for key in keys {
            guard var s = series[key] else { continue }
            s.headers = s.deliveredHeaders + s.headers
            s.deliveredHeaders = []
            s.delivered = []
            series[key] = s
        }
        lastActivity = now
    }

    mutating func deliverQuietSeries(now: Date) {
        guard now.timeIntervalSince(lastActivity) >= config.seriesQuietSeconds else { return }
        for key in series.keys.sorted() {
            guard var s = series[key], !s.headers.isEmpty else { continue }
            let late = !s.deliveredHeaders.isEmpty
            let all = s.deliveredHeaders + s.headers
            for var out in SeriesAssembly.assembleOne(all, configuration: config) {
                if late { out.warnings.append("late slices: series delivered again with \(s.headers.count) more file(s)") }
                handler(.series(out))
            }
            s.deliveredHeaders = all
            s.delivered.formUnion(s.headers.map(\.sopInstanceUID))
            s.headers = []
            s.lastDelivery = now
            series[key] = s
        }
        // Forget delivered series after an hour so a long-running service does not grow.
        series = series.filter { _, s in !s.headers.isEmpty || (s.lastDelivery.map { now.timeIntervalSince($0) < 3600 } ?? true) }
    }
}
