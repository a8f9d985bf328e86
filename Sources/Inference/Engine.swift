import CKernels
import Foundation

/// Settings of a loaded model.
public struct EngineOptions: Sendable {
    /// Worker threads (including the caller) for batch and layer splits; created once at load.
    public var threads: Int
    /// Batch size (dynamic dimensions) of the plan compiled at load to validate the graph.
    public var loadBatch: Int
    /// Compiled plans kept per model, least recently used dropped first. Each plan owns an arena sized
    /// for its shapes (about 2 MiB per slice for the detector), and a service sees a new slice count
    /// with almost every series: an unbounded cache would grow by gigabytes over a week.
    public var cachedPlans: Int
    /// Run stretches of per-image layers image by image (each thread takes whole images through them) rather
    /// than layer by layer over the batch. Same results; off only to measure the difference.
    public var imageByImage: Bool

    public init(threads: Int = 1, loadBatch: Int = 1, cachedPlans: Int = 4, imageByImage: Bool = true) {
        self.threads = max(1, threads)
        self.loadBatch = max(1, loadBatch)
        self.cachedPlans = max(1, cachedPlans)
        self.imageByImage = imageByImage
    }
}

/// A loaded, validated ONNX model. Plans for concrete input shapes are compiled once and cached; weights are
/// packed once per model. Not safe for concurrent runs (one run at a time per model).
public final class InferenceModel: @unchecked Sendable {
    public struct InputSpec: Sendable {
        public let name: String
        public let type: ElementType
        /// nil where the dimension is dynamic (e.g. the number of slices).
        public let dims: [Int?]
    }

    public let options: EngineOptions
    public let inputs: [InputSpec]
    public let outputNames: [String]
    let graph: Graph
    let pool: ThreadPool
    let cache = PackCache()
    private var plans: [String: CompiledPlan] = [:]
    /// Keys of `plans`, least recently used first.
    private var planOrder: [String] = []
    private let lock = NSLock()

    public convenience init(contentsOf url: URL, options: EngineOptions = EngineOptions()) throws {
        try self.init(graph: try ONNXLoader.load(contentsOf: url), options: options)
    }

    public convenience init(data: Data, options: EngineOptions = EngineOptions()) throws {
        try self.init(graph: try ONNXLoader.load(data), options: options)
    }

    init(graph: Graph, options: EngineOptions) throws {
        self.graph = graph
        self.options = options
        inputs = graph.inputs.map { InputSpec(name: $0.name, type: $0.type, dims: $0.dims) }
        outputNames = graph.outputs
        pool = ThreadPool(threads: options.threads)
        // Compile once now so that unsupported operators, types and inconsistent shapes fail at load time.
        _ = try plan(inputShapes: defaultShapes(batch: options.loadBatch))
    }

    /// Input shapes with every dynamic dimension set to `batch`.
    public func defaultShapes(batch: Int) -> [String: [Int]] {
        Dictionary(uniqueKeysWithValues: inputs.map { ($0.name, $0.dims.map { $0 ?? batch }) })
    }

    /// The compiled plan for these input shapes (and extra outputs: any intermediate value by name).
    public func plan(inputShapes: [String: [Int]], extraOutputs: [String] = []) throws -> CompiledPlan {
        let key = inputShapes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ";")
            + "|" + extraOutputs.joined(separator: ",")
        lock.lock()
        defer { lock.unlock() }
        planOrder.removeAll { $0 == key }
        planOrder.append(key)
        if let p = plans[key] { return p }
        let p: CompiledPlan
        do {
            p = try CompiledPlan(model: self, inputShapes: inputShapes, extraOutputs: extraOutputs)
        } catch {
            planOrder.removeLast()
            throw error
        }
        plans[key] = p
        // A plan still in a caller's hands stays alive (and usable) after it leaves the cache.
        while planOrder.count > options.cachedPlans { plans[planOrder.removeFirst()] = nil }
        return p
    }

    /// Plans held in the cache now.
    public var cachedPlanCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return plans.count
    }

    /// Convenience: runs the model on whole tensors and returns every output (and the extra ones) as tensors.
    /// Copies in and out; use `plan(...)` with `setInput`/`run`/`outputBuffer` for allocation-free runs.
    public func run(_ feeds: [String: Tensor], extraOutputs: [String] = []) throws -> [String: Tensor] {
        for spec in inputs where feeds[spec.name] == nil {
            throw InferenceError(.badInput, "no tensor given for input '\(spec.name)'")
        }
        let p = try plan(inputShapes: feeds.mapValues(\.shape), extraOutputs: extraOutputs)
        for (name, t) in feeds { try p.setInput(name, t) }
        try p.run()
        return Dictionary(uniqueKeysWithValues: p.outputNames.map { ($0, p.output($0)) })
    }

    /// Bytes of packed int8 weights held by the model.
    public var packedWeightBytes: Int { cache.totalBytes }
}

