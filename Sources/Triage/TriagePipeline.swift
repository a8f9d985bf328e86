import DICOMIntake
import Dispatch
import Foundation
import Inference

/// One slice's detector output (slices of a thin series share their slab's probabilities).
public struct SliceProbabilities: Codable, Sendable, Equatable {
    public var sopInstanceUID: String
    public var probabilities: [HemorrhageLabel: Double]
}

/// A key slice with its Grad-CAM overlay, ready to render.
public struct KeyImage: Sendable {
    public var keySlice: AlertRecord.KeySlice
    /// The label whose activation map is shown.
    public var label: HemorrhageLabel
    /// size x size RGB, interleaved: brain window with the CAM blended in.
    public var rgb: [UInt8]
    public var size: Int
    /// Where the CAM peaks, in the source slice's pixel coordinates (row, column).
    public var camPeak: (row: Double, column: Double)
}

/// Everything one series produced. `record` is what the service stores and the screen shows.
public struct SeriesAnalysis: Sendable {
    public var record: AlertRecord
    public var slices: [SliceProbabilities]
    public var keyImages: [KeyImage]
    /// Slices per slab the detector saw (1 unless the series is thin).
    public var slabs: [[Int]]
}

/// A complete series in, a triage decision with its explanation out:
/// checks -> decode (+ slab averaging) -> preprocessing -> detector (one batch) -> decision -> Grad-CAM.
public final class TriagePipeline: @unchecked Sendable {
    public let configuration: TriageConfiguration
    public let bundle: ModelBundle?
    /// Why there is no bundle (reported as the NOT ANALYSABLE reason of every series).
    public let bundleProblem: String?
    let intake: IntakeConfiguration
    let preprocessing = Preprocessing()
    private let runLock = NSLock()  // the engine runs one plan at a time per model

    public init(configuration: TriageConfiguration = TriageConfiguration(), bundle: ModelBundle?,
                bundleProblem: String? = nil, intake: IntakeConfiguration = IntakeConfiguration()) {
        self.configuration = configuration
        self.bundle = bundle
        self.bundleProblem = bundleProblem
        self.intake = intake
    }

    /// Loads the bundle at `modelFolder`; a bundle that does not load makes every series NOT ANALYSABLE
    /// ("no valid model: ...") rather than failing the caller.
    public convenience init(configuration: TriageConfiguration = TriageConfiguration(), modelFolder: URL) {
        do {
            let bundle = try ModelBundle(folder: modelFolder, threads: configuration.threads)
            self.init(configuration: configuration, bundle: bundle)
        } catch {
            self.init(configuration: configuration, bundle: nil, bundleProblem: "\(error)")
        }
    }

    public var modelIdentity: AlertRecord.Model {
        bundle.map { AlertRecord.Model(name: $0.name, version: $0.version) } ?? AlertRecord.Model(name: "none", version: "none")
    }

