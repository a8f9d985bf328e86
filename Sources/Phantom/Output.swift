/// What the dataset writer needs of a generated series, whichever anatomy made it.

public struct GeneratedSlice: Sendable {
    /// Stored pixel values, rows x columns, row-major.
    public var stored: [Int16]
    /// Bleed mask: OR of `Subtype.maskBit` per pixel.
    public var mask: [UInt8]
    /// ImagePositionPatient (mm).
    public var position: [Double]
    public var thickness: Double
    public var sliceLocation: Double

    /// Subtypes present on this slice.
    public var subtypes: [Subtype] {
        var bits: UInt8 = 0
        for m in mask { bits |= m }
        return Subtype.allCases.filter { bits & $0.maskBit != 0 }
    }
}

public struct GeneratedSeries: Sendable {
    public var seed: UInt64
    /// "procedural" or "real:<exam>".
    public var anatomy: String
    public var requestedSubtypes: [Subtype]
    public var mimics: [String]
    public var midlineShift: Double
    public var rows: Int
    public var columns: Int
    /// Row spacing, column spacing (mm), as DICOM PixelSpacing.
    public var pixelSpacing: [Double]
    /// ImageOrientationPatient.
    public var orientation: [Double]
    public var tiltDegrees: Double
    public var encoding: PixelEncoding
    public var description: String
    public var slices: [GeneratedSlice]

    public var presentSubtypes: [Subtype] {
        var bits: UInt8 = 0
        for s in slices { for m in s.mask { bits |= m } }
        return Subtype.allCases.filter { bits & $0.maskBit != 0 }
    }
}

extension PhantomSeries {
    /// The series as the dataset writer takes it.
    public var output: GeneratedSeries {
        let c = phantomCase, g = c.geometry
        let slices = self.slices.map { s -> GeneratedSlice in
            let p = g.position(s.index)
            return GeneratedSlice(stored: s.stored, mask: s.mask, position: [p.x, p.y, p.z], thickness: g.thickness,
                                  sliceLocation: g.center(s.index).z)
        }
        let r = g.rowDirection, col = g.columnDirection
        return GeneratedSeries(seed: c.seed, anatomy: "procedural", requestedSubtypes: c.subtypes, mimics: c.mimicNames,
                               midlineShift: c.midlineShift, rows: g.matrix, columns: g.matrix,
                               pixelSpacing: [g.pixelSpacing, g.pixelSpacing], orientation: [r.x, r.y, r.z, col.x, col.y, col.z],
                               tiltDegrees: g.tiltDegrees, encoding: c.encoding, description: "SYNTHETIC HEAD",
                               slices: slices)
    }
}