/// A model compiled for fixed input shapes: steps over one arena planned up front. `run()` allocates nothing.
public final class CompiledPlan: @unchecked Sendable {
    public struct ValueInfo: Sendable {
        public let type: ElementType
        public let shape: [Int]
    }

    public let inputs: [String: ValueInfo]
    public let outputs: [String: ValueInfo]
    /// Graph outputs first, then extra outputs, in request order.
    public let outputNames: [String]
    /// Bytes of activation memory: the plan's arena (inputs, outputs and batch-sized intermediates, with
    /// liveness-based reuse) plus every thread's image arena (one image of the intermediates that live only inside
    /// an image-by-image stretch).
    public let arenaBytes: Int
    /// Bytes of constants placed for this plan plus scratch.
    public let constantBytes: Int
    public let scratchBytes: Int
    /// Multiply-accumulates per run over conv/gemm/LSTM steps.
    public let macs: Int
    /// Of `macs`, those in int8 convolutions whose weights the kernels packed in their byte format (AVX2 without
    /// VNNI: layers with 7-bit-safe weights, e.g. from quantize_static(reduce_range=True)); 0 on other variants.
    public let byteFormatMacs: Int
    /// Of `macs`, those in int8 convolutions (the rest: float convolutions a mixed-precision model keeps, Gemm, LSTM).
    public let int8ConvMacs: Int
    public let stepLabels: [String]

    // What runs need from the model, held here rather than the model itself: the model caches its
    // plans, so a plan holding its model would keep both alive forever (a model replaced by an
    // update would never be freed, nor its worker threads stopped).
    let pool: ThreadPool
    /// The packed weights the steps point into.
    let cache: PackCache
    let steps: [Step]
    let store: ConstantStore
    let arena: UnsafeMutableRawPointer
    let scratch: UnsafeMutableRawPointer
    let scratchPerThread: Int
    /// Per thread: one image of every buffer that lives only inside an image-by-image stretch.
    let imageArena: UnsafeMutableRawPointer
    let imageArenaPerThread: Int
    let work: [ScheduledWork]
    /// First kernel failure of a stretch run (written by any worker; read after they are done).
    private var stretchFailure: (code: Int32, step: Int) = (0, 0)
    let inputBuffers: [String: Buffer]
    let outputBuffers: [String: Buffer]

    init(model: InferenceModel, inputShapes: [String: [Int]], extraOutputs: [String]) throws {
        pool = model.pool
        cache = model.cache
        store = ConstantStore()
        let planner = Planner(graph: model.graph, cache: model.cache, store: store, extraOutputs: extraOutputs)
        try planner.plan(inputShapes: inputShapes)
        let outs = try planner.finishOutputs()
        for b in planner.buffers where b.first == Int.max { b.first = b.last < 0 ? 0 : b.last; b.last = max(b.last, b.first) }
        let stretches = model.options.imageByImage ? ImageStretch.find(planner.steps, threads: pool.threadCount) : []
        imageArenaPerThread = ((stretches.map { $0.placeImageBuffers() }.max() ?? 0) + 63) / 64 * 64
        let mainArena = MemoryPlanner.place(planner.buffers.filter { $0.imageOffset < 0 })
        arenaBytes = mainArena + imageArenaPerThread * pool.threadCount
        arena = UnsafeMutableRawPointer.allocate(byteCount: max(mainArena, 64), alignment: 64)
        AllocationCounter.bump()
        for b in planner.buffers where b.imageOffset < 0 { b.ptr = arena + b.offset }
        scratchPerThread = (planner.scratchBytes + 63) / 64 * 64
        scratchBytes = scratchPerThread * pool.threadCount
        scratch = UnsafeMutableRawPointer.allocate(byteCount: max(scratchBytes, 64), alignment: 64)
        AllocationCounter.bump()
        imageArena = UnsafeMutableRawPointer.allocate(byteCount: max(imageArenaPerThread * pool.threadCount, 64), alignment: 64)
        AllocationCounter.bump()
        work = ScheduledWork.schedule(planner.steps, stretches)
        steps = planner.steps
        stepLabels = steps.map(\.label)
        macs = steps.reduce(0) { $0 + $1.macs }
        byteFormatMacs = steps.reduce(0) { $0 + (($1 as? QConvStep)?.weights.byteFormat == true ? $1.macs : 0) }
        int8ConvMacs = steps.reduce(0) { $0 + ($1 is QConvStep ? $1.macs : 0) }
        constantBytes = store.totalBytes
        var ins: [String: ValueInfo] = [:], inBufs: [String: Buffer] = [:]
        for spec in model.graph.inputs {
            let v = planner.values[spec.name]!
            ins[spec.name] = ValueInfo(type: v.type, shape: v.shape)
            inBufs[spec.name] = v.buffer!
        }
        var o: [String: ValueInfo] = [:], oBufs: [String: Buffer] = [:]
        for (name, v) in outs {
            o[name] = ValueInfo(type: v.type, shape: v.shape)
            oBufs[name] = v.buffer!
        }
        inputs = ins
        inputBuffers = inBufs
        outputs = o
        outputBuffers = oBufs
        outputNames = outs.map(\.0)
    }

