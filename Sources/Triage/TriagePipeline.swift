import DICOMIntake
import Dispatch
import Foundation
import Inference

/// One slice's detector output (slices of a thin series share their slab's probabilities).
public struct SliceProbabilities: Codable, Sendable, Equatable {
    public var sopInstanceUID: String
    public var probabilities: [HemorrhageLabel: Double]
}

/// One slice run through the detector's CNN while its series was still arriving (`TriagePipeline.prepare`).
public struct PreparedSlice: Sendable {
    public let sopInstanceUID: String
    public let path: String
    let rows: Int
    let columns: Int
    let stats: SeriesChecks.ImageStats
    /// The brain window at the model's resolution, for the Grad-CAM overlays.
    let brain: [Float]
    /// The front half's output for this slice (the quantized feature map).
    let cutValues: [UInt8]

    /// The slice's pixels could not be decoded (the series ends NOT ANALYSABLE with this reason).
    struct DecodeFailure: Error { var message: String }
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
    /// The CAM's own resolution (the last feature map's height and width, 8 x 8 for a 256 x 256
    /// input at stride 32): the upsampled peak sits on a cell centre, so it locates evidence only
    /// to within one cell of this grid (64 source pixels for a 512 matrix).
    public var camGrid: (rows: Int, columns: Int)
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
    private let frontLock = NSLock()  // the same for the front half of the detector (incremental inference)
    private let stagesLock = NSLock()
    private var stagesMade: Result<ModelSplit, Error>?

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

    /// Analyses a complete series. Slices in `prepared` (by SOP Instance UID, from `prepare(_:)` while the
    /// series was arriving) skip decoding and the CNN, so only the sequence head, the decision and Grad-CAM
    /// remain; thin series (slabs of several slices) ignore them, since slabs are averaged before the CNN.
    public func analyze(_ series: CTSeries, prepared: [String: PreparedSlice] = [:], arrivalTime: Date = Date()) -> SeriesAnalysis {
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

        if !prepared.isEmpty, slabPlan.slabs.allSatisfy({ $0.count == 1 }) {
            let c = analyzeIncrementally(series, prepared: prepared, bundle: bundle, clock: &clock, timings: &timings)
            return finish(c.tier, reason: c.reason, scores: c.scores, slices: c.slices, keys: c.keys)
        }

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

        let c = conclude(series, slabs: slabs, probs: probs, features: features, featureShape: featureShape,
                         brain: brain, bundle: bundle, rows: rows, columns: columns, clock: &clock, timings: &timings)
        return finish(c.tier, reason: c.reason, scores: c.scores, slices: c.slices, keys: c.keys)
    }

    /// What steps 5 and 6 decide.
    private struct Conclusion {
        var tier: Tier
        var reason: String?
        var scores: [HemorrhageLabel: Double] = [:]
        var slices: [SliceProbabilities] = []
        var keys: [KeyImage] = []
    }

