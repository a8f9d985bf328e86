import Foundation
import XCTest
@testable import Appliance

final class JobStoreTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("jobstore-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

    private var path: String { directory.appendingPathComponent("state.sqlite").path }
    private let series = SeriesKey(studyInstanceUID: "1.2.3", seriesInstanceUID: "1.2.3.4")

    func testDuplicateDropIsOneJob() throws {
        let store = try JobStore(path: path)
        guard case .queued(let id) = try store.enqueue(series, fingerprint: "a") else { return XCTFail("not queued") }
        XCTAssertEqual(try store.enqueue(series, fingerprint: "a"), .duplicate(jobID: id))
        XCTAssertEqual(try store.enqueue(series, fingerprint: "b"), .updated(jobID: id))
        XCTAssertEqual(try store.jobs().count, 1)
    }

    func testAlertIsRaisedExactlyOnce() throws {
        let store = try JobStore(path: path)
        _ = try store.enqueue(series, fingerprint: "a")
        let job = try XCTUnwrap(try store.claimNextJob())
        XCTAssertTrue(try store.complete(jobID: job.id, tier: "CRITICAL", record: Data("{}".utf8)))
        XCTAssertNil(try store.claimNextJob())
        // The series comes again with more slices: analysed again, but no second alert.
        XCTAssertEqual(try store.enqueue(series, fingerprint: "b"), .changedAfterAlert(jobID: job.id))
        let again = try XCTUnwrap(try store.claimNextJob())
        XCTAssertFalse(try store.complete(jobID: again.id, tier: "CRITICAL", record: Data("{}".utf8)))
        XCTAssertEqual(try store.alerts().count, 1)
    }

    func testInterruptedJobIsHandedOutAgainAfterRestart() throws {
        do {
            let store = try JobStore(path: path)
            _ = try store.enqueue(series, fingerprint: "a")
            XCTAssertEqual(try store.claimNextJob()?.state, .running)
            // The process dies here, with the job running.
        }
        let reopened = try JobStore(path: path)
        let job = try XCTUnwrap(try reopened.claimNextJob())
        XCTAssertEqual(job.series, series)
        XCTAssertEqual(job.attempts, 2)
    }

    func testJobThatKeepsCrashingIsGivenUp() throws {
        let store = try JobStore(path: path, maximumAttempts: 2)
        _ = try store.enqueue(series, fingerprint: "a")
        XCTAssertEqual(try store.claimNextJob()?.attempts, 1)
        XCTAssertEqual(try store.claimNextJob()?.attempts, 2)
        let given = try XCTUnwrap(try store.claimNextJob())
        XCTAssertEqual(given.state, .failed)
        XCTAssertTrue(try store.complete(jobID: given.id, tier: "NOT_ANALYSABLE", record: Data("{}".utf8)))
        XCTAssertEqual(try store.pendingJobCount(), 0)
    }

    func testAcknowledgementsAreRecorded() throws {
        let store = try JobStore(path: path)
        _ = try store.enqueue(series, fingerprint: "a")
        let job = try XCTUnwrap(try store.claimNextJob())
        try store.complete(jobID: job.id, tier: "CRITICAL", record: Data("{}".utf8))
        let acknowledged = try XCTUnwrap(try store.acknowledge(source: "button"))
        XCTAssertEqual(acknowledged.acknowledgedBy, "button")
        XCTAssertNil(try store.acknowledge(source: "cli"), "nothing left to acknowledge")
        XCTAssertEqual(try store.acknowledgementCount(), 2, "every press is recorded, even with nothing to acknowledge")
        XCTAssertNotNil(try store.alerts().first?.acknowledgedAt)
    }

    func testPruneKeepsUnacknowledgedCriticalAlerts() throws {
        let store = try JobStore(path: path)
        let old = Date(timeIntervalSinceNow: -40 * 86_400)
        for (index, tier) in ["CRITICAL", "NEGATIVE"].enumerated() {
            let key = SeriesKey(studyInstanceUID: "1", seriesInstanceUID: "1.\(index)")
            _ = try store.enqueue(key, fingerprint: "f", at: old)
            let job = try XCTUnwrap(try store.claimNextJob(at: old))
            try store.complete(jobID: job.id, tier: tier, record: Data(), at: old)
        }
        XCTAssertEqual(try store.prune(before: Date(timeIntervalSinceNow: -30 * 86_400)), 1)
        XCTAssertEqual(try store.alerts().map(\.tier), ["CRITICAL"])
    }

    func testDatabaseUsesWAL() throws {
        let store = try JobStore(path: path)
        _ = try store.enqueue(series, fingerprint: "a")
        XCTAssertEqual(try store.journalMode(), "wal")
        XCTAssertTrue(FileManager.default.fileExists(atPath: path + "-wal"))
    }
}