    deinit {
        arena.deallocate()
        scratch.deallocate()
        imageArena.deallocate()
    }

    /// Writable storage of an input (row-major, its declared type and shape); valid as long as the plan.
    public func inputBuffer(_ name: String) throws -> UnsafeMutableRawBufferPointer {
        guard let b = inputBuffers[name], let info = inputs[name] else {
            throw InferenceError(.badInput, "the model has no input '\(name)'")
        }
        return UnsafeMutableRawBufferPointer(start: b.ptr, count: info.shape.reduce(1, *) * info.type.byteSize)
    }

    /// Storage of an output after `run()` (row-major NCHW order); valid until the next run.
    public func outputBuffer(_ name: String) throws -> UnsafeRawBufferPointer {
        guard let b = outputBuffers[name], let info = outputs[name] else {
            throw InferenceError(.badInput, "the plan has no output '\(name)'")
        }
        return UnsafeRawBufferPointer(start: b.ptr, count: info.shape.reduce(1, *) * info.type.byteSize)
    }

    public func setInput(_ name: String, _ t: Tensor) throws {
        guard let info = inputs[name] else { throw InferenceError(.badInput, "the model has no input '\(name)'") }
        guard t.type == info.type, t.shape == info.shape else {
            throw InferenceError(.badInput, "input '\(name)' is \(t.type) \(t.shape); this plan takes \(info.type) \(info.shape)")
        }
        let dst = try inputBuffer(name)
        t.bytes.withUnsafeBytes { dst.copyMemory(from: $0) }
    }

    public func output(_ name: String) -> Tensor {
        let info = outputs[name]!
        let src = try! outputBuffer(name)
        return Tensor(type: info.type, shape: info.shape, bytes: [UInt8](src))
    }

    /// Runs every step. Allocates nothing: all memory was planned when the plan was compiled.
    public func run() throws {
        let ctx = RunContext(pool: pool, scratch: scratch, scratchPerThread: scratchPerThread)
        for w in work {
            switch w {
            case .step(let s): try s.run(ctx)
            case .stretch(let st): try runStretch(st, nil)
            }
        }
    }

    /// Every thread takes whole images through the stretch (images handed out one at a time, so a thread
    /// slowed by other work on the machine takes fewer). `times` (profiling) gets each thread's seconds per step.
    private func runStretch(_ st: ImageStretch, _ times: UnsafeMutablePointer<Double>?) throws {
        stretchFailure = (0, 0)
        pool.parallelFor(st.images, dynamic: true) { n, t in
            let at = ImageSlot(arena: imageArena + t * imageArenaPerThread, scratch: scratch + t * scratchPerThread)
            for (i, s) in st.steps.enumerated() {
                let t0 = times == nil ? 0 : DispatchTime.now().uptimeNanoseconds
                let rc = s.runImage(n, at)
                if let times { times[t * st.steps.count + i] += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }
                if rc != ICK_OK { stretchFailure = (rc, i); return }
            }
        }
        if stretchFailure.code != ICK_OK {
            throw InferenceError(.kernel, "\(st.steps[stretchFailure.step].label): kernel failed (\(String(cString: ick_error_text(stretchFailure.code))))")
        }
    }

    /// Runs and reports seconds per step (profiling; allocates the result). Steps inside an image-by-image
    /// stretch report their time summed over images and averaged over the threads.
    public func profile() throws -> [(label: String, seconds: Double, macs: Int)] {
        let ctx = RunContext(pool: pool, scratch: scratch, scratchPerThread: scratchPerThread)
        var r: [(String, Double, Int)] = []
        for w in work {
            switch w {
            case .step(let s):
                let t0 = DispatchTime.now().uptimeNanoseconds
                try s.run(ctx)
                r.append((s.label, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9, s.macs))
            case .stretch(let st):
                let times = UnsafeMutablePointer<Double>.allocate(capacity: st.steps.count * pool.threadCount)
                defer { times.deallocate() }
                times.initialize(repeating: 0, count: st.steps.count * pool.threadCount)
                try runStretch(st, times)
                for (i, s) in st.steps.enumerated() {
                    let total = (0..<pool.threadCount).reduce(0) { $0 + times[$1 * st.steps.count + i] }
                    r.append((s.label, total / Double(pool.threadCount), s.macs))
                }
            }
        }
        return r
    }

    /// Name of the kernel variant in use.
    public static var kernelVariant: String { String(cString: ick_isa_name()) }
}
