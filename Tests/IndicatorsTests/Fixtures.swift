import Foundation
import Indicators
import Triage
import XCTest

/// Paths and sample inputs shared by the indicator tests.
enum Fixtures {
    static let testsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let packageRoot = testsFolder.deletingLastPathComponent().deletingLastPathComponent()
    static let goldenFolder = testsFolder.appendingPathComponent("Golden")
    /// The example CRITICAL record of docs/examples (thumbnails: brain-window slices of the GE test exam).
    static let criticalRecordFile = packageRoot.appendingPathComponent("docs/examples/critical/alert.json")

    static let now = AlertTimestamp.parse("2026-11-29T14:19:30Z")!
    static let utc = TimeZone(identifier: "UTC")!

    static func date(_ text: String) -> Date { AlertTimestamp.parse(text)! }

    static func config() -> ScreenConfig {
        var config = ScreenConfig()
        config.timeZone = utc
        return config
    }

    static func health(fault: Fault? = nil) -> HealthStatus {
        HealthStatus(watchedFolder: "/srv/ichtriage/drop", lastSeriesSeen: date("2026-11-29T14:06:12Z"),
                     diskFreeBytes: 41_200_000_000, diskTotalBytes: 64_000_000_000, model: .init(name: "ich-det", version: "1.0.0"), modelStatus: "ready",
                     fault: fault)
    }

    static func criticalAlert() throws -> ScreenAlert {
        let loaded = try AlertRecordFiles.load([criticalRecordFile]).records
        return loaded[0].screenAlert(acknowledgements: [])
    }

    static func negativeRecord() -> AlertRecord {
        AlertRecord(
            studyInstanceUID: "1.2.826.0.1.3680043.9.4245.900", seriesInstanceUID: "1.2.826.0.1.3680043.9.4245.901",
            accessionNumber: "A24-118400", patientInitials: "M.K.", studyDateTime: "2026-11-29T14:10:00",
            arrivalTime: date("2026-11-29T14:12:02Z"), completionTime: date("2026-11-29T14:13:40Z"),
            probabilities: [.any: 0.04, .epidural: 0.01, .intraparenchymal: 0.02, .intraventricular: 0.01,
                            .subarachnoid: 0.03, .subdural: 0.02],
            tier: .negative, model: .init(name: "ich-det", version: "1.0.0"),
            timingsMs: ["decode": 150, "cnn": 210])
    }

    static func record(series: String, tier: Tier, completed: String) -> AlertRecord {
        var r = negativeRecord()
        r.seriesInstanceUID = series
        r.tier = tier
        r.completionTime = date(completed)
        return r
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ichtriage-indicators-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
