import Foundation

/// Reads the unsigned bundle the training toolkit writes (Training/ichtrain/bundle.py, manifest
/// `format: "ichtriage-model-bundle/0 (unsigned)"`, self-test vectors as .npy) and lays it out
/// as a `model pack` source folder: a manifest template, raw float32 vectors with
/// `selftest/vectors.json`, release notes, and the toolkit's other files as they are.
enum TrainingBundleImport {
    static let formatPrefix = "ichtriage-model-bundle/0"

    static func isTrainingManifest(_ data: Data) -> Bool {
        guard let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let f = o["format"] as? String else { return false }
        return f.hasPrefix(formatPrefix)
    }

    /// Writes a pack source folder for `source` into the new folder `destination`.
    static func convert(source: URL, into destination: URL, manifestBytes: Data, limits: BundleLimits) throws {
        func bad(_ why: String) -> ModelStoreError { ModelStoreError(.badManifest, "training manifest.json: \(why)") }
        guard let m = try? JSONSerialization.jsonObject(with: manifestBytes) as? [String: Any] else { throw bad("not a JSON object") }
        // The toolkit's own hashes first: never package a damaged training output.
        guard let files = m["files"] as? [String: String] else { throw bad("no files map") }
        for (name, digest) in files {
            try BundlePath.validate(name, limits: limits)
            let (hex, _) = try DurableFiles.sha256(of: source.appendingPathComponent(name))
            guard hex == digest else { throw ModelStoreError(.hashMismatch, "\(name) differs from the training manifest's SHA-256") }
        }
        guard let name = m["name"] as? String, let version = m["version"] as? String,
              let calibration = m["calibration_id"] as? String, let model = m["model"] as? String,
              let thresholds = m["thresholds"] as? [String: Double],
              let input = m["input"] as? [String: Any], let shape = input["shape"] as? [Any], shape.count == 4,
              let height = shape[2] as? Int, let width = shape[3] as? Int,
              let windows = input["windows"] as? [[String: Any]],
              let selftest = m["selftest"] as? [String: Any], let inputFile = selftest["input"] as? String,
              let tolerances = selftest["tolerance_abs"] as? [String: Double], !tolerances.isEmpty
        else { throw bad("missing or mistyped fields (name, version, calibration_id, model, thresholds, input, selftest)") }
        let names = ["brain", "subdural", "soft-tissue"]
        let hu = try windows.enumerated().map { i, w -> BundleManifest.HUWindow in
            guard let c = (w["center"] as? NSNumber)?.doubleValue, let wd = (w["width"] as? NSNumber)?.doubleValue else {
                throw bad("input.windows[\(i)] needs center and width")
            }
            return .init(name: i < names.count ? names[i] : "channel-\(i)", center: c, width: wd)
        }

        try DurableFiles.makeDirectory(destination.appendingPathComponent("selftest"))
        // Vectors: .npy -> raw little-endian float32 (the .npy payload already is).
        func tensor(_ tensorName: String, _ file: String, tolerance: Double?) throws -> SelfTestVectors.Tensor {
            let npy = try NPY.read(source.appendingPathComponent(file), limit: limits.maxFileBytes)
            let rel = "selftest/\(tensorName).f32"
            try DurableFiles.writeFile(npy.payload, to: destination.appendingPathComponent(rel), exclusive: true)
            var t = SelfTestVectors.Tensor(name: tensorName, shape: npy.shape, file: rel)
            t.tolerance = tolerance
            return t
        }
        let tensorName = input["name"] as? String ?? "slices"
        let inputs = [try tensor(tensorName, inputFile, tolerance: nil)]
        var expected: [SelfTestVectors.Tensor] = []
        for (output, tol) in tolerances.sorted(by: { $0.key < $1.key }) {
            guard let file = selftest[output] as? String else { throw bad("selftest has a tolerance for \(output) but no file") }
            expected.append(try tensor(output, file, tolerance: tol))
        }
        let vectors = SelfTestVectors(tolerance: tolerances.values.min() ?? 0, cases: [.init(name: "training-selftest", inputs: inputs, expected: expected)])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try DurableFiles.writeFile(try encoder.encode(vectors), to: destination.appendingPathComponent("selftest/vectors.json"), exclusive: true)

        // Everything else the toolkit shipped (model, evaluation report) travels as it is.
        let converted = Set(selftest.values.compactMap { $0 as? String })
        for file in files.keys.sorted() where !converted.contains(file) {
            let target = destination.appendingPathComponent(file)
            try DurableFiles.makeDirectory(target.deletingLastPathComponent())
            try DurableFiles.copyFile(from: source.appendingPathComponent(file), to: target, limit: limits.maxFileBytes)
        }
        let created = (m["created"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) }
        let notes = """
        # \(name) \(version)

        Packed from the training toolkit's bundle (\(m["format"] as? String ?? formatPrefix)).
        Calibration: \(calibration).
        Thresholds: \(thresholds.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")).
        \(files.keys.contains("EVALUATION.md") ? "Evaluation: EVALUATION.md.\n" : "")
        """
        try DurableFiles.writeFile(Data(notes.utf8), to: destination.appendingPathComponent("RELEASE-NOTES.md"), exclusive: true)

        var template: [String: Any] = [
            "modelName": name, "modelVersion": version,
            "minimumApplianceVersion": ModelStoreConfiguration.defaultApplianceVersion,
            "calibrationId": calibration, "thresholds": thresholds, "modelFile": model,
            "input": ["tensorName": tensorName, "sliceWidth": width, "sliceHeight": height,
                      "windows": hu.map { ["name": $0.name, "center": $0.center, "width": $0.width] },
                      "minSlices": 1, "maxSlices": 512, "elementType": input["dtype"] as? String ?? "float32"],
        ]
        if let created {
            let f = ISO8601DateFormatter()
            f.timeZone = TimeZone(identifier: "UTC")
            template["createdAt"] = f.string(from: created)
        }
        try DurableFiles.writeFile(try JSONSerialization.data(withJSONObject: template, options: [.prettyPrinted, .sortedKeys]),
                                   to: destination.appendingPathComponent(BundleManifest.fileName), exclusive: true)
    }
}

