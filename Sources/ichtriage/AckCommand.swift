import Appliance
import ArgumentParser
import Foundation
import Indicators
import Triage

/// `ichtriage ack`: acknowledges the current CRITICAL alert (the newest unacknowledged one, the
/// one on top of the screen), as the button does, and records who and when. It writes into the
/// service's own job store (SQLite, WAL), so a running `ichtriaged` sees it at once: its screen
/// and red light follow the store.
struct AckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ack",
        abstract: "Acknowledge the current CRITICAL alert.",
        discussion: """
            Alerts and acknowledgements live in the service's job store <state dir>/ichtriage.sqlite; the running
            service picks the acknowledgement up from there. The state dir is --state-dir, else $ICHTRIAGE_STATE_DIR,
            else /var/lib/ichtriage. Nothing to acknowledge is not an error (exit 0, "acknowledged": false).
            JSON (--json): {"acknowledged": bool, "seriesInstanceUID", "studyInstanceUID", "time", "source",
            "remainingUnacknowledged": int, "store": path, "message"}. Patient identifiers are never printed.
            """)

    @Option(help: "Who or what acknowledges (recorded).") var source: String = "cli"
    @Option(help: "Acknowledge this series instead of the current one.") var series: String?
    @Option(help: "State directory (default: $ICHTRIAGE_STATE_DIR or /var/lib/ichtriage).") var stateDir: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard !source.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--source must not be empty") }
    }

    func run() throws {
        let stateDirectory = JSONLinesAcknowledgementStore.stateDirectory(option: stateDir)
        let database = stateDirectory.appendingPathComponent(ApplianceRuntime.databaseFileName)
        var result: [String: Any] = ["store": database.path, "source": source]
        // The service creates the store; the CLI never makes an empty one (it could get the wrong owner).
        if FileManager.default.fileExists(atPath: database.path) {
            let store = try JobStore(path: database.path)
            try LegacyAcknowledgements.importIfPresent(stateDirectory: stateDirectory, into: store)
            let done = try store.acknowledgeCritical(seriesInstanceUID: series, source: source)
            if let alert = done.alert, let time = alert.acknowledgedAt {
                result.merge(["acknowledged": true, "seriesInstanceUID": alert.series.seriesInstanceUID,
                              "studyInstanceUID": alert.series.studyInstanceUID, "time": AlertTimestamp.format(time),
                              "remainingUnacknowledged": done.remaining,
                              "message": "acknowledged CRITICAL alert for series \(alert.series.seriesInstanceUID)"]) { $1 }
            } else {
                result.merge(["acknowledged": false, "remainingUnacknowledged": 0,
                              "message": "no unacknowledged CRITICAL alert in \(database.path)"]) { $1 }
            }
        } else if let series {
            throw ValidationError("series \(series): no alert store at \(database.path) (has the service run with this state directory?)")
        } else {
            result.merge(["acknowledged": false, "remainingUnacknowledged": 0,
                          "message": "no alert store at \(database.path) (the service has not run with this state directory)"]) { $1 }
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(result["message"]!)
            if let remaining = result["remainingUnacknowledged"] as? Int, remaining > 0 {
                print("\(remaining) more CRITICAL alert(s) still unacknowledged")
            }
        }
    }
}
