import Appliance
import ArgumentParser
import Foundation
import Indicators
import ModelStore
import Triage

/// `ichtriage screen`: draws the status screen from alert record files into a PNG, a raw
/// framebuffer file with explicit geometry, or a real framebuffer. For the README, for support,
/// and to check a panel's wiring.
struct ScreenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "screen",
        abstract: "Render the status screen from alert record JSON files.",
        discussion: """
            Output: --png FILE, --raw FILE (with --bpp 16|32 and optional --line-length), or --framebuffer /dev/fbN
            (geometry read from the device). The frame depends only on the inputs: pass --now for a reproducible picture.
            JSON (--json): {"mode", "output", "width", "height", "alerts", "acknowledged" (how many of them the state directory's
            store marks acknowledged), "problems", "bytes" (raw and framebuffer),
            "geometry" (raw and framebuffer), "modelUpdate" (the model store's last receipt: action, time, result, activeModel)}.
            """)

    @Argument(help: "Alert record files, or folders holding them (searched two levels deep).")
    var records: [String] = []

    @Option(help: "Write the frame as a PNG file.") var png: String?
    @Option(help: "Write the frame as raw framebuffer bytes (see --bpp, --line-length).") var raw: String?
    @Option(help: "Draw on a Linux framebuffer device, e.g. /dev/fb0.") var framebuffer: String?
    @Option(help: "Panel size WIDTHxHEIGHT (ignored with --framebuffer).") var size: String = "1280x720"
    @Flag(help: "Swap width and height (portrait panel).") var portrait = false
    @Option(help: "Raw mode: bits per pixel, 16 (RGB565) or 32 (XRGB8888).") var bpp: Int = 32
    @Option(help: "Raw mode: bytes per line (default width * bytes per pixel).") var lineLength: Int?
    @Option(help: "The screen's current time, ISO 8601 (default: now).") var now: String?
    @Option(help: "Time zone for clock times, e.g. UTC or Europe/Berlin (default: the system's).") var timeZone: String?
    @Option(help: "Identifiers to show, comma-separated: accessionNumber, patientInitials, studyInstanceUID, seriesInstanceUID.")
    var identifiers: String = "accessionNumber,patientInitials"
    @Option(help: "Health line: the watched drop folder.") var watched: String = "/srv/ichtriage/drop"
    @Option(help: "Health line: when the last series was seen, ISO 8601 (default: newest arrival).") var lastSeries: String?
    @Option(help: "Health line: free disk bytes (default: measured on --watched when it exists).") var diskFreeBytes: Int64?
    @Option(help: "Health line: total disk bytes.") var diskTotalBytes: Int64?
    @Option(help: "Health line: model status.") var modelStatus: String = "ready"
    @Option(help: "Show a fault banner with this text.") var fault: String?
    @Option(help: "Fault kind: model, disk, folder or other.") var faultKind: String = "other"
    @Flag(help: "Show the appliance as analysing.") var analysing = false
    @Option(help: "State directory whose acknowledgements mark alerts as acknowledged (default: $ICHTRIAGE_STATE_DIR or /var/lib/ichtriage).")
    var stateDir: String?
    @Option(help: "Model store whose last receipt is shown as the last model update (default: <state dir>/models; none shown when it has no receipt).")
    var modelStore: String?
    @Flag(help: "Print a JSON summary.") var json = false

    func validate() throws {
        let outputs = [png, raw, framebuffer].compactMap { $0 }
        guard outputs.count == 1 else { throw ValidationError("give exactly one of --png, --raw, --framebuffer") }
        guard PanelSize(size) != nil else { throw ValidationError("--size must look like 1280x720") }
        guard [16, 32].contains(bpp) else { throw ValidationError("--bpp must be 16 or 32") }
        if let now, AlertTimestamp.parse(now) == nil { throw ValidationError("--now must be ISO 8601, e.g. 2026-11-29T14:20:00Z") }
        if let lastSeries, AlertTimestamp.parse(lastSeries) == nil { throw ValidationError("--last-series must be ISO 8601") }
        if let timeZone, TimeZone(identifier: timeZone) == nil { throw ValidationError("unknown time zone '\(timeZone)'") }
        for name in identifiers.split(separator: ",") where IdentifierField(rawValue: String(name)) == nil {
            throw ValidationError("unknown identifier '\(name)'")
        }
        guard ["model", "disk", "folder", "other"].contains(faultKind) else {
            throw ValidationError("--fault-kind must be model, disk, folder or other")
        }
    }

    /// Acknowledgements as the service and `ichtriage ack` keep them: the alert rows of the job store
    /// (SQLite), plus an old `acknowledgements.jsonl` not imported yet (read, never imported here:
    /// drawing a picture changes nothing).
    static func acknowledgements(stateDirectory: URL) throws -> [Acknowledgement] {
        var acks = try JSONLinesAcknowledgementStore(stateDirectory: stateDirectory).all()
        let database = stateDirectory.appendingPathComponent(ApplianceRuntime.databaseFileName)
        if FileManager.default.fileExists(atPath: database.path) {
            acks += try JobStore(path: database.path).alerts(limit: 10_000).compactMap { row in
                row.acknowledgedAt.map { Acknowledgement(seriesInstanceUID: row.series.seriesInstanceUID, time: $0, source: row.acknowledgedBy ?? "") }
            }
        }
        return acks
    }

    /// Errors (bad record, missing framebuffer, ...) propagate: ArgumentParser prints them and exits 1.
    func run() throws {
        let (loaded, problems) = try AlertRecordFiles.load(records.map { URL(fileURLWithPath: $0) })
        for problem in problems where !json { FileHandle.standardError.write(Data("warning: \(problem)\n".utf8)) }
        let stateDirectory = JSONLinesAcknowledgementStore.stateDirectory(option: stateDir)
        let acks = try Self.acknowledgements(stateDirectory: stateDirectory)
        let currentTime = now.flatMap(AlertTimestamp.parse) ?? Date()

        var config = ScreenConfig()
        config.identifiers = identifiers.split(separator: ",").compactMap { IdentifierField(rawValue: String($0)) }
        if let timeZone { config.timeZone = TimeZone(identifier: timeZone)! }
        // The model of the newest record stands for the installed one until the model store reports it.
        let newest = loaded.max { $0.record.completionTime < $1.record.completionTime }
        var health = HealthStatus(watchedFolder: watched, model: newest?.record.model, modelStatus: modelStatus)
        health.lastSeriesSeen = lastSeries.flatMap(AlertTimestamp.parse) ?? loaded.map(\.record.arrivalTime).max()
        if let diskFreeBytes {
            health.diskFreeBytes = diskFreeBytes
            health.diskTotalBytes = diskTotalBytes
        } else if let space = try? FileManager.default.attributesOfFileSystem(forPath: watched) {
            health.diskFreeBytes = (space[.systemFreeSize] as? NSNumber)?.int64Value
            health.diskTotalBytes = (space[.systemSize] as? NSNumber)?.int64Value
        }
        if let fault {
            switch faultKind {
            case "model": health.fault = .noValidModel(fault)
            case "disk": health.fault = .diskFull(fault)
            case "folder": health.fault = .dropFolderMissing(fault)
            default: health.fault = .other(fault)
            }
        }
        // Reading the receipt verifies nothing and runs nothing: the self-tester is never called.
        let storeFolder = URL(fileURLWithPath: modelStore ?? stateDirectory.appendingPathComponent("models").path)
        let receipt = ModelStore(configuration: ModelStoreConfiguration(storeDirectory: storeFolder),
                                 selfTester: StructuralSelfTester()).lastReceipt()
        health.modelUpdate = receipt.flatMap(ModelUpdateNotice.init)
        let shown = loaded.map { $0.screenAlert(acknowledgements: acks) }
        let state = ScreenState(alerts: shown, health: health,
                                analysing: analysing, now: currentTime)
        let renderer = try StatusScreenRenderer(config: config)

        var summary: [String: Any] = ["alerts": loaded.count, "problems": problems,
                                      "acknowledged": shown.filter { $0.acknowledgedAt != nil }.count]
        if let receipt {
            summary["modelUpdate"] = ["action": receipt.action, "time": receipt.time, "result": receipt.result,
                                      "activeModel": receipt.activeModel.map { "\($0.modelName) \($0.modelVersion)" as Any } ?? NSNull()] as [String: Any]
        }
        if let framebuffer {
            let device = try LinuxFramebuffer(path: framebuffer)
            let frame = try renderer.render(state, size: device.geometry.panelSize)
            try device.show(frame)
            summary.merge(["mode": "framebuffer", "output": framebuffer, "width": frame.width, "height": frame.height,
                           "bytes": device.geometry.byteCount, "geometry": geometryJSON(device.geometry)]) { $1 }
        } else {
            var panel = PanelSize(size)!
            if portrait { panel = panel.rotated }
            let frame = try renderer.render(state, size: panel)
            if let png {
                try frame.writePNG(to: URL(fileURLWithPath: png))
                summary.merge(["mode": "png", "output": png, "width": frame.width, "height": frame.height]) { $1 }
            } else if let raw {
                let geometry = bpp == 16
                    ? FramebufferGeometry.rgb565(width: panel.width, height: panel.height, lineLength: lineLength)
                    : FramebufferGeometry.xrgb8888(width: panel.width, height: panel.height, lineLength: lineLength)
                try RawFramebufferFile.write(frame, geometry: geometry, to: URL(fileURLWithPath: raw))
                summary.merge(["mode": "raw", "output": raw, "width": frame.width, "height": frame.height,
                               "bytes": geometry.byteCount, "geometry": geometryJSON(geometry)]) { $1 }
            }
        }
        if json {
            let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("screen: \(summary["width"]!)x\(summary["height"]!) with \(loaded.count) alert(s) -> \(summary["output"]!)")
        }
    }

    private func geometryJSON(_ g: FramebufferGeometry) -> [String: Any] {
        ["width": g.width, "height": g.height, "bitsPerPixel": g.bitsPerPixel, "lineLength": g.lineLength,
         "red": [g.red.offset, g.red.length], "green": [g.green.offset, g.green.length], "blue": [g.blue.offset, g.blue.length]]
    }
}
