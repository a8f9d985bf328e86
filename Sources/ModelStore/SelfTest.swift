import Foundation

/// The self-test vectors a bundle carries (`selfTestFile`, JSON): inputs with the outputs the
/// model must produce for them, within an absolute tolerance. Tensors are raw little-endian
/// files inside the bundle, so they are covered by the manifest's hashes.
public struct SelfTestVectors: Codable, Sendable, Equatable {
    public static let currentFormat = 1
    public var format: Int
    /// Largest allowed |expected - actual| for any element of an output without its own.
    public var tolerance: Double
    public var cases: [Case]

    public struct Case: Codable, Sendable, Equatable {
        public var name: String
        public var inputs: [Tensor]
        public var expected: [Tensor]
        public init(name: String, inputs: [Tensor], expected: [Tensor]) {
            self.name = name; self.inputs = inputs; self.expected = expected
        }
    }

    /// A tensor stored as a raw little-endian file in the bundle.
    public struct Tensor: Codable, Sendable, Equatable {
        /// Graph input or output name.
        public var name: String
        public var shape: [Int]
        /// "float32" (the only element type of format 1).
        public var elementType: String
        /// Path of the raw data inside the bundle.
        public var file: String
        /// For an expected output: its own absolute tolerance, overriding the vectors' one.
        public var tolerance: Double?
        public init(name: String, shape: [Int], elementType: String = "float32", file: String, tolerance: Double? = nil) {
            self.name = name; self.shape = shape; self.elementType = elementType; self.file = file; self.tolerance = tolerance
        }
        public var elementCount: Int { shape.reduce(1, *) }
    }

    public init(tolerance: Double, cases: [Case]) {
        self.format = Self.currentFormat; self.tolerance = tolerance; self.cases = cases
    }

    /// The tolerance that applies to an expected output.
    public func tolerance(for expected: Tensor) -> Double { expected.tolerance ?? tolerance }

    /// Decodes and checks the file against the manifest it came with.
    static func decode(_ data: Data, manifest: BundleManifest) throws -> SelfTestVectors {
        func bad(_ why: String) -> ModelStoreError { ModelStoreError(.badManifest, "self-test vectors \(manifest.selfTestFile): \(why)") }
        let v: SelfTestVectors
        do { v = try JSONDecoder().decode(SelfTestVectors.self, from: data) } catch { throw bad(describe(error)) }
        guard v.format == currentFormat else { throw bad("format \(v.format) is not supported") }
        guard v.tolerance.isFinite, v.tolerance >= 0 else { throw bad("tolerance must be a finite number >= 0") }
        guard !v.cases.isEmpty else { throw bad("no cases") }
        let sizes = Dictionary(manifest.files.map { ($0.path, $0.size) }, uniquingKeysWith: { a, _ in a })
        for c in v.cases {
            guard !c.inputs.isEmpty, !c.expected.isEmpty else { throw bad("case \(c.name) needs inputs and expected outputs") }
            for t in c.inputs + c.expected {
                guard t.elementType == "float32" else { throw bad("tensor \(t.name): element type \(t.elementType) unsupported") }
                guard !t.shape.isEmpty, t.shape.count <= 8, t.shape.allSatisfy({ $0 >= 1 && $0 <= 1 << 24 }),
                      t.shape.reduce(Int64(1), { $0 * Int64($1) }) <= 1 << 30 else {
                    throw bad("tensor \(t.name) has an invalid shape \(t.shape)")
                }
                guard let size = sizes[t.file] else { throw bad("tensor file \(t.file) is not among the manifest's files") }
                if let tol = t.tolerance, !(tol.isFinite && tol >= 0) { throw bad("tensor \(t.name) has an invalid tolerance") }
                guard size == Int64(t.elementCount * 4) else {
                    throw bad("tensor file \(t.file) holds \(size) bytes, shape \(t.shape) needs \(t.elementCount * 4)")
                }
            }
        }
        return v
    }
}

/// What a self-tester gets: a verified, staged bundle (nothing in it is trusted before this).
public struct SelfTestRequest: Sendable {
    public let bundleDirectory: URL
    public let manifest: BundleManifest
    public let vectors: SelfTestVectors
    public var modelURL: URL { bundleDirectory.appendingPathComponent(manifest.modelFile) }

    /// Reads one tensor file of the bundle as float32 values.
    public func load(_ tensor: SelfTestVectors.Tensor) throws -> [Float] {
        let data = try DurableFiles.readSmallFile(bundleDirectory.appendingPathComponent(tensor.file),
                                                  limit: Int64(tensor.elementCount * 4), what: "tensor file")
        guard data.count == tensor.elementCount * 4 else {
            throw ModelStoreError(.badManifest, "tensor file \(tensor.file) has the wrong size")
        }
        return data.withUnsafeBytes { raw in
            (0..<tensor.elementCount).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }

    /// Largest |expected - actual|, or nil when the counts differ or a value is not finite;
    /// a self-tester compares this with `vectors.tolerance`.
    public static func maxAbsoluteError(expected: [Float], actual: [Float]) -> Double? {
        guard expected.count == actual.count else { return nil }
        var worst = 0.0
        for (e, a) in zip(expected, actual) {
            guard e.isFinite, a.isFinite else { return nil }
            worst = max(worst, Double(abs(e - a)))
        }
        return worst
    }
}

/// Outcome of a self-test or a reference-series check.
public struct SelfTestOutcome: Codable, Sendable, Equatable {
    public var passed: Bool
    /// What was checked and, on failure, why it failed.
    public var detail: String
    public init(passed: Bool, detail: String) { self.passed = passed; self.detail = detail }
    public static func pass(_ detail: String) -> SelfTestOutcome { .init(passed: true, detail: detail) }
    public static func fail(_ detail: String) -> SelfTestOutcome { .init(passed: false, detail: detail) }
}

/// Loads the staged model and runs its vectors. The inference engine provides the real one;
/// the store only calls it, on the staged copy, before anything is switched.
public protocol ModelSelfTester: Sendable {
    func selfTest(_ request: SelfTestRequest) -> SelfTestOutcome
}

/// Runs the staged model on a reference series kept on the device and judges the result
/// (e.g. the known-negative exam stays negative). Optional.
public protocol ReferenceSeriesCheck: Sendable {
    func check(_ request: SelfTestRequest) -> SelfTestOutcome
}

/// The self-tester used until an inference engine is wired in: it proves the vectors are
/// complete and consistent and that the model file looks like an ONNX protobuf, and says
/// plainly that no inference ran. It never claims a numeric self-test.
public struct StructuralSelfTester: ModelSelfTester {
    public init() {}
    public func selfTest(_ request: SelfTestRequest) -> SelfTestOutcome {
        do {
            var elements = 0
            for c in request.vectors.cases {
                for t in c.inputs + c.expected {
                    let values = try request.load(t)
                    guard values.allSatisfy(\.isFinite) else { return .fail("tensor \(t.file) holds a non-finite value") }
                    elements += values.count
                }
            }
            // An ONNX ModelProto starts with field 1 (ir_version, varint): tag byte 0x08.
            let head = try DurableFiles.readPrefix(request.modelURL, count: 2)
            guard head.first == 0x08 else { return .fail("\(request.manifest.modelFile) does not start like an ONNX ModelProto") }
            return .pass("structural only: \(request.vectors.cases.count) vector case(s), \(elements) values readable; no inference engine wired, model not run")
        } catch {
            return .fail("\(error)")
        }
    }
}
