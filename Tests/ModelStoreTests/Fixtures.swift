import Foundation
import XCTest
@testable import ModelStore

/// A fresh temporary folder per test, removed afterwards. It lies in RAM (/dev/shm) when
/// possible: every store write is fsync'ed and an fsync costs ~12 ms on this disk, which would
/// make the suite minutes long. kill -9 does not drop the page cache, so what the power-cut
/// test proves is the same on tmpfs (ICHTRIAGE_TEST_TMPDIR overrides the choice).
final class Workspace {
    let root: URL
    static let base: URL = {
        if let dir = ProcessInfo.processInfo.environment["ICHTRIAGE_TEST_TMPDIR"] { return URL(fileURLWithPath: dir) }
        if access("/dev/shm", W_OK) == 0 { return URL(fileURLWithPath: "/dev/shm") }
        return FileManager.default.temporaryDirectory
    }()
    init(_ name: String = "ms") {
        root = Workspace.base
            .appendingPathComponent("ichtriage-\(name)-\(getpid())-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }
    func url(_ rel: String) -> URL { root.appendingPathComponent(rel) }
    func folder(_ rel: String) -> URL {
        let u = url(rel)
        try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }
    deinit { try? FileManager.default.removeItem(at: root) }
}

/// Builds realistic bundle sources and signed bundles with throwaway keys.
struct BundleFactory {
    let workspace: Workspace
    /// Seeds the fixture model; the self-tester double emulates an engine for this model.
    var modelSeed: UInt64 = 7

    /// Writes a source folder the way an engineer's training output looks.
    func source(version: String, downgrade: Bool = false, paddingBytes: Int = 0,
                minimumAppliance: String = "0.1.0", wrongExpectedOutputs: Bool = false, flatModel: Bool = false) -> URL {
        let dir = workspace.folder("src-\(version)-\(UUID().uuidString.prefix(6))")
        let fixture = ONNXFixture(seed: modelSeed, paddingBytes: paddingBytes, flat: flatModel)
        try! fixture.modelBytes().write(to: dir.appendingPathComponent("model.onnx"))
        let selftest = dir.appendingPathComponent("selftest")
        try! FileManager.default.createDirectory(at: selftest, withIntermediateDirectories: true)
        var cases: [SelfTestVectors.Case] = []
        for (i, n) in [2, 5].enumerated() {
            let input = fixture.input(slices: n, seed: UInt64(100 + i))
            var expected = fixture.forward(input, slices: n)
            if wrongExpectedOutputs { expected[3] += 0.25 }
            try! floatBytes(input).write(to: selftest.appendingPathComponent("case\(i)-slices.f32"))
            try! floatBytes(expected).write(to: selftest.appendingPathComponent("case\(i)-probabilities.f32"))
            cases.append(.init(name: "case\(i)",
                               inputs: [.init(name: "slices", shape: [n, 3, fixture.sliceSize, fixture.sliceSize], file: "selftest/case\(i)-slices.f32")],
                               expected: [.init(name: "probabilities", shape: [n, 6], file: "selftest/case\(i)-probabilities.f32")]))
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try! enc.encode(SelfTestVectors(tolerance: 1e-4, cases: cases)).write(to: selftest.appendingPathComponent("vectors.json"))
        try! Data("# ich-detector \(version)\n\nTest fixture release.\n".utf8).write(to: dir.appendingPathComponent("RELEASE-NOTES.md"))
        let template: [String: Any] = [
            "modelName": "ich-detector", "modelVersion": version, "minimumApplianceVersion": minimumAppliance,
            "calibrationId": "calib-test-\(version)", "downgradeAllowed": downgrade,
            "input": ["tensorName": "slices", "sliceWidth": fixture.sliceSize, "sliceHeight": fixture.sliceSize,
                      "windows": [["name": "brain", "center": 40, "width": 80], ["name": "subdural", "center": 80, "width": 200],
                                  ["name": "soft-tissue", "center": 40, "width": 380]],
                      "minSlices": 1, "maxSlices": 64, "elementType": "float32"],
            "thresholds": ["any": 0.31, "epidural": 0.2, "intraparenchymal": 0.25, "intraventricular": 0.22,
                           "subarachnoid": 0.27, "subdural": 0.24],
        ]
        try! JSONSerialization.data(withJSONObject: template, options: [.prettyPrinted, .sortedKeys])
            .write(to: dir.appendingPathComponent("manifest.json"))
        return dir
    }

    /// Packs (and signs, when a key is given) a bundle; archive form unless `folder`.
    func bundle(version: String, key: ModelSigningKey?, folder: Bool = false, downgrade: Bool = false,
                paddingBytes: Int = 0, minimumAppliance: String = "0.1.0", wrongExpectedOutputs: Bool = false,
                flatModel: Bool = false) throws -> URL {
        let src = source(version: version, downgrade: downgrade, paddingBytes: paddingBytes,
                         minimumAppliance: minimumAppliance, wrongExpectedOutputs: wrongExpectedOutputs, flatModel: flatModel)
        let out = workspace.url("ich-detector-\(version)-\(UUID().uuidString.prefix(6))" + (folder ? "" : ".ichmodel"))
        try BundlePacker.pack(source: src, output: out)
        if let key { try BundlePacker.sign(bundle: out, with: key) }
        return out
    }
}

/// Stands in for the inference engine: runs the fixture model's arithmetic on the bundle's
/// input vectors and compares with the expected outputs at the bundle's tolerance.
struct FixtureEngineDouble: ModelSelfTester {
    var modelSeed: UInt64 = 7
    func selfTest(_ request: SelfTestRequest) -> SelfTestOutcome {
        let fixture = fixtureModel(in: request, seed: modelSeed)
        do {
            var worst = 0.0
            for c in request.vectors.cases {
                let input = try request.load(c.inputs[0])
                let actual = fixture.forward(input, slices: c.inputs[0].shape[0])
                guard let err = SelfTestRequest.maxAbsoluteError(expected: try request.load(c.expected[0]), actual: actual) else {
                    return .fail("case \(c.name): output count differs")
                }
                worst = max(worst, err)
                let tolerance = request.vectors.tolerance(for: c.expected[0])
                if err > tolerance {
                    return .fail("case \(c.name): max |error| \(err) over tolerance \(tolerance)")
                }
            }
            return .pass("\(request.vectors.cases.count) cases, max |error| \(worst)")
        } catch { return .fail("\(error)") }
    }
}

/// The fixture model a bundle holds: the flat variant when its file is exactly that model,
/// else the seeded one (the doubles compute what an engine would for it).
func fixtureModel(in request: SelfTestRequest, seed: UInt64) -> ONNXFixture {
    let flat = ONNXFixture(seed: seed, flat: true)
    if (try? Data(contentsOf: request.modelURL)) == flat.modelBytes() { return flat }
    return ONNXFixture(seed: seed)
}

/// Stands in for the appliance's reference-series check (Appliance.ReferenceSeriesChecker, which
/// needs the triage pipeline) with the same rules on the fixture model: two inputs the "device"
/// holds (never from the bundle) must give finite probabilities in [0, 1], one row per slice,
/// that depend on the input. A collapsed (flat) model fails.
struct FixtureReferenceDouble: ReferenceSeriesCheck {
    var modelSeed: UInt64 = 7
    func check(_ request: SelfTestRequest) -> SelfTestOutcome {
        let fixture = fixtureModel(in: request, seed: modelSeed)
        var rows: [[Float]] = []
        for (seed, scale) in [(UInt64(501), Float(1)), (UInt64(502), Float(0.2))] {
            let input = fixture.input(slices: 4, seed: seed).map { $0 * scale }
            let out = fixture.forward(input, slices: 4)
            guard out.count == 4 * 6, out.allSatisfy({ $0.isFinite && $0 >= 0 && $0 <= 1 }) else {
                return .fail("reference input \(seed): outputs not finite in [0, 1] with one row per slice")
            }
            rows += stride(from: 0, to: out.count, by: 6).map { Array(out[$0..<($0 + 6)]) }
        }
        let spread = (0..<6).map { l in rows.map { $0[l] }.max()! - rows.map { $0[l] }.min()! }.max()!
        guard spread > 0 else {
            return .fail("the model gives the same probabilities for every slice of every reference series: its output does not depend on the image")
        }
        return .pass("\(rows.count) reference rows finite, in [0, 1], spread \(spread)")
    }
}

/// Keys for a test: a trusted pair (rotation: old + new) and an untrusted one.
struct TestKeys {
    let trustedOld = ModelSigningKey(name: "test-old")
    let trustedNew = ModelSigningKey(name: "test-new")
    let untrusted = ModelSigningKey(name: "stranger")
    let directory: URL

    init(_ ws: Workspace) {
        directory = ws.folder("keys")
        let privates = ws.folder("private")
        _ = try! trustedOld.write(privateKeyTo: privates.appendingPathComponent("old.key"))
        _ = try! trustedNew.write(privateKeyTo: privates.appendingPathComponent("new.key"))
        for k in [trustedOld, trustedNew] {
            try! TrustedKey(name: k.name, publicKey: k.publicKey).fileBytes()
                .write(to: directory.appendingPathComponent("\(k.name).pub"))
        }
    }

    var trusted: TrustedKeys { try! TrustedKeys.load(from: directory) }
}

/// Workspace, keys, bundle factory and a store: what most store tests start from.
struct StoreTestEnvironment {
    let ws: Workspace
    let keys: TestKeys
    let factory: BundleFactory
    let store: ModelStore

    init(_ name: String, probation: Int = 0) {
        ws = Workspace(name)
        keys = TestKeys(ws)
        factory = BundleFactory(workspace: ws)
        store = makeStore(ws, keys: keys, probation: probation)
    }

    /// A signed single-file bundle of `version` (trusted key).
    func bundle(_ version: String) throws -> URL { try factory.bundle(version: version, key: keys.trustedOld) }
}

func makeStore(_ ws: Workspace, keys: TestKeys, tester: ModelSelfTester = FixtureEngineDouble(),
               probation: Int = 0) -> ModelStore {
    var c = ModelStoreConfiguration(storeDirectory: ws.url("store"), keysDirectory: keys.directory)
    c.probationAnalyses = probation
    return ModelStore(configuration: c, selfTester: tester)
}

/// Flips one bit of a file in place.
func flipBit(_ url: URL, at offset: Int, bit: UInt8 = 0x10) throws {
    var d = try Data(contentsOf: url)
    d[offset] ^= bit
    try d.write(to: url)
}
