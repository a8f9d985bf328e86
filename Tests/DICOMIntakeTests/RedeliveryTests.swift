import XCTest
@testable import DICOMIntake

/// A series its receiver could not take (the job store on a full disk) is delivered again without
/// a restart. The soak's full-disk phase found it waiting for one.
final class RedeliveryTests: XCTestCase {
    final class Deliveries: @unchecked Sendable {
        private let lock = NSLock()
        private var _series: [CTSeries] = []
        var series: [CTSeries] { lock.lock(); defer { lock.unlock() }; return _series }
        /// Records a delivery; returns how many there were before it.
        func add(_ s: CTSeries) -> Int { lock.lock(); defer { lock.unlock() }; _series.append(s); return _series.count - 1 }
    }

    func testSeriesTheReceiverRefusedIsDeliveredAgainWhole() throws {
        try TestSupport.requireData()
        var config = IntakeConfiguration()
        config.stabilitySeconds = 1.5
        config.seriesQuietSeconds = 2
        config.rescanSeconds = 1
        let drop = try TestSupport.temporaryFolder(self, "drop")
        let watcher = DropFolderWatcher(folder: drop.path, configuration: config)
        let deliveries = Deliveries()
        try watcher.start { [watcher] event in
            guard case .series(let s) = event else { return }
            // The first two deliveries are refused, as a full disk would.
            if deliveries.add(s) < 2 { watcher.deliverAgain(s) }
        }
        addTeardownBlock { watcher.stop() }
        try TestSupport.copyTree(TestSupport.geExam, to: drop.appendingPathComponent("exam"))
        let deadline = Date().addingTimeInterval(60)
        while deliveries.series.count < 3 && Date() < deadline { usleep(100_000) }
        Thread.sleep(forTimeInterval: 3)  // longer than the quiet period: a fourth delivery would show
        let all = deliveries.series
        XCTAssertEqual(all.count, 3, "refused twice, then taken: three deliveries and no more")
        XCTAssertEqual(Set(all.map(\.seriesInstanceUID)).count, 1)
        XCTAssertEqual(all.map(\.slices.count), [28, 28, 28], "each delivery is the whole series")
        XCTAssertTrue(all.allSatisfy { $0.warnings.allSatisfy { !$0.contains("late slices") } })
    }
}
