import DICOMIntake
import Foundation
import Logging
import ServiceLifecycle
import Triage
import XCTest
@testable import Appliance

/// A deterministic stand-in for the triage pipeline: CRITICAL for every series, counting calls,
/// optionally blocking (a stuck pipeline) until released.
final class FakeAnalyzer: SeriesAnalyzer, @unchecked Sendable {
    private let lock = NSLock()
    private var _calls: [String] = []
    let gate: DispatchSemaphore?
    var unavailableReason: String? { nil }

    init(blocking: Bool = false) { gate = blocking ? DispatchSemaphore(value: 0) : nil }

    var calls: [String] { lock.lock(); defer { lock.unlock() }; return _calls }

    func analyze(_ series: CTSeries, outputDirectory: URL, heartbeat: @Sendable () -> Void) throws -> AnalysisOutcome {
        lock.lock(); _calls.append(series.seriesInstanceUID); lock.unlock()
        gate?.wait()
        let record = AlertRecord(studyInstanceUID: series.studyInstanceUID, seriesInstanceUID: series.seriesInstanceUID,
                                 arrivalTime: Date(), completionTime: Date(), probabilities: [.any: 0.9], tier: .critical,
                                 model: .init(name: "fake", version: "0"))
        return AnalysisOutcome(tier: "CRITICAL", record: try AlertRecord.jsonEncoder().encode(record))
    }
}

/// Collects every log line, to check what the service writes (no patient names).
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var _lines: [String] = []
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return _lines }
    func append(_ line: String) { lock.lock(); _lines.append(line); lock.unlock() }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
                 file: String, function: String, line: UInt) {
            capture.append("\(level) \(message) \(metadata ?? [:])")
        }
    }
    var logger: Logger { Logger(label: "test") { _ in Handler(capture: self) } }
}

