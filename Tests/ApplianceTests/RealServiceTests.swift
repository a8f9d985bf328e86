import Foundation
import XCTest
@testable import Appliance

/// The real `ichtriaged` executable, end to end: the signed default model, the real exams, the
/// journal log output, no network, and SIGKILL at random moments.
final class RealServiceTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("ichtriaged-real-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("drop"), withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    private func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    /// Runs the service on both real exams inside a network namespace that has only loopback
    /// (`unshare -n`, as systemd's PrivateNetwork=yes), until idle. Checks that both series are
    /// analysed, and that no patient name or ID from the exams' headers (read with dcmdump, so
    /// whatever the data holds) appears anywhere in the log, at debug level.
    func testServiceWithoutNetworkAnalysesTheRealExamsAndLogsNoPatientName() throws {
        let daemon = try Executables.url("ichtriaged")
        let exams = Executables.sharedData
        guard FileManager.default.fileExists(atPath: exams.appendingPathComponent("ge-hispeed-human").path) else {
            throw XCTSkip("the real exams are not at \(exams.path) (set ICHTRIAGE_SHARED_DATA)")
        }
        try Executables.installDefaultModel(store: root.appendingPathComponent("state/models"), keys: root.appendingPathComponent("keys"))
        try FileManager.default.copyItem(at: exams.appendingPathComponent("ge-hispeed-human"), to: root.appendingPathComponent("drop/ge"))
        try FileManager.default.copyItem(at: exams.appendingPathComponent("philips-ingenuity-phantom-usb-export"),
                                         to: root.appendingPathComponent("drop/usb"))
        // The GE exam's name is anonymised ("REMOVED"): give one copy a real-looking name too.
        let ge = try FileManager.default.contentsOfDirectory(atPath: path("drop/ge")).map { path("drop/ge/\($0)") }
        let modify = try Executables.run(URL(fileURLWithPath: "/usr/bin/dcmodify"), ["-nb", "-m", "(0010,0010)=ZQXDOE^JANE^MARIE"] + ge)
        XCTAssertEqual(modify.status, 0, modify.stderr)

        let configuration = """
            {"dropFolders": ["\(path("drop"))"], "stateDirectory": "\(path("state"))",
             "quarantineDirectory": "\(path("quarantine"))", "outboxDirectory": "\(path("outbox"))",
             "modelKeysDirectory": "\(path("keys"))", "stableSeconds": 0.2, "quietPeriodSeconds": 1, "rescanSeconds": 0.5,
             "display": {"framebuffer": "", "png": "\(path("screen.png"))"}}
            """
        try Data(configuration.utf8).write(to: root.appendingPathComponent("ichtriaged.json"))
        let service = "cat /proc/net/dev > '\(path("netdev.txt"))' && exec '\(daemon.path)' --config '\(path("ichtriaged.json"))' "
            + "--exit-when-idle 3 --log-level debug"
        let isolated = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
        let run = isolated
            ? try Executables.run(URL(fileURLWithPath: "/usr/bin/unshare"), ["-n", "/bin/sh", "-c", service])
            : try Executables.run(URL(fileURLWithPath: "/bin/sh"), ["-c", service])
        XCTAssertEqual(run.status, 0, run.stderr)
        let log = run.stderr

        // Both series done: the GE series and the Philips S2010 series (its localizer and secondary
        // captures are skipped). The GE head is triaged; the Philips skull phantom, air inside, is NOT
        // ANALYSABLE ("no brain").
        let store = try JobStore(path: path("state/ichtriage.sqlite"))
        let jobs = try store.jobs()
        XCTAssertEqual(jobs.count, 2, "jobs: \(jobs.map(\.series))\n\(log)")
        XCTAssertTrue(jobs.allSatisfy { $0.state == .done }, "\(jobs.map(\.state))")
        let alerts = try store.alerts()
        XCTAssertEqual(alerts.count, 2)
        let refused = alerts.filter { $0.tier == "NOT_ANALYSABLE" }
        XCTAssertEqual(refused.count, 1, "one exam triaged, the phantom refused: \(alerts.map(\.tier))")
        let reasons = try refused.map { (try JSONSerialization.jsonObject(with: $0.record) as? [String: Any])?["reason"] as? String ?? "" }
        XCTAssertTrue(reasons.allSatisfy { $0.hasPrefix("no brain:") }, "\(reasons)")

        // No patient name or ID from any header the service read.
        var identifiers = Set<String>()
        let files = FileManager.default.enumerator(atPath: path("drop"))?.compactMap { $0 as? String } ?? []
        for file in files where !file.hasSuffix("DIRFILE") {
            let dump = try Executables.run(URL(fileURLWithPath: "/usr/bin/dcmdump"), ["+P", "0010,0010", "+P", "0010,0020", path("drop/\(file)")])
            for line in dump.stdout.split(separator: "\n") {
                guard let open = line.firstIndex(of: "["), let close = line[open...].firstIndex(of: "]") else { continue }
                for part in line[line.index(after: open)..<close].split(whereSeparator: { $0 == "^" || $0 == " " }) where part.count >= 3 {
                    identifiers.insert(String(part))
                }
            }
        }
        XCTAssertTrue(identifiers.isSuperset(of: ["ZQXDOE", "JANE", "MARIE", "HEAD", "PLASTIC"]), "the headers hold names: \(identifiers.sorted())")
        XCTAssertGreaterThan(log.split(separator: "\n").count, 10, "the service logged its work: \(log)")
        for identifier in identifiers {
            XCTAssertFalse(log.contains(identifier), "the log holds the patient identifier \(identifier)")
        }

        guard isolated else {
            throw XCTSkip("not root (or no unshare): the service ran with the host's network; the no-network part needs a network namespace")
        }
        let interfaces = try String(contentsOfFile: path("netdev.txt"), encoding: .utf8).split(separator: "\n").dropFirst(2)
            .compactMap { $0.split(separator: ":").first?.trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(interfaces, ["lo"], "inside the namespace the service sees only loopback")
    }

    /// The unit's `ExecStopPost=ichtriaged --record-exit`: systemd's environment becomes the
    /// record the next start reads.
    func testRecordExitWritesWhatSystemdSaid() throws {
        let daemon = try Executables.url("ichtriaged")
        let configuration = "{\"stateDirectory\": \"\(path("state"))\", \"dropFolders\": [\"\(path("drop"))\"]}"
        try Data(configuration.utf8).write(to: root.appendingPathComponent("ichtriaged.json"))
        try FileManager.default.createDirectory(atPath: path("state"), withIntermediateDirectories: true)
        var environment = ProcessInfo.processInfo.environment
        environment["SERVICE_RESULT"] = "core-dump"
        environment["EXIT_CODE"] = "dumped"
        environment["EXIT_STATUS"] = "SEGV"
        let run = try Executables.run(daemon, ["--config", path("ichtriaged.json"), "--record-exit"], environment: environment)
        XCTAssertEqual(run.status, 0, run.stderr)
        let record = try XCTUnwrap(ExitRecord.take(stateDirectory: path("state")))
        XCTAssertEqual(record.exitStatus, "SEGV")
        XCTAssertTrue(record.isCrash)
    }

    /// A short crash campaign (scripts/crash-campaign.sh, `make crash-campaign` runs the full one):
    /// SIGKILL at random moments while series are processed; every series analysed exactly once,
    /// no duplicate alert, no input file lost.
    func testShortCrashCampaign() throws {
        let bin = try Executables.binDirectory()
        _ = try Executables.url("ichtriaged")
        guard FileManager.default.fileExists(atPath: Executables.packageRoot.appendingPathComponent("Models/default/model.onnx").path) else {
            throw XCTSkip("no model bundle in Models/default")
        }
        let run = try Executables.run(
            URL(fileURLWithPath: "/bin/bash"),
            [Executables.packageRoot.appendingPathComponent("scripts/crash-campaign.sh").path, "--bin", bin.path,
             "--kills", "5", "--series", "3", "--max-delay", "8", "--out", path("campaign")])
        XCTAssertEqual(run.status, 0, "\(run.stdout)\n\(run.stderr)")
        XCTAssertTrue(run.stdout.contains("crash campaign passed"), run.stdout)
        print(run.stdout)
    }
}
