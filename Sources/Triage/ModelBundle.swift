import Foundation
import Inference

/// A detector bundle folder: `model.onnx` (one graph: slices [S,3,256,256] -> probs, slice_logits,
/// features) and `manifest.json` (name, version, labels, per-label operating thresholds).
public final class ModelBundle: @unchecked Sendable {
    public let folder: URL
    public let name: String
    public let version: String
    /// Operating threshold per label (manifest `thresholds`): at or above it the label alerts CRITICAL.
    public let thresholds: [HemorrhageLabel: Double]
    /// Where SUSPECT starts per label (manifest `suspect_thresholds`, else a fraction of `thresholds`).
    public let suspectThresholds: [HemorrhageLabel: Double]?
    public let model: InferenceModel
    /// The slice head (GAP embedding -> 6 logits), whose weights make the class activation maps.
    public let sliceHead: LinearLayer

    static let inputName = "slices"
    static let requiredOutputs = ["probs", "slice_logits", "features"]

    /// The default bundle: `Models/default` beside the package the executable was built from, else
    /// /usr/share/ichtriage/models/default.
    public static func defaultFolder(executable: URL = URL(fileURLWithPath: CommandLine.arguments.first ?? ".")) -> URL {
        var dir = executable.resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            let candidate = dir.appendingPathComponent("Models/default")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("manifest.json").path) { return candidate }
            dir.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: "/usr/share/ichtriage/models/default")
    }

    /// Reads both manifest forms: the training toolkit's (`name`, `version`, `model`) and the
    /// signed bundle's in the model store (`modelName`, `modelVersion`, `modelFile`; docs/model-bundles.md).
    private struct Manifest: Decodable {
        var name: String
        var version: String
        var model: String?
        var labels: [String]?
        var thresholds: [String: Double]
        var suspect_thresholds: [String: Double]?

        private enum Keys: String, CodingKey {
            case name, version, model, labels, thresholds, suspect_thresholds, modelName, modelVersion, modelFile
        }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            name = try c.decodeIfPresent(String.self, forKey: .modelName) ?? c.decode(String.self, forKey: .name)
            version = try c.decodeIfPresent(String.self, forKey: .modelVersion) ?? c.decode(String.self, forKey: .version)
            model = try c.decodeIfPresent(String.self, forKey: .modelFile) ?? c.decodeIfPresent(String.self, forKey: .model)
            labels = try c.decodeIfPresent([String].self, forKey: .labels)
            thresholds = try c.decode([String: Double].self, forKey: .thresholds)
            suspect_thresholds = try c.decodeIfPresent([String: Double].self, forKey: .suspect_thresholds)
        }
    }

    public init(folder: URL, threads: Int = 2) throws {
        self.folder = folder
        let manifestURL = folder.appendingPathComponent("manifest.json")
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: manifestURL))
        } catch {
            throw TriageError(.noValidModel, "\(manifestURL.path): \(Self.describe(error))")
        }
        if let labels = manifest.labels, labels != HemorrhageLabel.allCases.map(\.rawValue) {
            throw TriageError(.noValidModel, "labels \(labels) are not the six the pipeline knows, in order")
        }
        func perLabel(_ values: [String: Double], _ field: String) throws -> [HemorrhageLabel: Double] {
            var out: [HemorrhageLabel: Double] = [:]
            for label in HemorrhageLabel.allCases {
                guard let t = values[label.rawValue], t.isFinite, t > 0, t < 1 else {
                    throw TriageError(.noValidModel, "manifest \(field) lacks a threshold in (0,1) for '\(label.rawValue)'")
                }
                out[label] = t
            }
            return out
        }
        thresholds = try perLabel(manifest.thresholds, "thresholds")
        suspectThresholds = try manifest.suspect_thresholds.map { try perLabel($0, "suspect_thresholds") }
        name = manifest.name
        version = manifest.version
        let modelURL = folder.appendingPathComponent(manifest.model ?? "model.onnx")
        do {
            model = try InferenceModel(contentsOf: modelURL, options: EngineOptions(threads: threads))
            sliceHead = try model.linearLayer(producing: "slice_logits")
        } catch {
            throw TriageError(.noValidModel, "\(modelURL.path): \(error)")
        }
        guard let input = model.inputs.first(where: { $0.name == Self.inputName }), model.inputs.count == 1,
              input.type == .float32, input.dims.count == 4, input.dims[1] == 3, input.dims[2] == 256, input.dims[3] == 256
        else {
            throw TriageError(.noValidModel, "the model must take one float32 input 'slices' [S,3,256,256]")
        }
        for output in Self.requiredOutputs where !model.outputNames.contains(output) {
            throw TriageError(.noValidModel, "the model has no output '\(output)'")
        }
        guard sliceHead.outputs == HemorrhageLabel.allCases.count else {
            throw TriageError(.noValidModel, "the slice head has \(sliceHead.outputs) outputs, not 6")
        }
    }

    private static func describe(_ error: Error) -> String {
        if let e = error as? DecodingError {
            switch e {
            case .keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
            case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): return c.debugDescription
            @unknown default: return "\(e)"
            }
        }
        return error.localizedDescription
    }
}
