import Foundation
import GRDB

/// Which series a job is about. A series is identified by its study and series UIDs.
public struct SeriesKey: Hashable, Sendable, Codable, CustomStringConvertible {
    public var studyInstanceUID: String
    public var seriesInstanceUID: String
    public init(studyInstanceUID: String, seriesInstanceUID: String) {
        self.studyInstanceUID = studyInstanceUID
        self.seriesInstanceUID = seriesInstanceUID
    }
    public var description: String { seriesInstanceUID }
}

public enum JobState: String, Sendable, Codable {
    case queued, running, done, failed
}

public struct Job: Sendable, Equatable {
    public var id: Int64
    public var series: SeriesKey
    /// Identifies the exact set of slices (e.g. a hash of the sorted SOPInstanceUIDs).
    public var fingerprint: String
    public var state: JobState
    /// How often the job was handed out (an interruption of any kind means another attempt).
    public var attempts: Int
    /// How many attempts ended in a failure of the analysis itself: an error, or the service
    /// crashing while it ran (not a power cut or a kill from outside). See `maximumFailures`.
    public var failures: Int
    public var enqueuedAt: Date
    /// What the analysis needs to redo the job after a restart (the series' file paths).
    public var payload: Data
}

public struct AlertRow: Sendable, Equatable {
    public var id: Int64
    public var series: SeriesKey
    public var tier: String
    /// The alert record as JSON (the triage pipeline's AlertRecord).
    public var record: Data
    public var raisedAt: Date
    public var acknowledgedAt: Date?
    public var acknowledgedBy: String?
}

public enum EnqueueOutcome: Sendable, Equatable {
    /// A new job was queued.
    case queued(jobID: Int64)
    /// The same slices were seen before (a duplicate drop); nothing new to do.
    case duplicate(jobID: Int64)
    /// The series gained or lost slices before its job finished: the job starts over.
    case updated(jobID: Int64)
    /// The series changed after its alert was raised; kept as a new job so nothing is lost,
    /// but it never raises a second alert for the same series.
    case changedAfterAlert(jobID: Int64)
}

/// Durable state of the appliance in SQLite (WAL): jobs, alerts, acknowledgements.
///
/// The guarantees the service builds on:
/// - a job interrupted at any point (crash, kill -9, power cut) is found `running` at the next
///   start and handed out again, so no series is lost; a power cut or kill from outside can
///   interrupt it any number of times, it is simply redone;
/// - a series whose analysis fails (an error, or the service crashing on it) `maximumFailures`
///   times is given up as failed, so one bad series cannot crash-loop the appliance;
/// - an alert row is unique per series and inserted in the same transaction that finishes its
///   job, so an alert is raised exactly once however often the process dies.
public final class JobStore: Sendable {
    private let pool: DatabasePool
    /// After this many failed attempts a job is given up as failed (a series that crashes the
    /// analysis every time must not crash-loop the appliance). Interruptions from outside (power
    /// cut, SIGKILL) do not count: they say nothing about the series.
    public let maximumFailures: Int

