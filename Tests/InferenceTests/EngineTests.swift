import Foundation
import XCTest
@testable import Inference

#if canImport(Glibc)
import Glibc
#endif

/// glibc heap bytes in use, from malloc_info's XML totals (malloc.h is not in Swift's Glibc module).
enum HeapProbe {
    static func bytesInUse() -> Int? {
        #if canImport(Glibc)
        guard let sym = dlsym(dlopen(nil, RTLD_NOW), "malloc_info") else { return nil }
        typealias MallocInfo = @convention(c) (Int32, UnsafeMutablePointer<FILE>?) -> Int32
        let mallocInfo = unsafeBitCast(sym, to: MallocInfo.self)
        var buf: UnsafeMutablePointer<CChar>?
        var size = 0
        guard let f = open_memstream(&buf, &size) else { return nil }
        _ = mallocInfo(0, f)
        fclose(f)
        guard let buf else { return nil }
        let xml = String(cString: buf)
        free(buf)
        func last(_ prefix: String) -> Int? {
            guard let r = xml.range(of: prefix, options: .backwards) else { return nil }
            let rest = xml[r.upperBound...]
            guard let s = rest.range(of: "size=\""), let e = rest[s.upperBound...].firstIndex(of: "\"") else { return nil }
            return Int(rest[s.upperBound..<e])
        }
        guard let current = last("<system type=\"current\""), let fast = last("<total type=\"fast\""),
              let rest = last("<total type=\"rest\"") else { return nil }
        return current - fast - rest + (last("<total type=\"mmap\"") ?? 0)
        #else
        return nil
        #endif
    }
}

final class EngineTests: XCTestCase {
    func input(_ shape: [Int], seed: UInt64 = 1) -> Tensor {
        var s = seed
        let v = (0..<shape.reduce(1, *)).map { _ -> Float in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(s >> 40) / Float(1 << 24)
        }
        return Tensor(floats: v, shape: shape)
    }

    /// The int8 engine against a float evaluation of the same QDQ graph (Q/DQ as ONNX defines them).
    func testSmallQDQMatchesFloatReference() throws {
        try checkSmallQDQAgainstFloatReference(sevenBit: false)
    }

    /// 7-bit weights (quantize_static reduce_range=True): on AVX2 the conv runs in the kernels' byte format
    /// (vpmaddubsw); full-range weights keep the int16 format. Both match the float reference.
    func testSevenBitWeightsTakeTheByteFormatOnAVX2() throws {
        for sevenBit in [false, true] {
            let model = try InferenceModel(data: try ModelBuilder.smallQDQ(sevenBit: sevenBit).data())
            let plan = try model.plan(inputShapes: ["x": [3, 3, 8, 8]])
            let convMacs = plan.steps.compactMap { $0 as? QConvStep }.reduce(0) { $0 + $1.macs }
            XCTAssertGreaterThan(convMacs, 0)
            let expected = sevenBit && CompiledPlan.kernelVariant == "avx2" ? convMacs : 0
            XCTAssertEqual(plan.byteFormatMacs, expected, "7-bit weights: \(sevenBit), kernels \(CompiledPlan.kernelVariant)")
            try checkSmallQDQAgainstFloatReference(sevenBit: sevenBit)
        }
    }

