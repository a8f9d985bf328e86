import ArgumentParser
import Foundation
import Indicators
import Triage

/// `ichtriage ack`: acknowledges the current CRITICAL alert (the newest unacknowledged one, the
/// one on top of the screen), as the button does, and records who and when.
struct AckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ack",
        abstract: "Acknowledge the current CRITICAL alert.",
        discussion: """
            Alert records are read from --records (default: <state dir>/alerts); acknowledgements are appended to
            <state dir>/acknowledgements.jsonl. The state dir is --state-dir, else $ICHTRIAGE_STATE_DIR, else /var/lib/ichtriage.
            Nothing to acknowledge is not an error (exit 0, "acknowledged": false).
            JSON (--json): {"acknowledged": bool, "seriesInstanceUID", "studyInstanceUID", "time", "source",
            "remainingUnacknowledged": int, "store": path, "message"}. Patient identifiers are never printed.
            """)

    @Option(help: "Who or what acknowledges (recorded).") var source: String = "cli"
    @Option(help: "Acknowledge this series instead of the current one.") var series: String?
    @Option(help: "State directory (default: $ICHTRIAGE_STATE_DIR or /var/lib/ichtriage).") var stateDir: String?
    @Option(help: "Folder of alert records (default: <state dir>/alerts).") var records: String?
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard !source.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--source must not be empty") }
    }

    func run() throws {
        let stateDirectory = JSONLinesAcknowledgementStore.stateDirectory(option: stateDir)
        let recordFolder = records.map { URL(fileURLWithPath: $0) } ?? stateDirectory.appendingPathComponent("alerts")
        let store = JSONLinesAcknowledgementStore(stateDirectory: stateDirectory)
        let loaded = FileManager.default.fileExists(atPath: recordFolder.path)
            ? try AlertRecordFiles.load([recordFolder]).records.map(\.record) : []
        let pending = CurrentAlert.unacknowledgedCritical(loaded, acknowledgements: try store.all())

        let target: AlertRecord?
        if let series {
            guard let match = pending.first(where: { $0.seriesInstanceUID == series }) else {
                throw ValidationError("series \(series) is not an unacknowledged CRITICAL alert in \(recordFolder.path)")
            }
            target = match
        } else {
            target = pending.first
        }

        var result: [String: Any] = ["store": store.file.path, "source": source]
        if let target {
            let ack = Acknowledgement(seriesInstanceUID: target.seriesInstanceUID, time: Date(), source: source)
            try store.append(ack)
            result.merge(["acknowledged": true, "seriesInstanceUID": target.seriesInstanceUID,
                          "studyInstanceUID": target.studyInstanceUID, "time": AlertTimestamp.format(ack.time),
                          "remainingUnacknowledged": pending.count - 1,
                          "message": "acknowledged CRITICAL alert for series \(target.seriesInstanceUID)"]) { $1 }
        } else {
            result.merge(["acknowledged": false, "remainingUnacknowledged": 0,
                          "message": "no unacknowledged CRITICAL alert in \(recordFolder.path)"]) { $1 }
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
