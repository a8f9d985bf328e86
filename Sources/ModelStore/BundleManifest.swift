import Foundation

/// `manifest.json` of a model bundle. Its exact bytes are what the Ed25519 signature covers,
/// so the file is written once (canonically: sorted keys, pretty-printed) and never re-encoded.
public struct BundleManifest: Codable, Sendable, Equatable {
    public static let currentFormat = 1
    public static let fileName = "manifest.json"
    public static let signatureFileName = "manifest.sig"

    /// Bundle format version; this code reads format 1.
    public var format: Int
    /// Model family name, e.g. "ich-detector".
    public var modelName: String
    /// Semantic version of the model; installs must go up unless `downgradeAllowed`.
    public var modelVersion: String
    /// Oldest appliance software (semantic version) that can run this model.
    public var minimumApplianceVersion: String
    /// Creation time, ISO 8601 UTC.
    public var createdAt: String
    /// Identifier of the int8 calibration / operating-point set the thresholds come from.
    public var calibrationId: String
    /// What the model takes as input.
    public var input: InputSpecification
    /// Operating point per output label ("any", "epidural", ...), probabilities in [0, 1].
    public var thresholds: [String: Double]
    /// True when this bundle may replace a newer model (a signed, deliberate downgrade).
    public var downgradeAllowed: Bool
    /// Id of the signing key (`ModelSigningKey.keyId`); set by `model sign`, nil until then.
    public var keyId: String?
    /// Path of the ONNX model inside the bundle.
    public var modelFile: String
    /// Path of the self-test vectors file (`SelfTestVectors`) inside the bundle.
    public var selfTestFile: String
    /// Path of the release notes (plain text / Markdown) inside the bundle.
    public var releaseNotesFile: String
    /// Every file of the bundle except manifest.json and manifest.sig, with size and SHA-256.
    public var files: [FileEntry]

    public struct InputSpecification: Codable, Sendable, Equatable {
        /// Name of the graph input that takes the preprocessed slices.
        public var tensorName: String
        /// Pixel layout of one slice after preprocessing.
        public var sliceWidth: Int
        public var sliceHeight: Int
        /// HU windows, one per channel, in channel order.
        public var windows: [HUWindow]
        /// Slice count the model accepts for a series.
        public var minSlices: Int
        public var maxSlices: Int
        /// Element type the graph input takes ("float32", "uint8" or "int8").
        public var elementType: String

        public init(tensorName: String = "slices", sliceWidth: Int = 256, sliceHeight: Int = 256,
                    windows: [HUWindow] = HUWindow.paperWindows, minSlices: Int = 8, maxSlices: Int = 128,
                    elementType: String = "float32") {
            self.tensorName = tensorName; self.sliceWidth = sliceWidth; self.sliceHeight = sliceHeight
            self.windows = windows; self.minSlices = minSlices; self.maxSlices = maxSlices
            self.elementType = elementType
        }
    }

    public struct HUWindow: Codable, Sendable, Equatable {
        public var name: String
        public var center: Double
        public var width: Double
        public init(name: String, center: Double, width: Double) {
            self.name = name; self.center = center; self.width = width
        }
        /// Brain 40/80, subdural 80/200, soft tissue 40/380 (Burduja et al. 2020).
        public static let paperWindows = [
            HUWindow(name: "brain", center: 40, width: 80),
            HUWindow(name: "subdural", center: 80, width: 200),
            HUWindow(name: "soft-tissue", center: 40, width: 380),
        ]
    }

    public struct FileEntry: Codable, Sendable, Equatable {
        public var path: String
        public var size: Int64
        public var sha256: String
        public init(path: String, size: Int64, sha256: String) {
            self.path = path; self.size = size; self.sha256 = sha256
        }
    }

