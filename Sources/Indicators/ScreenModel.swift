import Foundation
import Triage

/// A panel's size in pixels. Portrait panels simply have height > width.
public struct PanelSize: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    public var isPortrait: Bool { height > width }
    public var rotated: PanelSize { PanelSize(width: height, height: width) }
    public var description: String { "\(width)x\(height)" }

    /// The panels the layout is designed and tested for (landscape; `.rotated` gives portrait).
    public static let common: [PanelSize] = [
        PanelSize(width: 800, height: 480), PanelSize(width: 1024, height: 600),
        PanelSize(width: 1280, height: 720), PanelSize(width: 1920, height: 1080),
    ]

    /// Parses "1280x720".
    public init?(_ text: String) {
        let parts = text.lowercased().split(separator: "x")
        guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]),
              (64...8192).contains(w), (64...8192).contains(h) else { return nil }
        self.init(width: w, height: h)
    }
}

/// Which identifiers of an exam the site wants on screen (never in logs).
public enum IdentifierField: String, CaseIterable, Codable, Sendable {
    case accessionNumber, patientInitials, studyInstanceUID, seriesInstanceUID

    var label: String {
        switch self {
        case .accessionNumber: return "Acc"
        case .patientInitials: return "Pt"
        case .studyInstanceUID: return "Study"
        case .seriesInstanceUID: return "Series"
        }
    }

    func value(in record: AlertRecord) -> String? {
        switch self {
        case .accessionNumber: return record.accessionNumber
        case .patientInitials: return record.patientInitials
        case .studyInstanceUID: return record.studyInstanceUID
        case .seriesInstanceUID: return record.seriesInstanceUID
        }
    }
}

/// Why the appliance cannot currently produce alerts. Shown as a banner and as amber blinking.
public enum Fault: Equatable, Sendable {
    case noValidModel(String)
    case diskFull(String)
    case dropFolderMissing(String)
    case other(String)

    public var message: String {
        switch self {
        case .noValidModel(let detail): return "No valid model: \(detail)"
        case .diskFull(let detail): return "Disk full: \(detail)"
        case .dropFolderMissing(let detail): return "Drop folder missing: \(detail)"
        case .other(let detail): return detail
        }
    }
}

/// The last model update (an install from a stick or the updates folder, a rollback) as the
/// status screen shows it: what, when, the result and the model active afterwards, so the field
/// engineer leaves knowing what happened. Filled from the model store's last receipt.
public struct ModelUpdateNotice: Equatable, Sendable {
    public enum Outcome: String, Sendable {
        case installed, alreadyActive, rejected, rolledBack, failed

        /// An outcome the engineer must act on (the update did not go in, or a model was pulled).
        var needsAttention: Bool { self != .installed && self != .alreadyActive }
        var words: String {
            switch self {
            case .installed: return "installed"
            case .alreadyActive: return "already active"
            case .rejected: return "REJECTED"
            case .rolledBack: return "ROLLED BACK"
            case .failed: return "FAILED"
            }
        }
    }

    /// "install", "rollback" or "automatic-rollback".
    public var action: String
    public var time: Date
    public var outcome: Outcome
    /// The bundle or model concerned, e.g. "ich-detector 1.1.0" (nil when it could not be read).
    public var subject: String?
    /// Why it was rejected, failed or rolled back.
    public var reason: String?
    /// The model active afterwards, e.g. "ich-detector 1.0.0"; nil: none (the fault state).
    public var activeModel: String?

    public init(action: String, time: Date, outcome: Outcome, subject: String? = nil, reason: String? = nil,
                activeModel: String? = nil) {
        self.action = action
        self.time = time
        self.outcome = outcome
        self.subject = subject
        self.reason = reason
        self.activeModel = activeModel
    }
}

/// The appliance's health as the status line shows it.
public struct HealthStatus: Equatable, Sendable {
    public var watchedFolder: String
    public var lastSeriesSeen: Date?
    public var diskFreeBytes: Int64?
    public var diskTotalBytes: Int64?
    /// The installed model (nil when there is none).
    public var model: AlertRecord.Model?
    /// e.g. "ready", "self-test failed".
    public var modelStatus: String
    public var fault: Fault?
    /// The last model update, shown on its own line above the health line (nil: none recorded).
    public var modelUpdate: ModelUpdateNotice?

    public init(
        watchedFolder: String, lastSeriesSeen: Date? = nil, diskFreeBytes: Int64? = nil,
        diskTotalBytes: Int64? = nil, model: AlertRecord.Model? = nil, modelStatus: String = "ready", fault: Fault? = nil,
        modelUpdate: ModelUpdateNotice? = nil
    ) {
        self.modelUpdate = modelUpdate
        self.watchedFolder = watchedFolder
        self.lastSeriesSeen = lastSeriesSeen
        self.diskFreeBytes = diskFreeBytes
        self.diskTotalBytes = diskTotalBytes
        self.model = model
        self.modelStatus = modelStatus
        self.fault = fault
    }
}

/// An alert as the screen shows it: the record, where its thumbnails are, and whether a person
/// has acknowledged it.
public struct ScreenAlert: Equatable, Sendable {
    public var record: AlertRecord
    public var thumbnailFiles: [URL]
    public var acknowledgedAt: Date?

    public init(record: AlertRecord, thumbnailFiles: [URL], acknowledgedAt: Date? = nil) {
        self.record = record
        self.thumbnailFiles = thumbnailFiles
        self.acknowledgedAt = acknowledgedAt
    }

    /// Lower is more urgent: unacknowledged CRITICAL, acknowledged CRITICAL, SUSPECT,
    /// NOT_ANALYSABLE, NEGATIVE.
    var urgency: Int {
        switch record.tier {
        case .critical: return acknowledgedAt == nil ? 0 : 1
        case .suspect: return 2
        case .notAnalysable: return 3
        case .negative: return 4
        }
    }
}

/// Everything one frame depends on. Rendering reads no clock: `now` is part of the state.
public struct ScreenState: Equatable, Sendable {
    public var alerts: [ScreenAlert]
    public var health: HealthStatus
    public var analysing: Bool
    public var now: Date

    public init(alerts: [ScreenAlert], health: HealthStatus, analysing: Bool = false, now: Date) {
        self.alerts = alerts
        self.health = health
        self.analysing = analysing
        self.now = now
    }

    /// Most urgent first, then newest (by completion time), then by series UID for a stable order.
    public var orderedAlerts: [ScreenAlert] {
        alerts.sorted { a, b in
            if a.urgency != b.urgency { return a.urgency < b.urgency }
            if a.record.completionTime != b.record.completionTime {
                return a.record.completionTime > b.record.completionTime
            }
            return a.record.seriesInstanceUID < b.record.seriesInstanceUID
        }
    }
}

/// How the screen looks. Sendable, with defaults that suit a site that configured nothing.
public struct ScreenConfig: Sendable {
    /// Identifiers shown for each exam, in order.
    public var identifiers: [IdentifierField] = [.accessionNumber, .patientInitials]
    /// Time zone for clock times on screen (study times are shown as the scanner recorded them).
    public var timeZone: TimeZone = .current
    /// Font files; the first that exists wins. Debian/Ubuntu, Fedora, Arch and Alpine paths.
    public var regularFontPaths: [String] = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    ]
    public var boldFontPaths: [String] = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    ]
    /// Title in the header.
    public var title: String = "ICH TRIAGE"

    public init() {}
}
