import DICOMIntake
import Foundation
import Logging

/// The production analyzer: the triage pipeline on a verified model.
///
/// Until the triage pipeline is wired in, the appliance has no way to analyse a series, and says
/// so as a fault: jobs wait, durable, and nothing is reported as analysed.
public struct DetectorAnalyzer: SeriesAnalyzer {
    public let unavailableReason: String?
    public let modelDescription: String

    public static func make(modelFolder: String?, configuration: ApplianceConfiguration, logger: Logger) -> DetectorAnalyzer {
        DetectorAnalyzer(unavailableReason: "the triage pipeline is not installed in this build", modelDescription: "none")
    }

    public func analyze(_ series: CTSeries, outputDirectory: URL, heartbeat: @Sendable () -> Void) throws -> AnalysisOutcome {
        throw ApplianceError(.store, unavailableReason ?? "no analyzer")
    }
}
