import XCTest
@testable import DICOMIntake

/// The drop-folder watcher and the C-STORE receiver, driven as the service will drive them.
final class WatcherTests: XCTestCase {
    /// Collects watcher events from its thread.
    final class Events: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [DropFolderWatcher.Event] = []
        func add(_ e: DropFolderWatcher.Event) { lock.lock(); items.append(e); lock.unlock() }
        var series: [CTSeries] {
            lock.lock(); defer { lock.unlock() }
            return items.compactMap { if case .series(let s) = $0 { return s } else { return nil } }
        }
        /// Slices reported before their series was complete, with the index of the event.
        var arrivals: [(index: Int, slice: CTSlice, series: String)] {
            lock.lock(); defer { lock.unlock() }
            return items.enumerated().compactMap {
                if case .sliceArrived(let slice, _, let series) = $1 { return ($0, slice, series) } else { return nil }
            }
        }
        var firstSeriesIndex: Int? {
            lock.lock(); defer { lock.unlock() }
            return items.firstIndex { if case .series = $0 { return true } else { return false } }
        }
        var skipped: [SkippedFile] {
            lock.lock(); defer { lock.unlock() }
            return items.compactMap { if case .skipped(let s) = $0 { return s } else { return nil } }
        }
    }

    static func fastConfig() -> IntakeConfiguration {
        var c = IntakeConfiguration()
        c.stabilitySeconds = 1.5
        c.seriesQuietSeconds = 2
        c.rescanSeconds = 1
        return c
    }

    func startWatcher(_ folder: URL, _ config: IntakeConfiguration = fastConfig()) throws -> (DropFolderWatcher, Events) {
        let events = Events()
        let watcher = DropFolderWatcher(folder: folder.path, configuration: config)
        try watcher.start { events.add($0) }
        addTeardownBlock { watcher.stop() }
        return (watcher, events)
    }

    func waitFor(_ what: String, timeout: TimeInterval = 60, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() && Date() < deadline { usleep(100_000) }
        XCTAssertTrue(condition(), "timed out waiting for \(what)")
    }

    func testFileWrittenSlowlyInPiecesIsReadOnceComplete() throws {
        try TestSupport.requireData()
        let drop = try TestSupport.temporaryFolder(self, "drop")
        let (watcher, events) = try startWatcher(drop)
        let slices = try TestSupport.geSlices()
        for url in slices[0..<3] { try TestSupport.copy(url, to: drop.appendingPathComponent(url.lastPathComponent)) }
        // The fourth slice arrives in 8 pieces, 0.6 s apart (about 4.8 s, longer than the 1.5 s
        // stability time would be if the writes were not seen).
        let source = slices[3]
        let data = try Data(contentsOf: source)
        let slow = drop.appendingPathComponent("slow-no-extension")
        XCTAssertTrue(FileManager.default.createFile(atPath: slow.path, contents: nil))
        let handle = try FileHandle(forWritingTo: slow)
        let piece = (data.count + 7) / 8
        for start in stride(from: 0, to: data.count, by: piece) {
            try handle.write(contentsOf: data[start..<min(data.count, start + piece)])
            try handle.synchronize()
            Thread.sleep(forTimeInterval: 0.6)
        }
        try handle.close()
        waitFor("the series") { !events.series.isEmpty }
        Thread.sleep(forTimeInterval: 1)
        XCTAssertEqual(events.series.count, 1)
        let s = try XCTUnwrap(events.series.first)
        XCTAssertEqual(s.slices.count, 4)
        XCTAssertTrue(events.skipped.isEmpty, "\(events.skipped)")
        XCTAssertEqual(watcher.reads(of: slow.path), 1, "the slow file must be read exactly once")
        let decoded = try HUDecoder.decode(path: slow.path)
        XCTAssertTrue(decoded.pixels == (try HUDecoder.decode(path: source.path)).pixels)
    }

    func testSeriesCopiedInRandomOrderComesOutOrdered() throws {
        try TestSupport.requireData()
        let drop = try TestSupport.temporaryFolder(self, "drop")
        let (_, events) = try startWatcher(drop)
        var slices = try TestSupport.geSlices()
        var rng = SystemRandomNumberGenerator()
        slices.shuffle(using: &rng)
        for (i, url) in slices.enumerated() {
            // Deep, extension-less names, as on a USB export.
            try TestSupport.copy(url, to: drop.appendingPathComponent("A/B/C/IM\(i)"))
            if i % 7 == 0 { Thread.sleep(forTimeInterval: 0.2) }
        }
        waitFor("the series") { !events.series.isEmpty }
        let s = try XCTUnwrap(events.series.first)
        XCTAssertEqual(s.slices.count, 28)
        let d = s.slices.map(\.positionAlongNormal)
        XCTAssertEqual(d, d.sorted())
        let reference = DICOMIntake.scan(folder: TestSupport.geExam.path).series[0]
        XCTAssertEqual(s.slices.map(\.sopInstanceUID), reference.slices.map(\.sopInstanceUID))
        // Each slice was announced once, before the series, with what the series then holds
        // (incremental inference starts from these).
        let arrivals = events.arrivals
        XCTAssertEqual(arrivals.count, 28)
        XCTAssertEqual(Set(arrivals.map(\.slice.sopInstanceUID)), Set(reference.slices.map(\.sopInstanceUID)))
        XCTAssertTrue(arrivals.allSatisfy { $0.series == s.seriesInstanceUID })
        XCTAssertLessThan(arrivals.map(\.index).max() ?? .max, events.firstSeriesIndex ?? -1)
        for a in arrivals {
            let inSeries = try XCTUnwrap(s.slices.first { $0.sopInstanceUID == a.slice.sopInstanceUID })
            XCTAssertEqual(a.slice.imagePosition, inSeries.imagePosition)
            XCTAssertEqual(a.slice.positionAlongNormal, inSeries.positionAlongNormal, accuracy: 1e-9)
        }
    }

    func testSameSeriesDroppedTwiceYieldsOneSeries() throws {
        try TestSupport.requireData()
        // scan: both copies present at once.
        let both = try TestSupport.temporaryFolder(self, "both")
        try TestSupport.copyTree(TestSupport.geExam, to: both.appendingPathComponent("first"))
        try TestSupport.copyTree(TestSupport.geExam, to: both.appendingPathComponent("second copy"))
        let scanned = DICOMIntake.scan(folder: both.path)
        XCTAssertEqual(scanned.series.count, 1)
        XCTAssertEqual(scanned.series.first?.slices.count, 28)
        XCTAssertEqual(scanned.series.first?.duplicatesDropped, 28)

        // watcher: the second copy arrives after the series was delivered.
        let drop = try TestSupport.temporaryFolder(self, "drop")
        let (_, events) = try startWatcher(drop)
        try TestSupport.copyTree(TestSupport.geExam, to: drop.appendingPathComponent("first"))
        waitFor("the series") { !events.series.isEmpty }
        try TestSupport.copyTree(TestSupport.geExam, to: drop.appendingPathComponent("again"))
        waitFor("the duplicates") { events.skipped.count >= 28 }
        Thread.sleep(forTimeInterval: 3)  // longer than the quiet period: a second delivery would show
        XCTAssertEqual(events.series.count, 1)
        XCTAssertEqual(events.series.first?.slices.count, 28)
        XCTAssertEqual(events.skipped.count, 28)
        XCTAssertTrue(events.skipped.allSatisfy { $0.reason.contains("duplicate") && $0.path.contains("/again/") })
    }

    func testIgnoredNamesAndSymlinksOutsideTheFolder() throws {
        try TestSupport.requireData()
        let root = try TestSupport.temporaryFolder(self)
        let drop = root.appendingPathComponent("drop")
        let outside = root.appendingPathComponent("outside")
        let slices = try TestSupport.geSlices()
        for url in slices[0..<4] { try TestSupport.copy(url, to: drop.appendingPathComponent("exam/" + url.lastPathComponent)) }
        for url in slices[4..<8] { try TestSupport.copy(url, to: outside.appendingPathComponent(url.lastPathComponent)) }
        // Sidecars and indexes that must not even be looked at.
        for name in ["._01.dcm", ".DS_Store", "DICOMDIR", "exam/DIRFILE", ".hidden.dcm",
                     "System Volume Information/IndexerVolumeGuid"] {
            try TestSupport.copy(slices[9], to: drop.appendingPathComponent(name))
        }
        let fm = FileManager.default
        // A link out of the drop folder is not followed; one inside it is.
        try fm.createSymbolicLink(at: drop.appendingPathComponent("escape"), withDestinationURL: outside)
        try fm.createSymbolicLink(at: drop.appendingPathComponent("inside-link"),
                                  withDestinationURL: drop.appendingPathComponent("exam/" + slices[0].lastPathComponent))
        let result = DICOMIntake.scan(folder: drop.path)
        XCTAssertEqual(result.series.count, 1)
        XCTAssertEqual(result.series.first?.slices.count, 4, "\(result.series.first?.slices.map(\.path) ?? [])")
        XCTAssertEqual(result.series.first?.duplicatesDropped, 1)
        XCTAssertTrue(result.skipped.isEmpty, "\(result.skipped)")
    }

    func testSeriesPushedWithStorescuArrivesThroughTheCStoreReceiver() throws {
        try TestSupport.requireData()
        guard TestSupport.tool("storescu") != nil else { throw XCTSkip("storescu not installed (dcmtk)") }
        let drop = try TestSupport.temporaryFolder(self, "drop")
        let port = try TestSupport.freePort()
        var rc = ReceiverConfiguration(directory: drop)
        rc.aeTitle = "ICHTEST"
        rc.port = port
        let receiver = try StorageReceiver(configuration: rc)
        receiver.start()
        defer { receiver.stop() }
        let (_, events) = try startWatcher(drop)
        let files = try TestSupport.geSlices().map(\.path)
        try TestSupport.run("storescu", ["-aec", "ICHTEST", "-aet", "SCANNER", "127.0.0.1", "\(port)"] + files)
        XCTAssertEqual(receiver.storedCount, 28)
        waitFor("the series") { !events.series.isEmpty }
        let s = try XCTUnwrap(events.series.first)
        XCTAssertEqual(s.slices.count, 28)
        let names = try FileManager.default.contentsOfDirectory(atPath: drop.path)
        XCTAssertEqual(names.filter { $0.hasSuffix(".dcm") }.count, 28)
        XCTAssertFalse(names.contains { $0.hasSuffix(".part") }, "temporary files left: \(names)")
        // Received bit-preserving: the pixels are the sender's.
        let first = try XCTUnwrap(s.slices.first)
        let reference = DICOMIntake.scan(folder: TestSupport.geExam.path).series[0].slices[0]
        XCTAssertEqual(first.sopInstanceUID, reference.sopInstanceUID)
        XCTAssertTrue((try HUDecoder.decode(path: first.path)).pixels == (try HUDecoder.decode(path: reference.path)).pixels)
        receiver.stop()
        // A second receiver on a port in use fails with a clear error.
        let busy = try StorageReceiver(configuration: rc)
        XCTAssertThrowsError(try StorageReceiver(configuration: rc)) { error in
            XCTAssertEqual((error as? IntakeError)?.code, .network, "\(error)")
        }
        _ = busy
    }
}