    func checkSmallQDQAgainstFloatReference(sevenBit: Bool) throws {
        let model = try InferenceModel(data: try ModelBuilder.smallQDQ(sevenBit: sevenBit).data())
        let x = input([3, 3, 8, 8])
        let out = try model.run(["x": x], extraOutputs: ["rq"])
        XCTAssertEqual(out["probs"]!.shape, [3, 2])
        XCTAssertEqual(out["rq"]!.shape, [3, 4, 8, 8])
        XCTAssertEqual(out["rq"]!.type, .uint8)
        // Reference: quantize input, float conv with dequantized weights, requantize.
        let xq = x.floats.map { min(255, max(0, ($0 * 255).rounded(.toNearestOrEven))) / 255 }
        let ws = (0..<4).map { 0.002 + Float($0) * 0.001 }
        let wq = ModelBuilder.smallQDQWeights(channels: 4, sevenBit: sevenBit)
        let rq = out["rq"]!.bytes
        var maxStep = 0
        for n in 0..<3 { for o in 0..<4 { for y in 0..<8 { for xx in 0..<8 {
            var acc: Float = Float(o) * 0.01 - 0.01
            for c in 0..<3 { for ky in 0..<3 { for kx in 0..<3 {
                let iy = y + ky - 1, ix = xx + kx - 1
                if iy < 0 || iy > 7 || ix < 0 || ix > 7 { continue }
                acc += xq[((n * 3 + c) * 8 + iy) * 8 + ix] * Float(wq[((o * 3 + c) * 3 + ky) * 3 + kx]) * ws[o]
            } } }
            let q = Int(min(255, max(0, (max(acc, 0) / 0.02).rounded(.toNearestOrEven))))
            maxStep = max(maxStep, abs(q - Int(rq[((n * 4 + o) * 8 + y) * 8 + xx])))
        } } } }
        XCTAssertLessThanOrEqual(maxStep, 1, "int8 conv output differs from the float reference by \(maxStep) steps")
    }

    func testBatchIsDynamicAndPlansAreCached() throws {
        let model = try InferenceModel(data: try ModelBuilder.smallQDQ().data())
        let one = try model.run(["x": input([1, 3, 8, 8], seed: 5)])["probs"]!
        let batch = try model.run(["x": Tensor(floats: input([1, 3, 8, 8], seed: 5).floats + input([1, 3, 8, 8], seed: 9).floats,
                                               shape: [2, 3, 8, 8])])["probs"]!
        XCTAssertEqual(Array(batch.floats.prefix(2)), one.floats, "slice 0 must not depend on the batch")
        let p1 = try model.plan(inputShapes: ["x": [4, 3, 8, 8]])
        let p2 = try model.plan(inputShapes: ["x": [4, 3, 8, 8]])
        XCTAssertTrue(p1 === p2)
        XCTAssertThrowsError(try model.run(["x": input([2, 3, 9, 8])])) { e in
            XCTAssertEqual((e as? InferenceError)?.code, .badInput)
        }
    }

    func testThreadsGiveIdenticalResults() throws {
        let data = try ModelBuilder.smallQDQ(channels: 8).data()
        let x = input([5, 3, 8, 8], seed: 3)
        let a = try InferenceModel(data: data, options: EngineOptions(threads: 1)).run(["x": x], extraOutputs: ["pq"])
        let b = try InferenceModel(data: data, options: EngineOptions(threads: 3)).run(["x": x], extraOutputs: ["pq"])
        XCTAssertEqual(a["pq"], b["pq"])
        XCTAssertEqual(a["probs"], b["probs"])
    }

    /// Image by image (whole images through stretches of per-image layers, their intermediates in per-thread
    /// image arenas) gives exactly what layer by layer gives, with every thread count. (Named to run after
    /// testRunAllocatesNothing: the worker threads of the models it frees would disturb that test's heap probe.)
    func testStretchesImageByImageEqualLayerByLayer() throws {
        let data = try ModelBuilder.smallQDQ(channels: 8).data()
        let x = input([6, 3, 8, 8], seed: 11)
        let layers = try InferenceModel(data: data, options: EngineOptions(threads: 2, imageByImage: false))
        let reference = try layers.run(["x": x], extraOutputs: ["pq"])
        for threads in [1, 2, 3] {
            let model = try InferenceModel(data: data, options: EngineOptions(threads: threads))
            let plan = try model.plan(inputShapes: ["x": [6, 3, 8, 8]], extraOutputs: ["pq"])
            XCTAssertGreaterThan(plan.imageArenaPerThread, 0, "the convolutions should form an image-by-image stretch")
            let out = try model.run(["x": x], extraOutputs: ["pq"])
            XCTAssertEqual(out["pq"], reference["pq"], "\(threads) threads")
            XCTAssertEqual(out["probs"], reference["probs"], "\(threads) threads")
            XCTAssertEqual(try plan.profile().count, plan.stepLabels.count)
        }
    }

