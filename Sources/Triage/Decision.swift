/// The triage rule (docs/triage.md, "Decision"). For each label, the series score is the maximum
/// probability over its slices. With the bundle's operating threshold t (for "any", chosen at a
/// sensitivity of 0.95 or more on validation data) and a SUSPECT threshold s < t:
///   CRITICAL  if any label scores >= its t;
///   SUSPECT   else if any label scores >= its s;
///   NEGATIVE  otherwise.
/// s comes from the bundle's `suspect_thresholds` when given, else it is `suspectFraction` x t.
public struct Decision: Sendable, Equatable {
    public var operating: [HemorrhageLabel: Double]
    public var suspect: [HemorrhageLabel: Double]

    public init(bundle: ModelBundle, configuration: TriageConfiguration) {
        self.init(operating: bundle.thresholds, suspect: bundle.suspectThresholds,
                  suspectFraction: configuration.suspectFraction)
    }

    public init(operating: [HemorrhageLabel: Double], suspect: [HemorrhageLabel: Double]? = nil, suspectFraction: Double = 0.5) {
        self.operating = operating
        self.suspect = suspect ?? operating.mapValues { $0 * suspectFraction }
    }

    public func tier(_ scores: [HemorrhageLabel: Double]) -> Tier {
        if HemorrhageLabel.allCases.contains(where: { (scores[$0] ?? 0) >= (operating[$0] ?? 1) }) { return .critical }
        if HemorrhageLabel.allCases.contains(where: { (scores[$0] ?? 0) >= (suspect[$0] ?? 1) }) { return .suspect }
        return .negative
    }

    /// Labels at or above their SUSPECT threshold, the most convincing first (score over operating threshold).
    public func alertingLabels(_ scores: [HemorrhageLabel: Double]) -> [HemorrhageLabel] {
        HemorrhageLabel.allCases
            .filter { (scores[$0] ?? 0) >= (suspect[$0] ?? 1) }
            .sorted { (scores[$0] ?? 0) / (operating[$0] ?? 1) > (scores[$1] ?? 0) / (operating[$1] ?? 1) }
    }
}
