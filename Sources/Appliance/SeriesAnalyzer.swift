import DICOMIntake
import Foundation

/// What turns a complete series into a triage decision: the triage pipeline on the active model
/// in production, a double in tests. Called from the analysis loop, one series at a time.
public protocol SeriesAnalyzer: Sendable {
    /// Why nothing can be analysed now (no valid model, say), or nil when ready. While this is
    /// non-nil jobs stay queued and the appliance shows a fault: it never analyses without a model.
    var unavailableReason: String? { get }
    /// Analyses one series, writing its record and thumbnails into `outputDirectory` (thumbnail
    /// paths in the record are relative to it). `heartbeat` must be called between stages so a
    /// long but healthy analysis keeps the watchdog fed while a stuck one does not.
    func analyze(_ series: CTSeries, outputDirectory: URL, heartbeat: @Sendable () -> Void) throws -> AnalysisOutcome
    /// A slice of a series that is still arriving: work that can be done ahead (incremental
    /// inference) may start now; called on an intake thread, so it must not block.
    func sliceArrived(_ slice: CTSlice)
}

extension SeriesAnalyzer {
    public func sliceArrived(_ slice: CTSlice) {}
}

/// The result the service stores and shows.
public struct AnalysisOutcome: Sendable {
    /// CRITICAL, SUSPECT, NEGATIVE or NOT_ANALYSABLE.
    public var tier: String
    /// The alert record (JSON), stored with the alert and shown on screen.
    public var record: Data

    public init(tier: String, record: Data) {
        self.tier = tier
        self.record = record
    }
}