/// NumPy .npy files holding little-endian float32, C order (what the toolkit writes).
enum NPY {
    struct Loaded { var shape: [Int]; var payload: Data }

    static func read(_ url: URL, limit: Int64) throws -> Loaded {
        func bad(_ why: String) -> ModelStoreError { ModelStoreError(.badManifest, "\(url.lastPathComponent): \(why)") }
        let data = try DurableFiles.readSmallFile(url, limit: limit, what: "self-test array")
        // Magic "\x93NUMPY", then major and minor version bytes.
        guard data.count >= 10, data.prefix(6) == Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]) else { throw bad("not a .npy file") }
        let major = data[data.startIndex + 6]
        let (headerLength, start): (Int, Int)
        switch major {
        case 1: headerLength = Int(data[8]) | Int(data[9]) << 8; start = 10
        case 2, 3:
            guard data.count >= 12 else { throw bad("truncated header") }
            headerLength = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24; start = 12
        default: throw bad(".npy version \(major) unsupported")
        }
        guard data.count >= start + headerLength,
              let header = String(data: data[start..<(start + headerLength)], encoding: .utf8) else { throw bad("truncated header") }
        guard header.contains("'descr': '<f4'") else { throw bad("holds \(header.prefix(60)), not little-endian float32") }
        guard header.contains("'fortran_order': False") else { throw bad("is in Fortran order") }
        guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
            throw bad("has no shape")
        }
        let dims = header[open.upperBound..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let shape = dims.compactMap { Int($0) }
        guard shape.count == dims.count, !shape.isEmpty, shape.allSatisfy({ $0 >= 1 }) else { throw bad("has shape (\(dims.joined(separator: ","))) unsupported") }
        let payload = data[(start + headerLength)...]
        guard payload.count == shape.reduce(4, *) else { throw bad("holds \(payload.count) bytes for shape \(shape)") }
        return Loaded(shape: shape, payload: Data(payload))
    }
}
