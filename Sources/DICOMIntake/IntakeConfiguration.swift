import Foundation

/// Everything the intake can be told. Defaults suit a drop folder on the appliance.
public struct IntakeConfiguration: Sendable {
    /// Where unreadable or inconsistent files go (moved, with `<name>.reason.txt` beside them).
    /// `nil`: errors are only reported (what `ichtriage scan` does by default).
    public var quarantineFolder: URL?
    /// A file is read once its size and mtime have not changed for this long (seconds), or at once
    /// after inotify reported it closed after writing.
    public var stabilitySeconds: Double = 2
    /// A series is complete when no new slice arrived for this long (seconds).
    public var seriesQuietSeconds: Double = 10
    /// Full rescans of the drop folder (inotify sees nothing of writes made by other NFS/SMB hosts).
    public var rescanSeconds: Double = 5
    /// Largest image accepted: Rows x Columns x SamplesPerPixel x NumberOfFrames.
    public var maxPixelsPerImage: UInt64 = 4096 * 4096
    /// Deepest sequence nesting accepted in a header.
    public var maxSequenceDepth: UInt32 = 16
    /// Treat 12-bit unsigned images with RescaleIntercept > -100 as signed 12-bit (RSNA data quirk).
    public var applyRSNAFix: Bool = true
    /// HU written for padding pixels (PixelPaddingValue): air.
    public var paddingHU: Float = -1024
    /// Relative tolerance for "uneven spacing" and gap detection.
    public var spacingTolerance: Double = 0.1
    /// Fewest slices a series needs to be analysable.
    public var minimumSlices: Int = 5

    public init() {}
}