    /// No heap allocation inside a run: the engine's allocation counter (arenas, scratch) does not move, and
    /// glibc's in-use heap bytes are the same before and after repeated runs.
    func testRunAllocatesNothing() throws {
        let model = try InferenceModel(data: try ModelBuilder.smallQDQ().data(), options: EngineOptions(threads: 2))
        let plan = try model.plan(inputShapes: ["x": [4, 3, 8, 8]], extraOutputs: ["rq"])
        try plan.setInput("x", input([4, 3, 8, 8]))
        try plan.run()
        let before = AllocationCounter.count
        var heapBefore = HeapProbe.bytesInUse()  // the probe's own first call (dlopen) allocates for good
        // Worker threads of models freed by earlier tests may still be exiting (their cleanup allocates
        // and frees on those threads): wait until the heap is quiet before measuring.
        for _ in 0..<40 {
            usleep(50_000)
            let now = HeapProbe.bytesInUse()
            if now == heapBefore { break }
            heapBefore = now
        }
        for _ in 0..<20 { try plan.run() }
        let heapAfter = HeapProbe.bytesInUse()
        if let heapBefore, let heapAfter {
            XCTAssertEqual(heapAfter, heapBefore, "heap in use changed across runs")
        } else {
            print("heap probe unavailable here (not glibc); only the engine's allocation counter is checked")
        }
        XCTAssertEqual(AllocationCounter.count, before, "a run allocated engine memory")
        XCTAssertGreaterThan(plan.arenaBytes, 0)
    }

    /// A model no one holds is freed with its cached plans (arenas) and worker threads, even after a
    /// plan was used: a model replaced by an update must not stay in memory for the life of the service.
    /// (Found by the ONNX fuzzer's leak checker: plans held their model, the model held its plans.)
    func testAModelAndItsPlansAreFreedWhenReleased() throws {
        weak var released: InferenceModel?
        weak var releasedPlan: CompiledPlan?
        do {
            let model = try InferenceModel(data: try ModelBuilder.smallQDQ().data(), options: EngineOptions(threads: 2))
            let plan = try model.plan(inputShapes: ["x": [2, 3, 8, 8]])
            try plan.setInput("x", input([2, 3, 8, 8]))
            try plan.run()
            released = model
            releasedPlan = plan
        }
        XCTAssertNil(released, "the model is still alive")
        XCTAssertNil(releasedPlan, "its plan is still alive")
    }

    /// A plan kept after its model is gone still runs (it holds the pool and packed weights it uses).
    func testAPlanOutlivesItsModel() throws {
        var model: InferenceModel? = try InferenceModel(data: try ModelBuilder.smallQDQ().data(), options: EngineOptions(threads: 2))
        let plan = try model!.plan(inputShapes: ["x": [2, 3, 8, 8]])
        try plan.setInput("x", input([2, 3, 8, 8]))
        try plan.run()
        let first = plan.output("probs")
        model = nil
        try plan.setInput("x", input([2, 3, 8, 8]))  // the arena may reuse the input's bytes during a run
        try plan.run()
        XCTAssertEqual(plan.output("probs"), first)
    }