final class ServiceTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ichtriaged-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("drop"), withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private func configuration() -> ApplianceConfiguration {
        var c = ApplianceConfiguration()
        c.dropFolders = [root.appendingPathComponent("drop").path]
        c.stateDirectory = root.appendingPathComponent("state").path
        c.quarantineDirectory = root.appendingPathComponent("quarantine").path
        c.outboxDirectory = root.appendingPathComponent("outbox").path
        c.stableSeconds = 0.2
        c.quietPeriodSeconds = 0.5
        c.rescanSeconds = 0.5
        c.display.framebuffer = ""
        c.display.png = root.appendingPathComponent("screen.png").path
        return c
    }

    /// Copies the GE exam into the drop folder under `name`, optionally renaming the patient.
    private func dropGEExam(as name: String, patientName: String? = nil) throws {
        let target = root.appendingPathComponent("drop/\(name)")
        try FileManager.default.copyItem(at: Executables.realExam("ge-hispeed-human"), to: target)
        if let patientName {
            let files = try FileManager.default.contentsOfDirectory(atPath: target.path).map { target.appendingPathComponent($0).path }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/dcmodify")
            p.arguments = ["-nb", "-m", "(0010,0010)=\(patientName)"] + files
            try p.run()
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0, "dcmodify failed")
        }
    }

    private func wait(_ what: String, timeout: Double = 30, until condition: () throws -> Bool) throws {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if try condition() { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTFail("timed out waiting for \(what)")
    }

    /// Runs the appliance's services until `body` returns, then shuts them down gracefully.
    private func withAppliance(_ runtime: ApplianceRuntime, analyzer: SeriesAnalyzer, logger: Logger,
                               _ body: @escaping @Sendable () throws -> Void) async throws {
        let services = runtime.services(analyzer: analyzer, modelDescription: { "fake 0" }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
        let task = Task { try await group.run() }
        defer { task.cancel() }
        try await Task.detached { try body() }.value
        await group.triggerGracefulShutdown()
        try await task.value
    }

    func testEachSeriesIsAnalysedOnceAndAlertsOnceEvenWhenDroppedTwice() async throws {
        let runtime = try ApplianceRuntime(configuration: configuration(), notifier: SystemdNotifier(environment: [:]))
        let analyzer = FakeAnalyzer()
        let logs = LogCapture()
        try await withAppliance(runtime, analyzer: analyzer, logger: logs.logger) {
            try self.dropGEExam(as: "first")
            try self.wait("the first alert") { try runtime.store.alerts().count == 1 }
            try self.dropGEExam(as: "again")  // the same series, dropped a second time
            Thread.sleep(forTimeInterval: 2)
        }
        XCTAssertEqual(analyzer.calls.count, 1, "analysed once")
        XCTAssertEqual(try runtime.store.alerts().count, 1, "one alert")
        XCTAssertEqual(try runtime.store.jobs().count, 1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("screen.png").path))
        XCTAssertTrue(logs.lines.contains { $0.contains("duplicate") }, "the second drop is logged as a duplicate")
    }

    /// `ichtriage ack`, a separate process, writes into the running service's store: the service
    /// sees the acknowledgement (its screen changes) and the JSON fields stay as documented.
    func testAckCommandGoesThroughTheRunningServicesStore() async throws {
        let ichtriage = try Executables.url("ichtriage")
        let runtime = try ApplianceRuntime(configuration: configuration(), notifier: SystemdNotifier(environment: [:]))
        let state = runtime.configuration.stateDirectory
        let screen = root.appendingPathComponent("screen.png")
        try await withAppliance(runtime, analyzer: FakeAnalyzer(), logger: LogCapture().logger) {
            try self.dropGEExam(as: "exam")
            try self.wait("the CRITICAL alert") { try runtime.store.alerts().first?.tier == "CRITICAL" }
            let series = try XCTUnwrap(try runtime.store.alerts().first?.series)
            try self.wait("the screen") { FileManager.default.fileExists(atPath: screen.path) }
            Thread.sleep(forTimeInterval: 0.5)  // the screen with the alert on it is drawn
            let before = try Data(contentsOf: screen)

            // `ichtriage screen --state-dir` reads acknowledgements from the same store.
            let recordFile = self.root.appendingPathComponent("alert-record.json")
            try XCTUnwrap(try runtime.store.alerts().first?.record).write(to: recordFile)
            func screenAcknowledged() throws -> Int? {
                let r = try Executables.run(ichtriage, ["screen", recordFile.path, "--state-dir", state, "--png", self.root.appendingPathComponent("cli-screen.png").path, "--json"])
                XCTAssertEqual(r.status, 0, r.stderr)
                return r.json?["acknowledged"] as? Int
            }
            XCTAssertEqual(try screenAcknowledged(), 0)

            let ack = try Executables.run(ichtriage, ["ack", "--state-dir", state, "--source", "test-cli", "--json"])
            XCTAssertEqual(ack.status, 0, ack.stderr)
            let json = try XCTUnwrap(ack.json, ack.stdout)
            XCTAssertEqual(json["acknowledged"] as? Bool, true)
            XCTAssertEqual(json["seriesInstanceUID"] as? String, series.seriesInstanceUID)
            XCTAssertEqual(json["studyInstanceUID"] as? String, series.studyInstanceUID)
            XCTAssertEqual(json["source"] as? String, "test-cli")
            XCTAssertEqual(json["remainingUnacknowledged"] as? Int, 0)
            XCTAssertEqual(json["store"] as? String, state + "/ichtriage.sqlite")
            XCTAssertNotNil(json["time"] as? String)
            XCTAssertNotNil(json["message"] as? String)

            // The running service's own store connection sees it, and the screen is redrawn.
            try self.wait("the acknowledgement in the store") { try runtime.store.alerts().first?.acknowledgedBy == "test-cli" }
            try self.wait("the screen to change") { (try? Data(contentsOf: screen)) != before }
            XCTAssertEqual(try screenAcknowledged(), 1, "ichtriage screen shows the acknowledgement made with ichtriage ack")

            let again = try Executables.run(ichtriage, ["ack", "--state-dir", state, "--json"])
            XCTAssertEqual(again.status, 0, again.stderr)
            XCTAssertEqual(again.json?["acknowledged"] as? Bool, false, "nothing left: \(again.stdout)")
            let wrong = try Executables.run(ichtriage, ["ack", "--state-dir", state, "--series", "1.2.3.4.5"])
            XCTAssertNotEqual(wrong.status, 0, "an unknown series is an error")
            XCTAssertTrue(wrong.stderr.contains("1.2.3.4.5"), wrong.stderr)
        }
        XCTAssertEqual(try runtime.store.acknowledgementCount(), 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: state + "/acknowledgements.jsonl"), "no second place for acknowledgements")
    }

    /// A USB stick pulled out while its series is being read: the files read so far vanish with
    /// the folder. The series is never analysed on part of its slices; it ends NOT ANALYSABLE with
    /// a reason on the screen, and when the stick comes back with the whole series it is analysed
    /// and its result takes that alert's place.
    func testSeriesFromAStickPulledMidCopyIsNotAnalysedHalf() async throws {
        var c = configuration()
        c.quietPeriodSeconds = 1.5
        let runtime = try ApplianceRuntime(configuration: c, notifier: SystemdNotifier(environment: [:]))
        let analyzer = FakeAnalyzer()
        let logs = LogCapture()
        let source = try Executables.realExam("ge-hispeed-human")
        let files = try FileManager.default.contentsOfDirectory(atPath: source.path).sorted()
        let stick = root.appendingPathComponent("drop/sdb1")
        try await withAppliance(runtime, analyzer: analyzer, logger: logs.logger) {
            try FileManager.default.createDirectory(at: stick, withIntermediateDirectories: true)
            for name in files.prefix(10) {
                try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: stick.appendingPathComponent(name))
            }
            Thread.sleep(forTimeInterval: 0.8)  // read (stable after 0.2 s), still inside the quiet period
            try FileManager.default.removeItem(at: stick)  // pulled
            try self.wait("the incomplete series' status") { try runtime.store.alerts().count == 1 }
            let alert = try XCTUnwrap(try runtime.store.alerts().first)
            XCTAssertEqual(alert.tier, "NOT_ANALYSABLE")
            let record = try AlertRecord.jsonDecoder().decode(AlertRecord.self, from: alert.record)
            XCTAssertTrue(record.reason?.contains("incomplete: 10 of 10 files of this series are gone") == true, record.reason ?? "no reason")
            XCTAssertEqual(analyzer.calls.count, 0, "nothing analysed on part of a series")

            // The stick comes back, whole.
            try FileManager.default.copyItem(at: source, to: stick)
            try self.wait("the whole series' alert") { try runtime.store.alerts().first?.tier == "CRITICAL" }
        }
        XCTAssertEqual(analyzer.calls.count, 1, "analysed once, on the whole series")
        XCTAssertEqual(try runtime.store.alerts().count, 1, "one alert for the series")
    }

    func testNoPatientNameInLogs() async throws {
        let name = "ZQXDOE^JANE"
        let runtime = try ApplianceRuntime(configuration: configuration(), notifier: SystemdNotifier(environment: [:]))
        let logs = LogCapture()
        try await withAppliance(runtime, analyzer: FakeAnalyzer(), logger: logs.logger) {
            try self.dropGEExam(as: "named", patientName: name)
            // A malformed file too: its quarantine is logged.
            try Data("not dicom".utf8).write(to: self.root.appendingPathComponent("drop/named/garbage.dcm"))
            try self.wait("the alert") { try runtime.store.alerts().count == 1 }
        }
        XCTAssertFalse(logs.lines.isEmpty)
        for fragment in ["ZQXDOE", "zqxdoe", "JANE"] {
            XCTAssertFalse(logs.lines.contains { $0.contains(fragment) }, "a log line holds \(fragment)")
        }
        // The name is in the data the service handled (so the test is not vacuous).
        let header = try SliceHeader.read(path: root.appendingPathComponent("drop/named/01.dcm").path)
        XCTAssertTrue(header.patientInitials.contains("Z"), "the test data carries the patient name: \(header.patientInitials)")
    }

    /// READY and STATUS over a real notify socket; WATCHDOG=1 keeps coming while the analysis loop
    /// runs, stops while it is stuck inside an analysis, and resumes when it moves again.
    func testWatchdogFollowsTheAnalysisLoop() async throws {
        let socket = try NotifySocket()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "400000"])
        let runtime = try ApplianceRuntime(configuration: configuration(), notifier: notifier)
        let analyzer = FakeAnalyzer(blocking: true)
        notifier.ready(status: "test")
        try await withAppliance(runtime, analyzer: analyzer, logger: LogCapture().logger) {
            let idle = socket.receive(for: 1.0)
            XCTAssertTrue(idle.contains { $0.hasPrefix("READY=1") }, "READY arrives")
            XCTAssertTrue(idle.contains { $0.hasPrefix("STATUS=idle") }, "a readable STATUS arrives: \(idle)")
            XCTAssertGreaterThanOrEqual(idle.filter { $0 == "WATCHDOG=1" }.count, 3, "the idle loop beats")

            try self.dropGEExam(as: "stuck")
            try self.wait("the analysis to start", until: { !analyzer.calls.isEmpty })
            _ = socket.receive(for: 0.2)  // anything sent just before it got stuck
            let stuck = socket.receive(for: 1.2)
            XCTAssertEqual(stuck.filter { $0 == "WATCHDOG=1" }.count, 0, "no WATCHDOG while stuck: \(stuck)")

            analyzer.gate?.signal()
            let resumed = socket.receive(for: 1.0)
            XCTAssertGreaterThanOrEqual(resumed.filter { $0 == "WATCHDOG=1" }.count, 2, "beats again: \(resumed)")
        }
        XCTAssertEqual(try runtime.store.alerts().count, 1)
    }
}
