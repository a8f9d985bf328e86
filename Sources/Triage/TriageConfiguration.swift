/// Settings of the triage pipeline; every value has a default that suits a routine non-contrast head CT.
public struct TriageConfiguration: Sendable, Equatable {
    /// Fewer slices than this cannot cover a head: NOT ANALYSABLE.
    public var minimumSlices = 10
    /// A larger distance between consecutive slice positions (mm) leaves a hole a bleed can hide in.
    public var maximumSliceGapMm = 10.0
    /// Series with a median slice spacing under this (mm) are thin and are averaged into slabs ...
    public var thinSliceSpacingMm = 2.0
    /// ... of about this thickness (mm), the thickness the detector was trained on.
    public var slabThicknessMm = 5.0
    /// BodyPartExamined values that mean a head (compared upper-cased, spaces and '_' removed);
    /// an empty BodyPartExamined is accepted and the image checks decide.
    public var headBodyParts: Set<String> = ["HEAD", "BRAIN", "SKULL", "CRANIUM", "HEADNECK", "NEURO"]
    /// Image check: the widest body outline (tissue above -300 HU) of any slice, in mm. An adult head
    /// is about 140 to 200 mm wide; a chest or abdomen 250 to 450 mm.
    public var maximumHeadWidthMm = 260.0
    public var minimumHeadWidthMm = 60.0
    /// Image check: fraction of air (under -500 HU, padding included) above which a slice is empty;
    /// when every slice is empty the series is NOT ANALYSABLE.
    public var maximumAirFraction = 0.98
    /// Image check: over the slices that enclose at least half the area of the widest, the median share
    /// of soft tissue (-20 to 100 HU) inside the head outline. The GE head measures 0.62 and 100 generated
    /// heads 0.55 or more; the Philips skull phantom (air and plastic inserts inside) 0.05. Below this
    /// the series is NOT ANALYSABLE ("no brain"). 0 turns the check off.
    public var minimumSoftTissueFraction = 0.2
    /// SUSPECT starts at this fraction of a label's operating threshold when the bundle gives no
    /// `suspect_thresholds` (see docs/triage.md, "Decision").
    public var suspectFraction = 0.5
    /// Key slices: the most probable slice of each alerting label (at most `maximumAlertingLabels`),
    /// plus this many neighbours on each side.
    public var keySliceNeighbours = 1
    public var maximumAlertingLabels = 3
    /// Also render key images (the most probable "any" slice) for NEGATIVE series.
    public var keyImagesForNegatives = false
    /// Strength of the Grad-CAM overlay where the map is at its maximum (0...1).
    public var overlayOpacity: Float = 0.5
    /// Worker threads for decoding, preprocessing and the engine.
    public var threads = 2
    /// When set, the detector's input of each series is also written there as `<SeriesInstanceUID>-input.npy`
    /// ([S,3,256,256] float32) with `<SeriesInstanceUID>-slices.txt` (the files of each slab), for parity
    /// checks against the training toolkit's preprocessing.
    public var inputDumpFolder: String?

    public init() {}
}