    /// The plan cache is bounded: a service meeting a new slice count with every series must not keep
    /// an arena per count for ever. Recently used plans stay; a plan dropped from the cache still runs
    /// for whoever holds it, and is compiled again when asked for.
    func testPlanCacheKeepsOnlyTheMostRecentlyUsedPlans() throws {
        let model = try InferenceModel(data: try ModelBuilder.smallQDQ().data(), options: EngineOptions(threads: 1, cachedPlans: 3))
        XCTAssertEqual(model.cachedPlanCount, 1, "the plan compiled at load")
        weak var firstPlan: CompiledPlan?
        let kept = try model.plan(inputShapes: ["x": [2, 3, 8, 8]])
        let held = try model.plan(inputShapes: ["x": [3, 3, 8, 8]])
        do { firstPlan = try model.plan(inputShapes: ["x": [4, 3, 8, 8]]) }
        XCTAssertTrue(try model.plan(inputShapes: ["x": [2, 3, 8, 8]]) === kept)
        for batch in 5...9 {
            _ = try model.plan(inputShapes: ["x": [batch, 3, 8, 8]])
            XCTAssertTrue(try model.plan(inputShapes: ["x": [2, 3, 8, 8]]) === kept, "a plan in use every time stays cached")
            XCTAssertLessThanOrEqual(model.cachedPlanCount, 3)
        }
        XCTAssertNil(firstPlan, "a plan nobody holds was freed when it left the cache")
        XCTAssertFalse(try model.plan(inputShapes: ["x": [3, 3, 8, 8]]) === held, "an evicted plan is compiled again")
        try held.setInput("x", input([3, 3, 8, 8]))
        try held.run()
        XCTAssertEqual(held.output("probs").shape.first, 3, "the evicted plan still ran on its own shapes")
    }

    /// DequantizeLinear -> Relu/Clip -> QuantizeLinear on an int8 tensor runs as a 256-entry table (the
    /// detector's stem has it) and gives exactly what the float steps give, for uint8 and int8, Relu and Clip.
    func testQuantizedActivationRunsAsAnExactTable() throws {
        for (type, op) in [(ElementType.uint8, "Relu"), (.int8, "Relu"), (.uint8, "Clip"), (.int8, "Clip")] {
            var b = ModelBuilder()
            b.input("x", .float32, [nil, 3, 8, 8])
            let zp: (Int) -> Tensor = { type == .uint8 ? Tensor(elements: [UInt8($0)], type: .uint8, shape: []) : Tensor(elements: [Int8($0 - 128)], type: .int8, shape: []) }
            b.floats("s1", [0.037], [])
            b.initializer("z1", zp(131))
            b.floats("s2", [0.0113], [])
            b.initializer("z2", zp(type == .uint8 ? 0 : 128))
            b.node("QuantizeLinear", ["x", "s1", "z1"], ["xq"])
            b.node("DequantizeLinear", ["xq", "s1", "z1"], ["xd"])
            if op == "Relu" {
                b.node("Relu", ["xd"], ["a"])
            } else {
                b.floats("lo", [-0.5], [])
                b.floats("hi", [1.9], [])
                b.node("Clip", ["xd", "lo", "hi"], ["a"])
            }
            b.node("QuantizeLinear", ["a", "s2", "z2"], ["aq"])
            b.node("DequantizeLinear", ["aq", "s2", "z2"], ["y"])
            b.output("y")
            let model = try InferenceModel(data: try b.data(), options: EngineOptions(threads: 2))
            let plan = try model.plan(inputShapes: ["x": [2, 3, 8, 8]])
            XCTAssertEqual(plan.stepLabels.filter { $0.contains("int8 table") }.count, 1, "\(type) \(op): \(plan.stepLabels)")
            let xs: [Float] = (0..<384).map { (i: Int) -> Float in Float(i % 97) * 0.11 - 5.3 }
            try plan.setInput("x", Tensor(floats: xs, shape: [2, 3, 8, 8]))
            try plan.run()
            let got = plan.output("y").floats
            // ONNX's definitions, step by step in float.
            let (lo, hi): (Float, Float) = op == "Relu" ? (0, .infinity) : (-0.5, 1.9)
            let (qmin, qmax): (Float, Float) = type == .uint8 ? (0, 255) : (-128, 127)
            let z1: Float = type == .uint8 ? 131 : 3, z2: Float = 0
            for (i, x) in xs.enumerated() {
                let q1 = min(max((x / 0.037).rounded(.toNearestOrEven) + z1, qmin), qmax)
                let a = min(max((q1 - z1) * 0.037, lo), hi)
                let q2 = min(max((a / 0.0113).rounded(.toNearestOrEven) + z2, qmin), qmax)
                XCTAssertEqual(got[i], (q2 - z2) * 0.0113, "\(type) \(op) at \(i), x = \(x)")
            }
        }
    }

