import Foundation

/// Bleeds inserted into real head CT slices. Needs the project's DICOM reader.
public struct RealAnatomyLibrary {
    public static func load(from folder: URL) throws -> RealAnatomyLibrary {
        throw PhantomError.realAnatomy("not available in this build yet (waits for the DICOM reader in CDICOM)")
    }

    public func render(_ config: PhantomConfig) throws -> PhantomSeries {
        throw PhantomError.realAnatomy("not available in this build yet")
    }
}