    public func analyze(_ series: CTSeries, arrivalTime: Date = Date()) -> SeriesAnalysis {
        var timings: [String: Double] = [:]
        var clock = Stopwatch()
        let slabPlan = SlabPlan(series: series, configuration)
        func finish(_ tier: Tier, reason: String?, scores: [HemorrhageLabel: Double] = [:],
                    slices: [SliceProbabilities] = [], keys: [KeyImage] = []) -> SeriesAnalysis {
            timings["total"] = timings.values.reduce(0, +)
            let record = AlertRecord(
                studyInstanceUID: series.studyInstanceUID, seriesInstanceUID: series.seriesInstanceUID,
                accessionNumber: series.accessionNumber.isEmpty ? nil : series.accessionNumber,
                patientInitials: series.patientInitials.isEmpty ? nil : series.patientInitials,
                studyDateTime: Self.studyDateTime(series.studyDate, series.studyTime),
                arrivalTime: arrivalTime, completionTime: Date(), probabilities: scores, tier: tier, reason: reason,
                keySlices: keys.map(\.keySlice), thumbnails: [], model: modelIdentity, timingsMs: timings)
            return SeriesAnalysis(record: record, slices: slices, keyImages: keys, slabs: slabPlan.slabs)
        }

        // 1. What the headers already tell.
        let headerProblem = SeriesChecks.headerProblem(series, configuration)
        timings["checks"] = clock.lap()
        if let headerProblem { return finish(.notAnalysable, reason: headerProblem) }
        guard let bundle else { return finish(.notAnalysable, reason: bundleProblem ?? "no valid model: none given") }

        // 2. Decode, averaging thin slices into slabs in HU, and look at the images.
        let slabs = slabPlan.slabs
        let first = series.slices[0]
        let rows = first.rows, columns = first.columns
        var decoded = [[Float]](repeating: [], count: slabs.count)
        var stats = [SeriesChecks.ImageStats](repeating: .init(outlineWidthMm: 0, airFraction: 1), count: slabs.count)
        let failure = FirstError()
        let columnSpacing = first.pixelSpacing?.last ?? 0.5
        decoded.withUnsafeMutableBufferPointer { decodedOut in
            stats.withUnsafeMutableBufferPointer { statsOut in
                parallelFor(slabs.count, threads: configuration.threads) { j in
                    do {
                        var sum = [Float](repeating: 0, count: rows * columns)
                        for i in slabs[j] {
                            let image = try HUDecoder.decode(path: series.slices[i].path, configuration: self.intake)
                            guard image.rows == rows, image.columns == columns else {
                                throw TriageError(.inference, "slice \(i + 1) is \(image.rows)x\(image.columns), the series \(rows)x\(columns)")
                            }
                            if slabs[j].count == 1 { sum = image.pixels } else { for p in 0..<sum.count { sum[p] += image.pixels[p] } }
                        }
                        if slabs[j].count > 1 {
                            let n = Float(slabs[j].count)
                            for p in 0..<sum.count { sum[p] /= n }
                        }
                        statsOut[j] = SeriesChecks.stats(hu: sum, rows: rows, columns: columns, columnSpacingMm: columnSpacing)
                        decodedOut[j] = sum
                    } catch {
                        failure.record("slice(s) \(slabs[j].map { String($0 + 1) }.joined(separator: ",")): \(error)")
                    }
                }
            }
        }
        timings["decode"] = clock.lap()
        if let message = failure.message { return finish(.notAnalysable, reason: "decode failure: \(message)") }
        if let problem = SeriesChecks.imageProblem(stats, configuration) { return finish(.notAnalysable, reason: problem) }

        // 3. Preprocess straight into the engine's input, keeping the brain window for the overlays.
        let size = preprocessing.outputSize, plane = size * size
        let perSlice = preprocessing.valuesPerSlice
        let plan: CompiledPlan
        do {
            plan = try bundle.model.plan(inputShapes: [ModelBundle.inputName: [slabs.count, 3, size, size]])
        } catch {
            return finish(.notAnalysable, reason: "inference failed: \(error)")
        }
        timings["plan"] = clock.lap()
        runLock.lock()
        defer { runLock.unlock() }
        var brain = [Float](repeating: 0, count: slabs.count * plane)
        do {
            let input = try plan.inputBuffer(ModelBundle.inputName).bindMemory(to: Float.self)
            brain.withUnsafeMutableBufferPointer { brainOut in
                decoded.withUnsafeMutableBufferPointer { hu in
                    parallelFor(slabs.count, threads: configuration.threads) { j in
                        let out = UnsafeMutableBufferPointer(rebasing: input[(j * perSlice)..<((j + 1) * perSlice)])
                        hu[j].withUnsafeBufferPointer {
                            self.preprocessing.slice(hu: $0, rows: rows, columns: columns, into: out)
                        }
                        hu[j] = []  // free as we go: a thin series must not hold every slab's HU
                        UnsafeMutableBufferPointer(rebasing: brainOut[(j * plane)..<((j + 1) * plane)])
                            .update(fromContentsOf: out[0..<plane])
                    }
                }
            }
        } catch {
            return finish(.notAnalysable, reason: "inference failed: \(error)")
        }
        decoded = []
        timings["preprocess"] = clock.lap()
        if let dump = configuration.inputDumpFolder {
            do {
                let input = try plan.inputBuffer(ModelBundle.inputName)
                let name = TriageOutputs.safeName(series.seriesInstanceUID)
                try NPY.write(Tensor(type: .float32, shape: [slabs.count, 3, size, size], bytes: [UInt8](input)),
                              to: URL(fileURLWithPath: dump).appendingPathComponent("\(name)-input.npy"))
                try slabs.map { $0.map { series.slices[$0].path }.joined(separator: "\t") }.joined(separator: "\n")
                    .write(toFile: dump + "/\(name)-slices.txt", atomically: true, encoding: .utf8)
            } catch {
                return finish(.notAnalysable, reason: "inference failed: cannot dump the input: \(error)")
            }
        }

        // 4. The detector, one batch for the whole series.
        let probs: [Float]
        let featureShape: [Int]
        let features: UnsafeBufferPointer<Float>
        do {
            try plan.run()
            guard let p = plan.outputs["probs"], p.type == .float32, p.shape == [slabs.count, 6],
                  let f = plan.outputs["features"], f.type == .float32, f.shape.count == 4, f.shape[0] == slabs.count,
                  f.shape[1] == bundle.sliceHead.inputs
            else { throw TriageError(.inference, "unexpected output types or shapes") }
            probs = Array(try plan.outputBuffer("probs").bindMemory(to: Float.self))
            featureShape = f.shape
            features = try plan.outputBuffer("features").bindMemory(to: Float.self)
        } catch {
            return finish(.notAnalysable, reason: "inference failed: \(error)")
        }
        timings["inference"] = clock.lap()

        // 5. Scores, tier, per-slice probabilities, key slices.
        let labels = HemorrhageLabel.allCases
        var scores: [HemorrhageLabel: Double] = [:]
        for (l, label) in labels.enumerated() {
            scores[label] = (0..<slabs.count).map { Double(probs[$0 * 6 + l]) }.max() ?? 0
        }
        guard scores.values.allSatisfy({ $0.isFinite }) else {
            return finish(.notAnalysable, reason: "inference failed: the model produced non-finite probabilities")
        }
        let decision = Decision(bundle: bundle, configuration: configuration)
        let tier = decision.tier(scores)
        var slabOf = [Int](repeating: 0, count: series.slices.count)
        for (j, slab) in slabs.enumerated() { for i in slab { slabOf[i] = j } }
        let slices = series.slices.enumerated().map { i, slice in
            SliceProbabilities(sopInstanceUID: slice.sopInstanceUID, probabilities: Dictionary(
                uniqueKeysWithValues: labels.enumerated().map { ($1, Double(probs[slabOf[i] * 6 + $0])) }))
        }
        var alerting = Array(decision.alertingLabels(scores).prefix(configuration.maximumAlertingLabels))
        if alerting.isEmpty && configuration.keyImagesForNegatives { alerting = [.any] }
        var keySlabs: [(slab: Int, label: HemorrhageLabel)] = []
        for label in alerting {
            let l = labels.firstIndex(of: label)!
            let peak = (0..<slabs.count).max { probs[$0 * 6 + l] < probs[$1 * 6 + l] }!
            let window = max(0, peak - configuration.keySliceNeighbours)...min(slabs.count - 1, peak + configuration.keySliceNeighbours)
            for j in window where !keySlabs.contains(where: { $0.slab == j }) { keySlabs.append((j, label)) }
        }
        keySlabs.sort { $0.slab < $1.slab }
        timings["decision"] = clock.lap()

        // 6. Grad-CAM over the brain window for each key slice.
        let (channels, height, width) = (featureShape[1], featureShape[2], featureShape[3])
        let keys: [KeyImage] = brain.withUnsafeBufferPointer { grey in
            keySlabs.map { j, label in
                let l = labels.firstIndex(of: label)!
                let perFeature = channels * height * width
                let cam = GradCAM.map(features: UnsafeBufferPointer(rebasing: features[(j * perFeature)..<((j + 1) * perFeature)]),
                                      channels: channels, height: height, width: width,
                                      head: bundle.sliceHead.weight, headInputs: bundle.sliceHead.inputs, label: l)
                let up = GradCAM.upsample(cam, height: height, width: width, size: size)
                let rgb = GradCAM.blend(grey: UnsafeBufferPointer(rebasing: grey[(j * plane)..<((j + 1) * plane)]),
                                        cam: up, opacity: configuration.overlayOpacity)
                let peak = up.indices.max { up[$0] < up[$1] } ?? 0
                let sliceIndex = SlabPlan.centre(slabs[j])
                return KeyImage(
                    keySlice: AlertRecord.KeySlice(index: sliceIndex, sopInstanceUID: series.slices[sliceIndex].sopInstanceUID,
                                                   probability: Double(probs[j * 6 + l])),
                    label: label, rgb: rgb, size: size,
                    camPeak: ((Double(peak / size) + 0.5) * Double(rows) / Double(size) - 0.5,
                              (Double(peak % size) + 0.5) * Double(columns) / Double(size) - 0.5))
            }
        }
        timings["gradcam"] = clock.lap()
        return finish(tier, reason: nil, scores: scores, slices: slices, keys: keys)
    }