    public init(path: String, maximumFailures: Int = 3) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        pool = try DatabasePool(path: path, configuration: configuration)
        self.maximumFailures = maximumFailures
        try Self.migrator.migrate(pool)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "job") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("studyUID", .text).notNull()
                t.column("seriesUID", .text).notNull()
                t.column("fingerprint", .text).notNull()
                t.column("state", .text).notNull()
                t.column("attempts", .integer).notNull().defaults(to: 0)
                t.column("enqueuedAt", .datetime).notNull()
                t.column("updatedAt", .datetime).notNull()
                t.column("lastError", .text)
                t.uniqueKey(["studyUID", "seriesUID"])
            }
            try db.create(table: "alert") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("studyUID", .text).notNull()
                t.column("seriesUID", .text).notNull()
                t.column("tier", .text).notNull()
                t.column("record", .blob).notNull()
                t.column("raisedAt", .datetime).notNull()
                t.column("acknowledgedAt", .datetime)
                t.column("acknowledgedBy", .text)
                t.uniqueKey(["studyUID", "seriesUID"])
            }
            try db.create(table: "acknowledgement") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("alertId", .integer).references("alert", onDelete: .setNull)
                t.column("at", .datetime).notNull()
                t.column("source", .text).notNull()
            }
        }
        migrator.registerMigration("v2: job payload") { db in
            try db.alter(table: "job") { t in t.add(column: "payload", .blob).notNull().defaults(to: Data()) }
        }
        migrator.registerMigration("v3: job failures") { db in
            // Attempts count every hand-out; failures only those the series may be to blame for.
            try db.alter(table: "job") { t in t.add(column: "failures", .integer).notNull().defaults(to: 0) }
            try db.execute(sql: "UPDATE job SET failures = attempts WHERE state = 'failed'")
        }
        return migrator
    }

    // MARK: jobs

    public func enqueue(_ series: SeriesKey, fingerprint: String, payload: Data = Data(),
                        at now: Date = Date()) throws -> EnqueueOutcome {
        try pool.write { db in
            if let row = try Row.fetchOne(
                db, sql: "SELECT id, fingerprint, state FROM job WHERE studyUID = ? AND seriesUID = ?",
                arguments: [series.studyInstanceUID, series.seriesInstanceUID]) {
                let id: Int64 = row["id"]
                if row["fingerprint"] as String == fingerprint { return .duplicate(jobID: id) }
                let state = JobState(rawValue: row["state"]) ?? .queued
                try db.execute(
                    sql: "UPDATE job SET fingerprint = ?, payload = ?, state = 'queued', attempts = 0, failures = 0, updatedAt = ?, lastError = NULL WHERE id = ?",
                    arguments: [fingerprint, payload, now, id])
                return state == .done ? .changedAfterAlert(jobID: id) : .updated(jobID: id)
            }
            try db.execute(
                sql: "INSERT INTO job (studyUID, seriesUID, fingerprint, payload, state, attempts, enqueuedAt, updatedAt) VALUES (?, ?, ?, ?, 'queued', 0, ?, ?)",
                arguments: [series.studyInstanceUID, series.seriesInstanceUID, fingerprint, payload, now, now])
            return .queued(jobID: db.lastInsertedRowID)
        }
    }

    /// Hands out the oldest unfinished job, including one left `running` by a process that died.
    /// A job that has failed `maximumFailures` times is marked failed and returned as such, so
    /// the caller can raise a NOT ANALYSABLE alert for it.
    public func claimNextJob(at now: Date = Date()) throws -> Job? {
        try pool.write { db in
            guard let row = try Row.fetchOne(
                db, sql: "SELECT * FROM job WHERE state IN ('queued', 'running') ORDER BY enqueuedAt, id LIMIT 1")
            else { return nil }
            var job = Self.job(row)
            if job.failures >= maximumFailures {
                job.state = .failed
                try db.execute(
                    sql: "UPDATE job SET state = 'failed', updatedAt = ?, lastError = COALESCE(lastError, 'failed too often') WHERE id = ?",
                    arguments: [now, job.id])
                return job
            }
            job.state = .running
            job.attempts += 1
            try db.execute(sql: "UPDATE job SET state = 'running', attempts = ?, updatedAt = ? WHERE id = ?",
                           arguments: [job.attempts, now, job.id])
            return job
        }
    }

    /// Finishes a job and raises its alert in one transaction. Returns false when the series
    /// already had an alert (it is then not raised again), unless that alert was NOT ANALYSABLE
    /// and this is a real result.
    @discardableResult
    public func complete(jobID: Int64, tier: String, record: Data, at now: Date = Date()) throws -> Bool {
        try pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM job WHERE id = ?", arguments: [jobID]) else {
                throw ApplianceError(.store, "no job \(jobID)")
            }
            let job = Self.job(row)
            try db.execute(sql: "UPDATE job SET state = 'done', updatedAt = ?, lastError = NULL WHERE id = ?",
                           arguments: [now, jobID])
            try db.execute(
                sql: "INSERT OR IGNORE INTO alert (studyUID, seriesUID, tier, record, raisedAt) VALUES (?, ?, ?, ?, ?)",
                arguments: [job.series.studyInstanceUID, job.series.seriesInstanceUID, tier, record, now])
            if db.changesCount == 1 { return true }
            // NOT ANALYSABLE is no triage result (files gone with a pulled stick, too few slices):
            // when the series comes back and is analysed, its result takes that alert's place,
            // unacknowledged, so the screen shows it. A real result is never replaced.
            guard tier != Self.notAnalysable else { return false }
            try db.execute(
                sql: "UPDATE alert SET tier = ?, record = ?, raisedAt = ?, acknowledgedAt = NULL, acknowledgedBy = NULL WHERE studyUID = ? AND seriesUID = ? AND tier = ?",
                arguments: [tier, record, now, job.series.studyInstanceUID, job.series.seriesInstanceUID, Self.notAnalysable])
            return db.changesCount == 1
        }
    }

    static let notAnalysable = "NOT_ANALYSABLE"

    /// Records why an attempt failed; the job is retried until `maximumFailures`.
    public func recordFailure(jobID: Int64, reason: String, at now: Date = Date()) throws {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE job SET state = 'queued', failures = failures + 1, updatedAt = ?, lastError = ? WHERE id = ? AND state = 'running'",
                arguments: [now, reason, jobID])
        }
    }

    /// The previous process crashed (see `ExitRecord`): the job it left `running` failed. Called
    /// at start, before any job is handed out. Returns the jobs charged.
    @discardableResult
    public func recordCrashOfRunningJobs(reason: String, at now: Date = Date()) throws -> [Int64] {
        try pool.write { db in
            let ids = try Int64.fetchAll(db, sql: "SELECT id FROM job WHERE state = 'running'")
            try db.execute(
                sql: "UPDATE job SET state = 'queued', failures = failures + 1, updatedAt = ?, lastError = ? WHERE state = 'running'",
                arguments: [now, reason])
            return ids
        }
    }

    public func job(id: Int64) throws -> Job? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM job WHERE id = ?", arguments: [id]).map(Self.job)
        }
    }

    public func jobs() throws -> [Job] {
        try pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM job ORDER BY id").map(Self.job) }
    }

    public func pendingJobCount() throws -> Int {
        try pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM job WHERE state IN ('queued', 'running')") ?? 0
        }
    }

    // MARK: alerts

    public func alerts(limit: Int = 100) throws -> [AlertRow] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM alert ORDER BY raisedAt DESC, id DESC LIMIT ?", arguments: [limit])
                .map(Self.alert)
        }
    }

    /// Acknowledges the newest unacknowledged alert of the given tiers (default: CRITICAL) and
    /// records who did it. Returns the acknowledged alert, or nil when there was none.
    @discardableResult
    public func acknowledge(source: String, tiers: [String] = ["CRITICAL"], at now: Date = Date()) throws -> AlertRow? {
        try pool.write { db in
            let placeholders = tiers.map { _ in "?" }.joined(separator: ", ")
            guard let row = try Row.fetchOne(
                db,
                sql: "SELECT * FROM alert WHERE acknowledgedAt IS NULL AND tier IN (\(placeholders)) ORDER BY raisedAt DESC, id DESC LIMIT 1",
                arguments: StatementArguments(tiers))
            else {
                try db.execute(sql: "INSERT INTO acknowledgement (alertId, at, source) VALUES (NULL, ?, ?)",
                               arguments: [now, source])
                return nil
            }
            var alert = Self.alert(row)
            try db.execute(sql: "UPDATE alert SET acknowledgedAt = ?, acknowledgedBy = ? WHERE id = ?",
                           arguments: [now, source, alert.id])
            try db.execute(sql: "INSERT INTO acknowledgement (alertId, at, source) VALUES (?, ?, ?)",
                           arguments: [alert.id, now, source])
            alert.acknowledgedAt = now
            alert.acknowledgedBy = source
            return alert
        }
    }

    /// Acknowledges one series' alert (the button, through the indicator state machine). Records
    /// nothing when that alert is already acknowledged.
    @discardableResult
    public func acknowledge(seriesInstanceUID: String, source: String, at now: Date = Date()) throws -> Bool {
        try pool.write { db in
            guard let id = try Int64.fetchOne(
                db, sql: "SELECT id FROM alert WHERE seriesUID = ? AND acknowledgedAt IS NULL", arguments: [seriesInstanceUID])
            else { return false }
            try db.execute(sql: "UPDATE alert SET acknowledgedAt = ?, acknowledgedBy = ? WHERE id = ?", arguments: [now, source, id])
            try db.execute(sql: "INSERT INTO acknowledgement (alertId, at, source) VALUES (?, ?, ?)", arguments: [id, now, source])
            return true
        }
    }

    /// What `acknowledgeCritical` did: the alert it acknowledged (nil when there was none) and how
    /// many CRITICAL alerts are still unacknowledged after it.
    public struct CriticalAcknowledgement: Sendable, Equatable {
        public var alert: AlertRow?
        public var remaining: Int
    }

    /// Acknowledges a CRITICAL alert from outside the service (`ichtriage ack`): the given series'
    /// alert, or the newest unacknowledged one (the one on top of the screen). Choosing, updating
    /// and counting happen in one write transaction, so two acknowledgers (the CLI and the button
    /// in the running service) never take the same alert and the count is exact. A series that is
    /// not an unacknowledged CRITICAL alert is an error; nothing to acknowledge is not, and then
    /// nothing is recorded.
    public func acknowledgeCritical(seriesInstanceUID: String? = nil, source: String,
                                    at now: Date = Date()) throws -> CriticalAcknowledgement {
        try pool.write { db in
            let pending = "SELECT * FROM alert WHERE acknowledgedAt IS NULL AND tier = 'CRITICAL'"
            let row: Row?
            if let seriesInstanceUID {
                row = try Row.fetchOne(db, sql: pending + " AND seriesUID = ?", arguments: [seriesInstanceUID])
                guard row != nil else {
                    throw ApplianceError(.store, "series \(seriesInstanceUID) is not an unacknowledged CRITICAL alert")
                }
            } else {
                row = try Row.fetchOne(db, sql: pending + " ORDER BY raisedAt DESC, id DESC LIMIT 1")
            }
            var alert = row.map(Self.alert)
            if let id = alert?.id {
                try db.execute(sql: "UPDATE alert SET acknowledgedAt = ?, acknowledgedBy = ? WHERE id = ?", arguments: [now, source, id])
                try db.execute(sql: "INSERT INTO acknowledgement (alertId, at, source) VALUES (?, ?, ?)", arguments: [id, now, source])
                alert?.acknowledgedAt = now
                alert?.acknowledgedBy = source
            }
            let remaining = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (\(pending))") ?? 0
            return CriticalAcknowledgement(alert: alert, remaining: remaining)
        }
    }

    /// Takes over acknowledgements recorded elsewhere (the JSON-lines file older `ichtriage ack`
    /// versions wrote), keeping their time and source. An alert already acknowledged keeps its
    /// first acknowledgement; one for a series without an alert is ignored. Returns how many applied.
    @discardableResult
    public func importAcknowledgements(_ items: [(seriesInstanceUID: String, time: Date, source: String)]) throws -> Int {
        try pool.write { db in
            var applied = 0
            for item in items {
                guard let id = try Int64.fetchOne(
                    db, sql: "SELECT id FROM alert WHERE seriesUID = ? AND acknowledgedAt IS NULL", arguments: [item.seriesInstanceUID])
                else { continue }
                try db.execute(sql: "UPDATE alert SET acknowledgedAt = ?, acknowledgedBy = ? WHERE id = ?",
                               arguments: [item.time, item.source, id])
                try db.execute(sql: "INSERT INTO acknowledgement (alertId, at, source) VALUES (?, ?, ?)",
                               arguments: [id, item.time, item.source])
                applied += 1
            }
            return applied
        }
    }

    public func acknowledgementCount() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM acknowledgement") ?? 0 }
    }

    /// Deletes alerts (and finished jobs) raised before `cutoff`; unacknowledged CRITICAL
    /// alerts are kept whatever their age. Returns the number of alerts removed.
    @discardableResult
    public func prune(before cutoff: Date) throws -> Int {
        try pool.write { db in
            try db.execute(
                sql: "DELETE FROM alert WHERE raisedAt < ? AND NOT (tier = 'CRITICAL' AND acknowledgedAt IS NULL)",
                arguments: [cutoff])
            let removed = db.changesCount
            try db.execute(sql: "DELETE FROM job WHERE state IN ('done', 'failed') AND updatedAt < ?", arguments: [cutoff])
            return removed
        }
    }

    /// SQLite's journal mode ("wal": concurrent readers, and a power cut loses at most the
    /// transaction in flight).
    public func journalMode() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }

    // MARK: rows

    private static func job(_ row: Row) -> Job {
        Job(id: row["id"],
            series: SeriesKey(studyInstanceUID: row["studyUID"], seriesInstanceUID: row["seriesUID"]),
            fingerprint: row["fingerprint"],
            state: JobState(rawValue: row["state"]) ?? .queued,
            attempts: row["attempts"],
            failures: row["failures"],
            enqueuedAt: row["enqueuedAt"],
            payload: row["payload"] ?? Data())
    }

    private static func alert(_ row: Row) -> AlertRow {
        AlertRow(id: row["id"],
                 series: SeriesKey(studyInstanceUID: row["studyUID"], seriesInstanceUID: row["seriesUID"]),
                 tier: row["tier"], record: row["record"], raisedAt: row["raisedAt"],
                 acknowledgedAt: row["acknowledgedAt"], acknowledgedBy: row["acknowledgedBy"])
    }
}