    /// Steps 5 and 6, shared by the whole-series and the incremental paths: scores, tier, per-slice
    /// probabilities, key slices, and Grad-CAM over the brain window of each key slice.
    private func conclude(_ series: CTSeries, slabs: [[Int]], probs: [Float], features: UnsafeBufferPointer<Float>,
                          featureShape: [Int], brain: [Float], bundle: ModelBundle, rows: Int, columns: Int,
                          clock: inout Stopwatch, timings: inout [String: Double]) -> Conclusion {
        let size = preprocessing.outputSize, plane = size * size
        // 5. Scores, tier, per-slice probabilities, key slices.
        let labels = HemorrhageLabel.allCases
        var scores: [HemorrhageLabel: Double] = [:]
        for (l, label) in labels.enumerated() {
            scores[label] = (0..<slabs.count).map { Double(probs[$0 * 6 + l]) }.max() ?? 0
        }
        guard scores.values.allSatisfy({ $0.isFinite }) else {
            return Conclusion(tier: .notAnalysable, reason: "inference failed: the model produced non-finite probabilities")
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
                              (Double(peak % size) + 0.5) * Double(columns) / Double(size) - 0.5),
                    camGrid: (height, width))
            }
        }
        timings["gradcam"] = clock.lap()
        return Conclusion(tier: tier, reason: nil, scores: scores, slices: slices, keys: keys)
    }

    // MARK: incremental inference

    /// The detector cut after its CNN: the front half runs per slice as slices arrive, the back half
    /// (pooling, slice head, PCA, LSTM) once the series is complete. Made on first use.
    private func stages(_ bundle: ModelBundle) throws -> ModelSplit {
        stagesLock.lock()
        defer { stagesLock.unlock() }
        if let made = stagesMade { return try made.get() }
        // Cut at the int8 value the features are dequantized from, so that both halves keep the
        // original QDQ patterns and give exactly what the whole graph gives.
        var cut = "features"
        if let p = bundle.model.producer(of: cut), p.op == "DequantizeLinear", let source = p.inputs.first { cut = source }
        let made = Result { try bundle.model.split(at: [cut]) }
        stagesMade = made
        return try made.get()
    }

    /// Decodes one slice and runs the detector's CNN on it, ahead of its series' completion.
    public func prepare(_ slice: CTSlice) throws -> PreparedSlice {
        guard let bundle else { throw TriageError(.noValidModel, bundleProblem ?? "none given") }
        let split = try stages(bundle)
        let image: HUImage
        do {
            image = try HUDecoder.decode(path: slice.path, configuration: intake)
        } catch {
            throw PreparedSlice.DecodeFailure(message: "\(error)")
        }
        let stats = SeriesChecks.stats(hu: image.pixels, rows: image.rows, columns: image.columns,
                                       columnSpacingMm: slice.pixelSpacing?.last ?? 0.5)
        let size = preprocessing.outputSize
        frontLock.lock()
        defer { frontLock.unlock() }
        let plan = try split.front.plan(inputShapes: [ModelBundle.inputName: [1, 3, size, size]])
        let input = try plan.inputBuffer(ModelBundle.inputName).bindMemory(to: Float.self)
        image.pixels.withUnsafeBufferPointer {
            preprocessing.slice(hu: $0, rows: image.rows, columns: image.columns, into: input)
        }
        let brain = Array(input[0..<(size * size)])
        try plan.run()
        return PreparedSlice(sopInstanceUID: slice.sopInstanceUID, path: slice.path, rows: image.rows, columns: image.columns,
                             stats: stats, brain: brain, cutValues: [UInt8](try plan.outputBuffer(split.cut[0])))
    }

    private func analyzeIncrementally(
        _ series: CTSeries, prepared: [String: PreparedSlice], bundle: ModelBundle, clock: inout Stopwatch,
        timings: inout [String: Double]
    ) -> Conclusion {
        func notAnalysable(_ reason: String) -> Conclusion { Conclusion(tier: .notAnalysable, reason: reason) }
        // Slices that arrived unprepared (or whose file changed) are prepared now.
        var items: [PreparedSlice] = []
        for (i, slice) in series.slices.enumerated() {
            if let p = prepared[slice.sopInstanceUID], p.path == slice.path {
                items.append(p)
                continue
            }
            do {
                items.append(try prepare(slice))
            } catch let failure as PreparedSlice.DecodeFailure {
                return notAnalysable("decode failure: slice(s) \(i + 1): \(failure.message)")
            } catch {
                return notAnalysable("inference failed: \(error)")
            }
        }
        timings["decode"] = clock.lap()
        let rows = items[0].rows, columns = items[0].columns
        if let i = items.firstIndex(where: { $0.rows != rows || $0.columns != columns }) {
            return notAnalysable("inference failed: slice \(i + 1) is \(items[i].rows)x\(items[i].columns), the series \(rows)x\(columns)")
        }
        if let problem = SeriesChecks.imageProblem(items.map(\.stats), configuration) {
            return notAnalysable(problem)
        }

        let slabs = items.indices.map { [$0] }
        do {
            let split = try stages(bundle)
            guard let cutSpec = split.back.inputs.first else { throw TriageError(.inference, "the back half has no input") }
            let plan = try split.back.plan(inputShapes: [cutSpec.name: cutSpec.dims.map { $0 ?? items.count }])
            timings["plan"] = clock.lap()
            runLock.lock()
            defer { runLock.unlock() }
            let input = try plan.inputBuffer(cutSpec.name)
            let per = input.count / items.count
            for (j, item) in items.enumerated() {
                guard item.cutValues.count == per else { throw TriageError(.inference, "a prepared slice has \(item.cutValues.count) bytes, not \(per)") }
                item.cutValues.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: input[(j * per)..<((j + 1) * per)]).copyMemory(from: $0) }
            }
            try plan.run()
            // The features are the back half's output, or its input when the model is cut right at them (float models).
            let cutIsFeatures = cutSpec.name == "features"
            guard let p = plan.outputs["probs"], p.type == .float32, p.shape == [items.count, 6],
                  let f = cutIsFeatures ? plan.inputs["features"] : plan.outputs["features"],
                  f.type == .float32, f.shape.count == 4, f.shape[0] == items.count, f.shape[1] == bundle.sliceHead.inputs
            else { throw TriageError(.inference, "unexpected output types or shapes") }
            let probs = Array(try plan.outputBuffer("probs").bindMemory(to: Float.self))
            let features = cutIsFeatures ? UnsafeBufferPointer(input.bindMemory(to: Float.self))
                : try plan.outputBuffer("features").bindMemory(to: Float.self)
            timings["inference"] = clock.lap()
            return conclude(series, slabs: slabs, probs: probs, features: features, featureShape: f.shape,
                             brain: items.flatMap(\.brain), bundle: bundle, rows: rows, columns: columns,
                             clock: &clock, timings: &timings)
        } catch {
            return notAnalysable("inference failed: \(error)")
        }
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
