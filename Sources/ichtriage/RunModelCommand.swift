import ArgumentParser
import Foundation
import Inference

/// `ichtriage run-model`: runs any supported ONNX file on .npy inputs and writes every output as <name>.npy,
/// so a user can check a model of their own against ONNX Runtime.
struct RunModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-model",
        abstract: "Run an ONNX model (int8 QDQ or float) on .npy inputs; write each output as <name>.npy.",
        discussion: """
            JSON fields (--json): model, kernel_variant, threads, seconds (one run, after planning),
            arena_bytes (planned activation memory), peak_rss_bytes (this process, after the run),
            inputs [{name, type, shape}], outputs [{name, type, shape, file}].
            """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(name: .customLong("input"), help: "Input tensor: path.npy (single-input models) or name=path.npy; repeatable.")
    var inputs: [String] = []

    @Option(help: "Directory for the output .npy files (created if missing).")
    var out: String

    @Option(help: "Worker threads.")
    var threads: Int = 1

    @Option(name: .customLong("extra-output"), help: "Also write this intermediate value (e.g. a feature map); repeatable.")
    var extraOutputs: [String] = []

    @Flag(help: "Print a JSON summary instead of text.")
    var json = false

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give at least one --input") }
        guard threads >= 1, threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
    }

    func run() throws {
        let m = try InferenceModel(contentsOf: URL(fileURLWithPath: model), options: EngineOptions(threads: threads))
        var feeds: [String: Tensor] = [:]
        for spec in inputs {
            if let eq = spec.firstIndex(of: "="), !FileManager.default.fileExists(atPath: spec) {
                feeds[String(spec[..<eq])] = try NPY.read(URL(fileURLWithPath: String(spec[spec.index(after: eq)...])))
            } else {
                guard m.inputs.count == 1 else {
                    throw ValidationError("the model has \(m.inputs.count) inputs: use --input name=path.npy")
                }
                feeds[m.inputs[0].name] = try NPY.read(URL(fileURLWithPath: spec))
            }
        }
        let plan = try m.plan(inputShapes: feeds.mapValues(\.shape), extraOutputs: extraOutputs)
        for (name, t) in feeds { try plan.setInput(name, t) }
        let t0 = Date()
        try plan.run()
        let seconds = Date().timeIntervalSince(t0)
        let dir = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var written: [[String: Any]] = []
        for name in plan.outputNames {
            let t = plan.output(name)
            let file = dir.appendingPathComponent(name.replacingOccurrences(of: "/", with: "_") + ".npy")
            try NPY.write(t, to: file)
            written.append(["name": name, "type": t.type.description, "shape": t.shape, "file": file.path])
        }
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        let rss = Int(usage.ru_maxrss) * 1024
        if json {
            let obj: [String: Any] = [
                "model": model, "kernel_variant": CompiledPlan.kernelVariant, "threads": threads, "seconds": seconds,
                "arena_bytes": plan.arenaBytes, "peak_rss_bytes": rss,
                "inputs": feeds.sorted { $0.key < $1.key }.map { ["name": $0.key, "type": $0.value.type.description, "shape": $0.value.shape] },
                "outputs": written,
            ]
            let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("ran \(model) in \(String(format: "%.3f", seconds)) s (\(threads) thread(s), kernels \(CompiledPlan.kernelVariant)); "
                  + "arena \(plan.arenaBytes / 1048576) MiB, peak RSS \(rss / 1048576) MiB")
            for w in written { print("  \(w["name"]!) \(w["type"]!) \(w["shape"]!) -> \(w["file"]!)") }
        }
    }
}
