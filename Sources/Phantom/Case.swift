/// What to generate (config) and what was drawn from the seed (case).

/// How stored pixel values encode HU.
public enum PixelEncoding: Sendable, Equatable {
    /// 12-bit unsigned, RescaleIntercept -1024 (Philips/Siemens style); padding stored as 0.
    case unsigned12
    /// 16-bit signed, RescaleIntercept 0 (GE style); padding stored as `padding`.
    case signed16(padding: Int16)

    public var intercept: Double { self == .unsigned12 ? -1024 : 0 }
    public var bitsStored: Int { self == .unsigned12 ? 12 : 16 }
    public var pixelRepresentation: Int { self == .unsigned12 ? 0 : 1 }
    /// Stored value written outside the scanner's field of view (PixelPaddingValue).
    public var paddingStored: Int16 {
        switch self {
        case .unsigned12: return 0
        case .signed16(let p): return p
        }
    }

    /// HU -> stored value (rounded, clamped to the representable range).
    @inline(__always)
    func store(_ hu: Float) -> Int16 {
        switch self {
        case .unsigned12:
            return Int16(min(4095, max(0, (hu + 1024).rounded())))
        case .signed16:
            return Int16(min(3071, max(-1024, hu.rounded())))
        }
    }
}

public struct PhantomConfig: Sendable {
    public var seed: UInt64
    /// Subtypes every series carries; [] = a negative; nil = drawn from the seed (about half negative).
    public var subtypes: [Subtype]?
    /// Slice count (20...60 typical); nil = enough slices of the drawn thickness to cover the head.
    public var sliceCount: Int?
    /// Slice thickness (= spacing) in mm; nil = drawn from 3...7.
    public var sliceThickness: Double?
    /// Gantry tilt in degrees; nil = usually 0, sometimes 10...25.
    public var tiltDegrees: Double?
    /// Rows = columns.
    public var matrix: Int = 512
    /// mm; nil = a field of view of 205...256 mm over the matrix (0.4...0.5 mm at 512).
    public var pixelSpacing: Double?
    /// Quantum noise (off: exact anatomy HU, for tests).
    public var noise: Bool = true
    /// Partial-volume blur in plane and across the slice thickness (off: exact HU).
    public var partialVolume: Bool = true
    /// The calvarial shift (`PhantomRenderer.calvarialShift`): intracranial tissue reads denser on slices
    /// whose cranial cavity is small (vertex, skull base). Off: exact HU, for tests.
    public var calvarialShift: Bool = true
    /// Long tails of the in-plane point-spread (`PointSpreadTails`): brain near the skull reads
    /// brighter over 5-10 mm, as on the real exam. Off: the in-plane blur alone (exact-HU tests).
    public var pointSpreadTails: Bool = true
    /// Mimics (calcifications, beam hardening, dense bone); nil = drawn (richer in negatives).
    public var mimics: Bool?
    /// nil = drawn.
    public var encoding: PixelEncoding?

    public init(seed: UInt64) { self.seed = seed }
}

/// Slice placement. Slice k is centred on (0, 0, firstZ + k * spacing) in patient
/// coordinates (LPS, mm); the image plane is tilted about x by the gantry tilt.
public struct SliceGeometry: Sendable {
    public var matrix: Int
    public var pixelSpacing: Double
    public var thickness: Double
    public var count: Int
    public var tiltDegrees: Double
    public var firstZ: Double

    public var spacing: Double { thickness }
    /// ImageOrientationPatient: row direction, column direction.
    public var rowDirection: SIMD3<Double> { SIMD3(1, 0, 0) }
    public var columnDirection: SIMD3<Double> {
        let t = DetMath.radians(tiltDegrees)
        return SIMD3(0, DetMath.cos(t), -DetMath.sin(t))
    }
    public var normal: SIMD3<Double> {
        let r = rowDirection, c = columnDirection
        return SIMD3(r.y * c.z - r.z * c.y, r.z * c.x - r.x * c.z, r.x * c.y - r.y * c.x)
    }
    public func center(_ k: Int) -> SIMD3<Double> { SIMD3(0, 0, firstZ + Double(k) * spacing) }
    /// ImagePositionPatient: the centre of the first transmitted pixel.
    public func position(_ k: Int) -> SIMD3<Double> {
        let half = Double(matrix - 1) / 2 * pixelSpacing
        return center(k) - rowDirection * half - columnDirection * half
    }
}

