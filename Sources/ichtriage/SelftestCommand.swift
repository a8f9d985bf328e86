import Appliance
import ArgumentParser
import Foundation
import ModelStore

/// `ichtriage selftest`: is this installation fit to analyse? The int8 kernel variants this CPU
/// runs against the scalar reference; the active model bundle verified again (signature with the
/// trusted keys, every file's hash); its own self-test vectors in our engine; the reference series
/// kept on the appliance through the whole triage pipeline. Exit 0 when every check passes, 1
/// when any fails (the reasons are printed), 64 for a usage error. Fields: docs/cli.md.
struct SelftestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest",
        abstract: "Check the installation: kernel variants against the scalar reference, the active model's signature, hashes, self-test vectors and the reference series.")

    @Option(name: .long, help: "Service configuration whose stateDirectory and modelKeysDirectory give the defaults (default: \(ApplianceConfiguration.defaultPath) when it exists).")
    var config: String?
    @Option(name: .long, help: "State folder; the model store is its models/ (default: the configuration's stateDirectory, /var/lib/ichtriage).")
    var stateDir: String?
    @Option(name: .long, help: "Model store folder (default: <state-dir>/models).")
    var store: String?
    @Option(name: .long, help: "Folder of trusted public keys, *.pub (default: the configuration's modelKeysDirectory, /etc/ichtriage/keys).")
    var keys: String?
    @Option(name: .long, help: "Engine threads for the model checks.")
    var threads = 2
    @Flag(name: .long, help: "Check the kernels only (no model needed, e.g. while building an image).")
    var kernelsOnly = false
    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1...256") }
    }

    struct Check: Encodable {
        var name: String
        var passed: Bool
        var detail: String
    }

    struct Report: Encodable {
        var passed: Bool
        var checks: [Check]
        var kernels: KernelCheck.Result
        var model: ModelSummary?
        var store: String
        var keys: String
    }

    func run() throws {
        let (storeFolder, keysFolder) = try locations()
        var checks: [Check] = []

        let kernels = KernelCheck.run()
        checks.append(Check(
            name: "kernels", passed: kernels.passed,
            detail: "active \(kernels.active); " + kernels.variants.map { "\($0.name): \($0.detail)" }.joined(separator: "; ")))

        var model: ModelSummary?
        if !kernelsOnly {
            var storeConfiguration = ModelStoreConfiguration(storeDirectory: URL(fileURLWithPath: storeFolder),
                                                             keysDirectory: URL(fileURLWithPath: keysFolder))
            storeConfiguration.probationAnalyses = 0
            let modelStore = ModelStore.appliance(configuration: storeConfiguration, threads: threads)
            do {
                let active = try modelStore.openActive()
                defer { active.release() }
                model = active.summary
                checks.append(Check(
                    name: "model-verify", passed: true,
                    detail: "\(active.manifest.modelName) \(active.manifest.modelVersion) in slot \(active.slot): signature by trusted key \(active.manifest.keyId ?? "-") and \(active.manifest.files.count) file hashes verified"))
                let selfTest = EngineSelfTester(threads: threads).selfTest(active.selfTestRequest)
                checks.append(Check(name: "model-self-test", passed: selfTest.passed, detail: selfTest.detail))
                let reference = ReferenceSeriesChecker(reference: .inStore(storeConfiguration.storeDirectory), threads: threads)
                    .check(modelFolder: active.directory)
                checks.append(Check(name: "reference-series", passed: reference.passed, detail: reference.detail))
            } catch {
                checks.append(Check(name: "model-verify", passed: false, detail: "\(error)"))
            }
        }

        let failed = checks.filter { !$0.passed }
        let report = Report(passed: failed.isEmpty, checks: checks, kernels: kernels, model: model,
                            store: storeFolder, keys: keysFolder)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            let error = failed.isEmpty ? nil : ErrorInfo(
                code: "selftestFailed", message: failed.map { "\($0.name): \($0.detail)" }.joined(separator: "; "))
            print(String(decoding: try encoder.encode(Output(ok: failed.isEmpty, command: "selftest", result: report, error: error)), as: UTF8.self))
        } else {
            if !kernelsOnly { print("store \(storeFolder), trusted keys \(keysFolder)") }
            for c in checks { print("\(c.passed ? "PASS" : "FAIL") \(c.name): \(c.detail)") }
            print(failed.isEmpty ? "selftest: all \(checks.count) checks passed"
                  : "selftest: \(failed.count) of \(checks.count) checks FAILED: \(failed.map(\.name).joined(separator: ", "))")
        }
        if !failed.isEmpty { throw ExitCode(1) }
    }

    /// Store and keys folders: the options, else the service configuration, else the built-in defaults.
    private func locations() throws -> (store: String, keys: String) {
        let configuration: ApplianceConfiguration
        do {
            configuration = try ApplianceConfiguration.load(path: config ?? ApplianceConfiguration.defaultPath, mustExist: config != nil)
        } catch {
            throw ValidationError("configuration refused: \(error)")
        }
        let state = stateDir ?? configuration.stateDirectory
        return (store ?? state + "/models", keys ?? configuration.modelKeysDirectory)
    }
}