    static func studyDateTime(_ date: String, _ time: String) -> String? {
        let d = date.filter(\.isNumber)
        guard d.count == 8 else { return nil }
        let t = (time.split(separator: ".").first.map(String.init) ?? "").filter(\.isNumber).padding(toLength: 6, withPad: "0", startingAt: 0)
        let c = Array(d), h = Array(t)
        return "\(String(c[0..<4]))-\(String(c[4..<6]))-\(String(c[6..<8]))T\(String(h[0..<2])):\(String(h[2..<4])):\(String(h[4..<6]))"
    }
}

/// Milliseconds between laps.
struct Stopwatch {
    private var last = DispatchTime.now().uptimeNanoseconds
    mutating func lap() -> Double {
        let now = DispatchTime.now().uptimeNanoseconds
        defer { last = now }
        return Double(now - last) / 1e6
    }
}

/// The first error message from parallel workers.
final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var message: String?
    func record(_ m: String) { lock.lock(); if message == nil { message = m }; lock.unlock() }
}

/// Runs body(0..<count) on `threads` workers (the caller included), each taking every threads-th index.
func parallelFor(_ count: Int, threads: Int, _ body: (Int) -> Void) {
    let workers = max(1, min(threads, count))
    if workers == 1 { for i in 0..<count { body(i) }; return }
    withoutActuallyEscaping(body) { body in
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for i in stride(from: w, to: count, by: workers) { body(i) }
        }
    }
}