    /// Gather on every axis, with 1-D, 2-D and scalar indices and a negative index, against a direct
    /// computation. (A wrong output stride for dims after the gathered axis was found by the ONNX fuzzer.)
    func testGatherOnEveryAxis() throws {
        let shape = [2, 3, 4]
        let x = (0..<24).map(Float.init)
        func at(_ i: [Int]) -> Float { x[(i[0] * 3 + i[1]) * 4 + i[2]] }
        for axis in 0..<3 {
            for (indices, indicesShape) in [([1, 0], [2]), ([0, -1, 1, 0], [2, 2]), ([1], [])] {
                var b = ModelBuilder()
                b.input("x", .float32, shape.map { Int64($0) })
                b.initializer("i", Tensor(type: .int64, shape: indicesShape,
                                          bytes: indices.map(Int64.init).withUnsafeBytes { [UInt8]($0) }))
                b.node("Gather", ["x", "i"], ["y"], int: ["axis": Int64(axis)])
                b.output("y")
                let model = try InferenceModel(data: try b.data())
                let y = try model.run(["x": Tensor(floats: x, shape: shape)])["y"]!
                let outShape = Array(shape[..<axis]) + indicesShape + Array(shape[(axis + 1)...])
                XCTAssertEqual(y.shape, outShape, "axis \(axis) indices \(indicesShape)")
                // Expected: walk the output index space.
                var expected: [Float] = []
                let n = outShape.reduce(1, *)
                for flat in 0..<n {
                    var rest = flat, idx = [Int](repeating: 0, count: outShape.count)
                    for d in stride(from: outShape.count - 1, through: 0, by: -1) { idx[d] = rest % outShape[d]; rest /= outShape[d] }
                    let k = indicesShape.count
                    var flatIndex = 0
                    for d in 0..<k { flatIndex = flatIndex * indicesShape[d] + idx[axis + d] }
                    var g = indices[flatIndex]
                    if g < 0 { g += shape[axis] }
                    let src = Array(idx[..<axis]) + [g] + Array(idx[(axis + k)...])
                    expected.append(at(src))
                }
                XCTAssertEqual(y.floats, expected, "axis \(axis) indices \(indicesShape)")
            }
        }
    }

    func testMemoryPlannerReusesDeadBuffers() {
        let a = Buffer(bytes: 1000), b = Buffer(bytes: 1000), c = Buffer(bytes: 1000)
        (a.first, a.last) = (0, 1)
        (b.first, b.last) = (1, 2)
        (c.first, c.last) = (2, 3)
        let size = MemoryPlanner.place([a, b, c])
        XCTAssertEqual(size, 2 * 1024, "a and c do not overlap in time and must share memory")
        XCTAssertNotEqual(a.offset, b.offset)
        XCTAssertNotEqual(b.offset, c.offset)
    }

    func testNPYRoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let tensors = [
            Tensor(floats: [1.5, -2, 3], shape: [3]),
            Tensor(elements: [UInt8(1), 2, 255, 0], type: .uint8, shape: [2, 2]),
            Tensor(elements: [Int8(-128), 127], type: .int8, shape: [2, 1]),
            Tensor(int64s: [Int64.min, 7], shape: [2]),
            Tensor(floats: [42], shape: []),
        ]
        for (i, t) in tensors.enumerated() {
            let url = dir.appendingPathComponent("\(i).npy")
            try NPY.write(t, to: url)
            XCTAssertEqual(try NPY.read(url), t)
        }
        XCTAssertThrowsError(try NPY.decode(Array(NPY.encode(tensors[0]).dropLast(2)))) { e in
            XCTAssertTrue("\(e)".contains("truncated"), "\(e)")
        }
        XCTAssertThrowsError(try NPY.decode([1, 2, 3]))
    }
}