/// Everything drawn from one seed: reproducible by seed + config alone.
public struct PhantomCase: Sendable {
    public let seed: UInt64
    public let subtypes: [Subtype]
    public let geometry: SliceGeometry
    public let encoding: PixelEncoding
    public let noiseSD: Double
    public let mimicNames: [String]
    public let midlineShift: Double
    /// HU added to intracranial tissue on the slices with the smallest cranial cavity (0 = off).
    public let calvarialShiftHU: Double
    let head: Head
    let bleeds: [Bleed]
    let mimics: Mimics
    let config: PhantomConfig

    public init(_ config: PhantomConfig) throws {
        if let n = config.sliceCount, !(1...400).contains(n) { throw PhantomError.badArgument("slice count \(n) outside 1...400") }
        if let t = config.sliceThickness, !(0.5...20).contains(t) { throw PhantomError.badArgument("slice thickness \(t) mm outside 0.5...20") }
        if let t = config.tiltDegrees, !(-30...30).contains(t) { throw PhantomError.badArgument("gantry tilt \(t) degrees outside -30...30") }
        if !(16...1024).contains(config.matrix) { throw PhantomError.badArgument("matrix \(config.matrix) outside 16...1024") }
        if let s = config.pixelSpacing, !(0.1...5).contains(s) { throw PhantomError.badArgument("pixel spacing \(s) mm outside 0.1...5") }
        self.config = config
        seed = config.seed
        var rng = SeededGenerator(seed: deriveSeed(config.seed, 1))
        // What the series holds.
        let chosen = Self.drawSubtypes(config.subtypes, rng: &rng)
        subtypes = chosen
        let richMimics = config.mimics ?? (chosen.isEmpty ? true : rng.chance(0.3))
        var mimics = (config.mimics == false) ? Mimics() : Mimics.draw(rng: &rng, rich: richMimics)
        if config.mimics == false { mimics = Mimics() }
        self.mimics = mimics
        mimicNames = mimics.names
        var head = Head(rng: &rng, denseBone: mimics.denseBone)
        var bleeds: [Bleed] = []
        for s in chosen { bleeds.append(BleedFactory.make(s, head: head, rng: &rng)) }
        head.massEffect = BleedFactory.massEffect(for: bleeds)
        midlineShift = abs(head.massEffect?.shift ?? 0)
        self.head = head
        self.bleeds = bleeds
        encoding = config.encoding ?? (rng.chance(0.5) ? .unsigned12 : .signed16(padding: rng.pick([-2000, -1500, -3024])))
        noiseSD = rng.uniform(3, 6)
        // A stream of its own, so that adding this scanner property left every other draw of a seed as it was.
        var shiftRng = SeededGenerator(seed: deriveSeed(config.seed, 3))
        calvarialShiftHU = config.calvarialShift ? shiftRng.uniform(8, 30) : 0
        // Geometry.
        let thickness = config.sliceThickness ?? rng.pick([3, 4, 5, 5, 5, 6, 7])
        let count = config.sliceCount ?? min(60, max(20, Int((rng.uniform(125, 140) / thickness).rounded())))
        let tilt = config.tiltDegrees ?? (rng.chance(0.6) ? 0 : rng.uniform(8, 25))
        let spacing = config.pixelSpacing ?? rng.uniform(205, 256) / Double(config.matrix)
        let coverage = Double(count) * thickness
        var firstZ: Double
        if coverage >= 130 {
            firstZ = -58 + rng.uniform(-6, 4) - (coverage - 130) / 2
        } else if let c = bleeds.first?.center {
            // A short series is centred on the (first) bleed so that it shows it.
            firstZ = min(max(c.z - coverage / 2, -60), 78 - coverage)
        } else {
            firstZ = rng.uniform(-58, 78 - coverage)
        }
        firstZ += thickness / 2
        geometry = SliceGeometry(matrix: config.matrix, pixelSpacing: spacing, thickness: thickness, count: count,
                                 tiltDegrees: tilt, firstZ: firstZ)
    }
}

extension PhantomCase {
    /// The requested subtypes, or when none were requested: half negatives, the rest one
    /// subtype (70 %) or two to three.
    static func drawSubtypes(_ requested: [Subtype]?, rng: inout SeededGenerator) -> [Subtype] {
        if let s = requested { return Array(Set(s)).sorted() }
        if rng.chance(0.5) { return [] }
        var pool = Subtype.allCases
        var picked: [Subtype] = []
        let n = rng.chance(0.7) ? 1 : rng.int(2, 3)
        for _ in 0..<n { picked.append(pool.remove(at: rng.int(0, pool.count - 1))) }
        return picked.sorted()
    }

    /// Normal white matter HU of this head (tests compare oedema against it).
    public var headWhiteHU: Double { head.hu.white }
}