    /// The manifest's canonical bytes: sorted keys, two-space pretty print, unescaped slashes.
    public func canonicalBytes() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        var data = try encoder.encode(self)
        data.append(0x0A)
        return data
    }

    /// Decodes and checks the schema; every problem is a `badManifest` error naming the field.
    public static func decode(_ data: Data, limits: BundleLimits) throws -> BundleManifest {
        let manifest: BundleManifest
        do {
            manifest = try JSONDecoder().decode(BundleManifest.self, from: data)
        } catch {
            throw ModelStoreError(.badManifest, "manifest.json does not match the schema: \(describe(error))")
        }
        try manifest.validate(limits: limits)
        return manifest
    }

    public var semanticVersion: SemanticVersion? { SemanticVersion(modelVersion) }

    func validate(limits: BundleLimits) throws {
        func bad(_ why: String) -> ModelStoreError { ModelStoreError(.badManifest, "manifest.json: \(why)") }
        guard format == Self.currentFormat else { throw bad("format \(format) is not supported (this appliance reads \(Self.currentFormat))") }
        guard modelName.count <= 64, !modelName.isEmpty,
              modelName.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) })
        else { throw bad("modelName must be 1-64 characters of A-Z a-z 0-9 . _ -") }
        guard SemanticVersion(modelVersion) != nil else { throw bad("modelVersion \(String(reflecting: modelVersion)) is not a semantic version") }
        guard SemanticVersion(minimumApplianceVersion) != nil else {
            throw bad("minimumApplianceVersion \(String(reflecting: minimumApplianceVersion)) is not a semantic version")
        }
        guard ISO8601DateFormatter().date(from: createdAt) != nil else { throw bad("createdAt is not an ISO 8601 time") }
        guard !calibrationId.isEmpty, calibrationId.count <= 128 else { throw bad("calibrationId must be 1-128 characters") }
        guard !input.tensorName.isEmpty else { throw bad("input.tensorName is empty") }
        guard (1...4096).contains(input.sliceWidth), (1...4096).contains(input.sliceHeight) else {
            throw bad("input slice size \(input.sliceWidth)x\(input.sliceHeight) is outside 1...4096")
        }
        guard !input.windows.isEmpty, input.windows.count <= 16,
              input.windows.allSatisfy({ !$0.name.isEmpty && $0.width > 0 && $0.width.isFinite && $0.center.isFinite })
        else { throw bad("input.windows must be 1-16 named windows with a positive width") }
        guard input.minSlices >= 1, input.maxSlices >= input.minSlices, input.maxSlices <= 10_000 else {
            throw bad("input.minSlices/maxSlices must satisfy 1 <= min <= max <= 10000")
        }
        guard ["float32", "uint8", "int8"].contains(input.elementType) else {
            throw bad("input.elementType must be float32, uint8 or int8")
        }
        guard !thresholds.isEmpty else { throw bad("thresholds is empty") }
        for (label, t) in thresholds {
            guard !label.isEmpty, t.isFinite, t >= 0, t <= 1 else { throw bad("threshold for \(String(reflecting: label)) must be in [0, 1]") }
        }
        if let keyId, !ModelSigningKey.isValidKeyId(keyId) { throw bad("keyId is not 16 lowercase hex digits") }
        guard !files.isEmpty else { throw bad("files is empty") }
        guard files.count <= limits.maxFiles else { throw ModelStoreError(.tooLarge, "manifest lists more than \(limits.maxFiles) files") }
        var seen = Set<String>()
        var total: Int64 = 0
        for f in files {
            try BundlePath.validate(f.path, limits: limits)
            guard f.path != Self.fileName, f.path != Self.signatureFileName else {
                throw bad("files must not list \(f.path)")
            }
            guard seen.insert(f.path).inserted else { throw bad("file \(f.path) is listed twice") }
            guard f.size >= 0 else { throw bad("file \(f.path) has a negative size") }
            guard f.size <= limits.maxFileBytes else {
                throw ModelStoreError(.tooLarge, "\(f.path) is \(f.size) bytes, over the limit of \(limits.maxFileBytes)")
            }
            total += f.size
            guard f.sha256.count == 64, f.sha256.allSatisfy({ "0123456789abcdef".contains($0) }) else {
                throw bad("file \(f.path) has no valid sha256 (64 lowercase hex digits)")
            }
        }
        guard total <= limits.maxTotalBytes else {
            throw ModelStoreError(.tooLarge, "bundle is \(total) bytes, over the limit of \(limits.maxTotalBytes)")
        }
        for (field, path) in [("modelFile", modelFile), ("selfTestFile", selfTestFile), ("releaseNotesFile", releaseNotesFile)] {
            guard seen.contains(path) else { throw bad("\(field) \(String(reflecting: path)) is not among files") }
        }
    }
}

/// A short, readable description of a decoding error (field path and what was wrong).
func describe(_ error: Error) -> String {
    guard let e = error as? DecodingError else { return "\(error)" }
    func path(_ c: DecodingError.Context) -> String {
        let p = c.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        return p.isEmpty ? "top level" : p
    }
    switch e {
    case .keyNotFound(let key, let c): return "missing field \(path(c)).\(key.stringValue)".replacingOccurrences(of: "top level.", with: "")
    case .typeMismatch(_, let c): return "wrong type at \(path(c))"
    case .valueNotFound(_, let c): return "null at \(path(c))"
    case .dataCorrupted(let c): return "not valid JSON at \(path(c))"
    @unknown default: return "\(error)"
    }
}
