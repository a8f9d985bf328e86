import ArgumentParser
import Foundation
import Inference

/// `ichtriage bench`: our engine against ONNX Runtime on the same ONNX files, same thread counts, same run.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark the int8 engine against ONNX Runtime (slices/s, ratio, GMAC/s, share of int8 peak).",
        discussion: """
            Models are generated with random weights by scripts/onnx/make_model.py (QDQ, uint8 activations, int8
            per-channel weights) into --model-dir; NAME_7bit is the same network quantized with 7-bit weights
            (quantize_static reduce_range=True, ONNX Runtime's advice for x86 without VNNI), which our AVX2 kernels
            run in their byte format (vpmaddubsw); the detector is the shipped Models/default/model.onnx, and
            detector_7bit the same file with its weights rewritten to 7 bits by scripts/onnx/requantize_7bit.py
            (for speed only: that model's accuracy is not evaluated).
            ONNX Runtime runs in the tools venv (created by scripts/pyenv.sh when missing) via Benchmarks/ort_bench.py.
            JSON (--json): {kernel_variant, peak_gmacs_per_core, peak_gmacs_per_core_bytes, results: [{model,
            weights, threads, slices, ours_slices_per_s, ort_slices_per_s, ratio, gmac_per_slice, ours_gmacs,
            byte_format_share, share_of_peak, share_of_peak_int16, share_of_peak_bytes, arena_bytes}],
            peak_rss_bytes}. share_of_peak is against the peak of the formulation most of the row's MACs used.
            """
    )

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(help: "Comma-separated models: resnet18, mobilenetv2, resnext101, detector (each also as NAME_7bit: 7-bit weights).")
    var models = "resnet18,resnet18_7bit,mobilenetv2,mobilenetv2_7bit,resnext101,resnext101_7bit,detector,detector_7bit"

    @Option(help: "Comma-separated thread counts.")
    var threads = "1,2"

    @Option(help: "Slices per batch (default: per model, 16 for ResNet-18 and MobileNetV2, 2 for ResNeXt-101).")
    var slices: Int?

    @Option(help: "Timed runs per measurement (best is kept).")
    var runs = 3

    @Option(help: "The detector model file (benchmarked when it exists).")
    var detector = "Models/default/model.onnx"

    @Option(help: "Where generated benchmark models are kept.")
    var modelDir = ".build/bench-models"

    @Option(help: "Python venv with onnx and onnxruntime (default: $ICHTRIAGE_VENV or .venv-tools).")
    var venv: String?

    @Flag(help: "Also print the slowest steps of each model (our engine, last thread count).")
    var profile = false

    @Option(help: "How many of the slowest steps --profile prints.")
    var profileSteps = 12

    @Flag(help: "Run our engine layer by layer over the batch instead of image by image (to measure the difference).")
    var layerByLayer = false

    @Option(help: "int8 peak GMAC/s per core for the share-of-peak column (default: measured figure for the variant, see Benchmarks/engine-results.md).")
    var peakGmacs: Double?

    @Option(help: "Peak GMAC/s per core of the byte formulation (AVX2: vpmaddubsw + vpmaddwd(ones) + vpaddd; default: measured figure).")
    var peakGmacsBytes: Double?

    func run() throws {
        let venvPath = venv ?? ProcessInfo.processInfo.environment["ICHTRIAGE_VENV"] ?? ".venv-tools"
        let python = venvPath + "/bin/python"
        if !FileManager.default.fileExists(atPath: python) {
            if FileManager.default.fileExists(atPath: "scripts/pyenv.sh") {
                FileHandle.standardError.write(Data("bench: creating the tools venv \(venvPath)\n".utf8))
                try shell(["scripts/pyenv.sh"], env: ["VENV": venvPath])
            } else {
                throw ValidationError("no Python venv at \(venvPath); run `make pyenv` in the repository")
            }
        }
        try FileManager.default.createDirectory(atPath: modelDir, withIntermediateDirectories: true)
        let threadCounts = threads.split(separator: ",").compactMap { Int($0) }.filter { $0 >= 1 }
        let peak = peakGmacs ?? BenchCommand.defaultPeak(CompiledPlan.kernelVariant)
        let peakBytes = peakGmacsBytes ?? BenchCommand.defaultBytePeak(CompiledPlan.kernelVariant)
        var results: [[String: Any]] = []
        for name in models.split(separator: ",").map(String.init) {
            let network = BenchCommand.network(name), sevenBit = BenchCommand.sevenBit(name)
            let path: String
            if network == "detector" {
                guard FileManager.default.fileExists(atPath: detector) else {
                    if !json { print("detector: \(detector) does not exist yet; skipped") }
                    continue
                }
                path = sevenBit ? "\(modelDir)/detector_7bit.onnx" : detector
                if sevenBit {
                    // Always regenerated: the shipped detector may have changed since the last run.
                    try shell([python, "scripts/onnx/requantize_7bit.py", detector, path])
                }
            } else {
                path = "\(modelDir)/\(name).onnx"
                if !FileManager.default.fileExists(atPath: path) {
                    FileHandle.standardError.write(Data("bench: generating \(path)\n".utf8))
                    try shell([python, "scripts/onnx/make_model.py", network, path] + (sevenBit ? ["--reduce-range"] : []))
                }
            }
            let batch = slices ?? (network == "resnext101" ? 2 : 16)
            for t in threadCounts {
                let model = try InferenceModel(contentsOf: URL(fileURLWithPath: path), options: EngineOptions(threads: t, imageByImage: !layerByLayer))
                let plan = try model.plan(inputShapes: model.defaultShapes(batch: batch))
                let inputName = model.inputs[0].name
                var input = Tensor(zeros: .float32, shape: plan.inputs[inputName]!.shape)
                var rng = SystemRandomNumberGenerator()
                input = Tensor(floats: (0..<input.count).map { _ in Float.random(in: 0..<1, using: &rng) }, shape: input.shape)
                try plan.setInput(inputName, input)
                try plan.run()
                var best = Double.infinity
                for _ in 0..<max(1, runs) {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    try plan.run()
                    best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
                }
                let ours = Double(batch) / best
                if profile {
                    let steps = try plan.profile()
                    let total = steps.reduce(0) { $0 + $1.seconds }
                    for s in steps.sorted(by: { $0.seconds > $1.seconds }).prefix(max(1, profileSteps)) {
                        print(String(format: "  %6.2f ms %5.1f%%  %6.1f GMAC/s  %@", s.seconds * 1e3, 100 * s.seconds / total,
                                     Double(s.macs) / s.seconds / 1e9, s.label as NSString))
                    }
                }
                let ortLine = try shellOutput([python, "Benchmarks/ort_bench.py", path, "--batch", String(batch),
                                               "--threads", String(t), "--runs", String(max(1, runs))])
                let ortObj = try JSONSerialization.jsonObject(with: Data(ortLine.utf8)) as? [String: Any]
                let ort = ortObj?["slices_per_s"] as? Double ?? 0
                let gmacPerSlice = Double(plan.macs) / Double(batch) / 1e9
                let gmacs = gmacPerSlice * ours
                let byteShare = plan.macs > 0 ? Double(plan.byteFormatMacs) / Double(plan.macs) : 0
                let shareInt16 = peak > 0 ? gmacs / (peak * Double(t)) : 0
                let shareBytes = peakBytes > 0 ? gmacs / (peakBytes * Double(t)) : 0
                let usesBytes = byteShare > 0.5 && peakBytes > 0
                let row: [String: Any] = [
                    "model": name, "weights": sevenBit ? "7-bit" : "8-bit", "threads": t,
                    "slices": batch, "ours_slices_per_s": ours, "ort_slices_per_s": ort,
                    "ratio": ort > 0 ? ours / ort : 0, "gmac_per_slice": gmacPerSlice, "ours_gmacs": gmacs,
                    "byte_format_share": byteShare, "share_of_peak": usesBytes ? shareBytes : shareInt16,
                    "share_of_peak_int16": shareInt16, "share_of_peak_bytes": shareBytes, "arena_bytes": plan.arenaBytes,
                ]
                results.append(row)
                if !json {
                    print(String(format: "%@ %d thr  S=%-3d ours %8.2f slices/s  ORT %8.2f slices/s  ratio %5.2fx  %6.1f GMAC/s  %4.1f%% of %@ peak  bytes %3.0f%%  arena %.0f MiB",
                                 name.padding(toLength: max(16, name.count), withPad: " ", startingAt: 0) as NSString, t,
                                 batch, ours, ort, ort > 0 ? ours / ort : 0, gmacs, 100 * (usesBytes ? shareBytes : shareInt16), (usesBytes ? "byte" : "int16") as NSString,
                                 100 * byteShare, Double(plan.arenaBytes) / 1048576))
                }
            }
        }
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let rss = Int(usage.ru_maxrss) * 1024
        if json {
            let obj: [String: Any] = ["kernel_variant": CompiledPlan.kernelVariant, "peak_gmacs_per_core": peak,
                                      "peak_gmacs_per_core_bytes": peakBytes, "results": results, "peak_rss_bytes": rss]
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(String(format: "kernels %@, int8 peak %.1f GMAC/s per core (byte formulation %.1f), peak RSS of this process %.0f MiB",
                         CompiledPlan.kernelVariant as NSString, peak, peakBytes, Double(rss) / 1048576))
        }
    }

    /// Per-core int8 peaks: AVX2 measured on the development machine by Benchmarks/kernels (RESULTS.md, 62.6-64.1
    /// GMAC/s = 16 MAC per vpmaddwd); AVX-512 VNNI from the issue's figure for that machine class.
    static func defaultPeak(_ variant: String) -> Double {
        switch variant {
        case "avx512vnni": return 378
        case "avx2": return 63
        default: return 0
        }
    }

    /// Byte formulation (AVX2 only: vpmaddubsw + vpmaddwd(ones) + vpaddd, 32 MAC per triplet), measured by
    /// Benchmarks/kernels on the development machine (RESULTS.md); other variants have one formulation.
    static func defaultBytePeak(_ variant: String) -> Double {
        variant == "avx2" ? 73 : 0
    }

    /// "resnet18_7bit" -> "resnet18": the network make_model.py builds.
    static func network(_ model: String) -> String {
        sevenBit(model) ? String(model.dropLast("_7bit".count)) : model
    }

    static func sevenBit(_ model: String) -> Bool { model.hasSuffix("_7bit") }

    func shell(_ args: [String], env: [String: String] = [:]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        p.standardOutput = FileHandle.standardError // keep --json's stdout pure JSON
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ValidationError("\(args.joined(separator: " ")) failed") }
    }

    func shellOutput(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ValidationError("\(args.joined(separator: " ")) failed") }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
    }
}
