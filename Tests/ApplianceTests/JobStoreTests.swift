import Foundation
import Indicators
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

    func testARealResultReplacesANotAnalysableAlertButNothingElse() throws {
        let store = try JobStore(path: path)
        _ = try store.enqueue(series, fingerprint: "part")
        let first = try XCTUnwrap(try store.claimNextJob())
        XCTAssertTrue(try store.complete(jobID: first.id, tier: "NOT_ANALYSABLE", record: Data("{}".utf8)))
        // The stick comes back with the whole series.
        XCTAssertEqual(try store.enqueue(series, fingerprint: "whole"), .changedAfterAlert(jobID: first.id))
        let second = try XCTUnwrap(try store.claimNextJob())
        XCTAssertTrue(try store.complete(jobID: second.id, tier: "CRITICAL", record: Data("{}".utf8)), "raised: the screen must show it")
        XCTAssertEqual(try store.alerts().map(\.tier), ["CRITICAL"])
        // A real result stays: the same series again neither replaces nor duplicates it.
        _ = try store.enqueue(series, fingerprint: "again")
        let third = try XCTUnwrap(try store.claimNextJob())
        XCTAssertFalse(try store.complete(jobID: third.id, tier: "NEGATIVE", record: Data("{}".utf8)))
        XCTAssertEqual(try store.alerts().map(\.tier), ["CRITICAL"])
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

    func testJobThatKeepsFailingIsGivenUpButOutsideKillsAreRedoneForever() throws {
        let store = try JobStore(path: path, maximumFailures: 2)
        guard case .queued(let id) = try store.enqueue(series, fingerprint: "a") else { return XCTFail("not queued") }
        // Kills from outside and power cuts leave the job running: it is handed out again, however often.
        for attempt in 1...6 {
            let job = try XCTUnwrap(try store.claimNextJob())
            XCTAssertEqual(job.state, .running)
            XCTAssertEqual(job.attempts, attempt)
        }
        // A crash on the series (systemd's record of the previous run) and an analysis error count.
        XCTAssertEqual(try store.recordCrashOfRunningJobs(reason: "core-dump (dumped SEGV)"), [id])
        XCTAssertEqual(try store.job(id: id)?.failures, 1)
        XCTAssertEqual(try store.claimNextJob()?.state, .running)
        try store.recordFailure(jobID: id, reason: "decode error")
        let given = try XCTUnwrap(try store.claimNextJob())
        XCTAssertEqual(given.state, .failed)
        XCTAssertEqual(given.failures, 2)
        XCTAssertTrue(try store.complete(jobID: given.id, tier: "NOT_ANALYSABLE", record: Data("{}".utf8)))
        XCTAssertEqual(try store.pendingJobCount(), 0)
    }

    func testExitRecordTellsCrashesFromKillsAndChargesTheRunningJobAtStart() throws {
        let crash = ExitRecord(environment: ["SERVICE_RESULT": "core-dump", "EXIT_CODE": "dumped", "EXIT_STATUS": "SEGV"])
        XCTAssertEqual(crash?.isCrash, true)
        XCTAssertEqual(ExitRecord(environment: ["SERVICE_RESULT": "watchdog", "EXIT_CODE": "killed", "EXIT_STATUS": "ABRT"])?.isCrash, true)
        XCTAssertEqual(ExitRecord(environment: ["SERVICE_RESULT": "oom-kill", "EXIT_CODE": "killed", "EXIT_STATUS": "KILL"])?.isCrash, true)
        XCTAssertEqual(ExitRecord(environment: ["SERVICE_RESULT": "signal", "EXIT_CODE": "killed", "EXIT_STATUS": "KILL"])?.isCrash, false)
        XCTAssertEqual(ExitRecord(environment: ["SERVICE_RESULT": "success", "EXIT_CODE": "exited", "EXIT_STATUS": "0"])?.isCrash, false)
        XCTAssertNil(ExitRecord(environment: [:]), "outside systemd there is nothing to record")

        var configuration = ApplianceConfiguration()
        configuration.stateDirectory = directory.appendingPathComponent("state").path
        configuration.quarantineDirectory = directory.appendingPathComponent("quarantine").path
        configuration.outboxDirectory = directory.appendingPathComponent("outbox").path
        configuration.dropFolders = [directory.path]
        // Run 1 dies by SIGKILL from outside while analysing: not charged.
        let first = try ApplianceRuntime(configuration: configuration, notifier: SystemdNotifier(environment: [:]))
        guard case .queued(let id) = try first.store.enqueue(series, fingerprint: "a") else { return XCTFail("not queued") }
        _ = try first.store.claimNextJob()
        try XCTUnwrap(ExitRecord(environment: ["SERVICE_RESULT": "signal", "EXIT_CODE": "killed", "EXIT_STATUS": "KILL"]))
            .write(stateDirectory: configuration.stateDirectory)
        let second = try ApplianceRuntime(configuration: configuration, notifier: SystemdNotifier(environment: [:]))
        XCTAssertEqual(second.previousExit?.exitStatus, "KILL")
        XCTAssertEqual(second.jobsChargedWithCrash, [])
        XCTAssertEqual(try second.store.job(id: id)?.failures, 0)
        // Run 2 crashes (SEGV) on it: charged one failure, queued again.
        _ = try second.store.claimNextJob()
        try XCTUnwrap(crash).write(stateDirectory: configuration.stateDirectory)
        let third = try ApplianceRuntime(configuration: configuration, notifier: SystemdNotifier(environment: [:]))
        XCTAssertEqual(third.jobsChargedWithCrash, [id])
        XCTAssertEqual(try third.store.job(id: id)?.failures, 1)
        XCTAssertEqual(try third.store.job(id: id)?.state, .queued)
        XCTAssertNil(ExitRecord.take(stateDirectory: configuration.stateDirectory), "a record is read once")
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

    func testCLIAcknowledgesTheNewestCriticalAlertOnceAndCounts() throws {
        let store = try JobStore(path: path)
        let start = Date(timeIntervalSinceNow: -60)
        for (index, tier) in ["CRITICAL", "CRITICAL", "NEGATIVE"].enumerated() {
            let key = SeriesKey(studyInstanceUID: "1", seriesInstanceUID: "1.\(index)")
            _ = try store.enqueue(key, fingerprint: "f")
            let job = try XCTUnwrap(try store.claimNextJob())
            try store.complete(jobID: job.id, tier: tier, record: Data(), at: start.addingTimeInterval(Double(index)))
        }
        let first = try store.acknowledgeCritical(source: "cli")
        XCTAssertEqual(first.alert?.series.seriesInstanceUID, "1.1", "the newest CRITICAL one")
        XCTAssertEqual(first.remaining, 1)
        XCTAssertThrowsError(try store.acknowledgeCritical(seriesInstanceUID: "1.2", source: "cli"), "NEGATIVE is not acknowledged")
        XCTAssertThrowsError(try store.acknowledgeCritical(seriesInstanceUID: "1.1", source: "cli"), "already acknowledged")
        let second = try store.acknowledgeCritical(seriesInstanceUID: "1.0", source: "cli")
        XCTAssertEqual(second.alert?.acknowledgedBy, "cli")
        XCTAssertEqual(second.remaining, 0)
        let none = try store.acknowledgeCritical(source: "cli")
        XCTAssertNil(none.alert)
        XCTAssertEqual(try store.acknowledgementCount(), 2, "nothing recorded when there was nothing to acknowledge")
    }

    /// Acknowledgements older `ichtriage ack` versions appended to acknowledgements.jsonl move into
    /// the store once, keeping time and source; the file is renamed, not lost.
    func testLegacyJSONLinesAcknowledgementsAreImportedOnce() throws {
        let store = try JobStore(path: path)
        for uid in ["1.0", "1.1"] {
            _ = try store.enqueue(SeriesKey(studyInstanceUID: "1", seriesInstanceUID: uid), fingerprint: "f")
            let job = try XCTUnwrap(try store.claimNextJob())
            try store.complete(jobID: job.id, tier: "CRITICAL", record: Data())
        }
        let when = Date(timeIntervalSince1970: 1_790_000_000)
        let legacy = JSONLinesAcknowledgementStore(stateDirectory: directory)
        try legacy.append(Acknowledgement(seriesInstanceUID: "1.0", time: when, source: "old-cli"))
        try legacy.append(Acknowledgement(seriesInstanceUID: "9.9", time: when, source: "old-cli"))  // no such alert
        XCTAssertEqual(try LegacyAcknowledgements.importIfPresent(stateDirectory: directory, into: store), 1)
        let imported = try XCTUnwrap(try store.alerts().first { $0.series.seriesInstanceUID == "1.0" })
        XCTAssertEqual(imported.acknowledgedBy, "old-cli")
        XCTAssertEqual(imported.acknowledgedAt?.timeIntervalSince1970 ?? 0, when.timeIntervalSince1970, accuracy: 0.01)
        XCTAssertNil(try store.alerts().first { $0.series.seriesInstanceUID == "1.1" }?.acknowledgedAt)
        XCTAssertFalse(FileManager.default.fileExists(atPath: legacy.file.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: legacy.file.path + ".imported"))
        XCTAssertEqual(try LegacyAcknowledgements.importIfPresent(stateDirectory: directory, into: store), 0, "imported once")
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
