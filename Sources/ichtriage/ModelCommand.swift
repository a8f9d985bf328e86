import Appliance
import ArgumentParser
import Foundation
import ModelStore

/// `ichtriage model ...`: make, sign, check and install signed model bundles.
/// JSON output (`--json`) is one object per run; fields are documented in docs/model-bundles.md.
struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Signed model bundles: pack, sign, verify, install, list, roll back, make signing keys.",
        subcommands: [Pack.self, Sign.self, Verify.self, Install.self, List.self, Rollback.self, Keygen.self]
    )
}

struct JSONOption: ParsableArguments {
    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false
}

private struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "Model store folder.")
    var store = "/var/lib/ichtriage/models"
    @Option(name: .long, help: "Folder of trusted public keys (*.pub).")
    var keys = "/etc/ichtriage/keys"
    @Option(name: .long, help: "Appliance version compared with a bundle's minimumApplianceVersion.")
    var applianceVersion = ModelStoreConfiguration.defaultApplianceVersion

    func configuration() -> ModelStoreConfiguration {
        var c = ModelStoreConfiguration(storeDirectory: URL(fileURLWithPath: store), keysDirectory: URL(fileURLWithPath: keys))
        c.applianceVersion = applianceVersion
        return c
    }

    /// Installs self-test the staged model by running its vectors in our inference engine, then
    /// the reference series kept in the store through the triage pipeline (as the service does).
    func makeStore(referenceSeries: Bool = true) -> ModelStore {
        referenceSeries ? ModelStore.appliance(configuration: configuration())
            : ModelStore(configuration: configuration(), selfTester: EngineSelfTester())
    }
}

/// Common envelope: `ok`, `command`, the command's payload, and `error` when `ok` is false
/// (`model ...`, `software ...` and `selftest`).
struct Output<Payload: Encodable>: Encodable {
    var ok: Bool
    var command: String
    var result: Payload?
    var error: ErrorInfo?
}

struct ErrorInfo: Encodable {
    var code: String
    var message: String
}

private struct Empty: Encodable {}

/// Prints the outcome and maps failure to exit status 1.
func finish<P: Encodable>(_ command: String, json: Bool, result: P?, error: Error?, text: () -> String) throws {
    let info = error.map { e -> ErrorInfo in
        if let m = e as? ModelStoreError { return ErrorInfo(code: m.code.rawValue, message: m.message) }
        return ErrorInfo(code: "io", message: "\(e)")
    }
    if json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let data = try encoder.encode(Output(ok: error == nil, command: command, result: result, error: info))
        print(String(decoding: data, as: UTF8.self))
    } else {
        let t = text()
        if !t.isEmpty { print(t) }
        if let info { FileHandle.standardError.write(Data("error: \(info.code): \(info.message)\n".utf8)) }
    }
    if error != nil { throw ExitCode(1) }
}

func perform<P: Encodable>(_ command: String, json: Bool, _ body: () throws -> P, text: (P) -> String) throws {
    let result: P
    do { result = try body() } catch {
        try finish(command, json: json, result: P?.none, error: error) { "" }
        return
    }
    try finish(command, json: json, result: result, error: nil) { text(result) }
}

private func describe(_ m: ModelSummary?) -> String {
    guard let m else { return "none" }
    return "\(m.modelName) \(m.modelVersion)\(m.slot.map { " (slot \($0))" } ?? "") manifest \(m.manifestSHA256.prefix(12))"
}

extension ModelCommand {
    struct Pack: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pack a folder (manifest.json template, model, self-test vectors, release notes) into an unsigned bundle.")
        @Argument(help: "Folder to pack.") var source: String
        @Option(name: .long, help: "Output: a folder, or a single file when it ends in .ichmodel or .tar.") var out: String
        @OptionGroup private var output: JSONOption

        struct Result: Encodable {
            var bundle: String
            var modelName: String
            var modelVersion: String
            var files: Int
            var bytes: Int64
            var signed: Bool
        }

        func run() throws {
            try perform("pack", json: output.json, {
                let m = try BundlePacker.pack(source: URL(fileURLWithPath: source), output: URL(fileURLWithPath: out))
                return Result(bundle: out, modelName: m.modelName, modelVersion: m.modelVersion, files: m.files.count,
                              bytes: m.files.reduce(0) { $0 + $1.size }, signed: false)
            }, text: { "packed \($0.modelName) \($0.modelVersion): \($0.files) files, \($0.bytes) bytes -> \($0.bundle) (unsigned)" })
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sign a bundle with an Ed25519 private key (in place).")
        @Option(name: .long, help: "Private key file made by `ichtriage model keygen`.") var key: String
        @Argument(help: "Bundle folder or file.") var bundle: String
        @OptionGroup private var output: JSONOption

        struct Result: Encodable {
            var bundle: String
            var keyId: String
            var keyName: String
            var modelName: String
            var modelVersion: String
        }

        func run() throws {
            try perform("sign", json: output.json, {
                let k = try ModelSigningKey.read(from: URL(fileURLWithPath: key))
                let m = try BundlePacker.sign(bundle: URL(fileURLWithPath: bundle), with: k)
                return Result(bundle: bundle, keyId: k.keyId, keyName: k.name, modelName: m.modelName, modelVersion: m.modelVersion)
            }, text: { "signed \($0.modelName) \($0.modelVersion) with key \($0.keyName) (\($0.keyId))" })
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Verify a bundle: signature, schema, hashes, safe entries, limits.")
        @Option(name: .long, help: "Folder of trusted public keys (*.pub).") var keys = "/etc/ichtriage/keys"
        @Argument(help: "Bundle folder or file.") var bundle: String
        @OptionGroup private var output: JSONOption

        func run() throws {
            try perform("verify", json: output.json, {
                let trusted = try TrustedKeys.load(from: URL(fileURLWithPath: keys))
                return try BundleFiles.verifyCopy(of: URL(fileURLWithPath: bundle), keys: trusted)
            }, text: { "valid: \(describe($0.model)), signed by \($0.signerName) (\($0.signerKeyId)), \($0.files) files, \($0.bytes) bytes" })
        }
    }

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Install a bundle into the store: stage, verify, self-test, switch atomically; writes a receipt.")
        @OptionGroup private var store: StoreOptions
        @Option(name: .long, help: "Where to write the receipt copy (default: the bundle's folder; best effort).")
        var receiptDir: String?
        @Flag(name: .long, help: "Skip the reference series check (build machines and store tests only; the receipt then has no referenceCheck). The service never skips it.")
        var skipReferenceSeries = false
        @Argument(help: "Bundle folder or file.") var bundle: String
        @OptionGroup private var output: JSONOption

        struct Result: Encodable {
            var receipt: Receipt
            var stickReceipt: String?
            var selfTester: String
            /// "pipeline" (the reference series kept in the store) or "skipped".
            var referenceSeries: String
        }

        func run() throws {
            let r = store.makeStore(referenceSeries: !skipReferenceSeries).install(bundleAt: URL(fileURLWithPath: bundle),
                                          receiptDirectory: receiptDir.map { URL(fileURLWithPath: $0) })
            let result = Result(receipt: r.receipt, stickReceipt: r.stickReceipt?.path, selfTester: "engine",
                                referenceSeries: skipReferenceSeries ? "skipped" : "pipeline")
            try finish("install", json: output.json, result: result, error: r.error) {
                "\(r.receipt.result): \(describe(r.receipt.bundle)); active now: \(describe(r.receipt.activeModel))"
                    + (r.receipt.selfTest.map { "\nself-test: \($0.detail)" } ?? "")
                    + (r.receipt.referenceCheck.map { "\nreference series: \($0.detail)" } ?? "")
                    + (r.stickReceipt.map { "\nreceipt: \($0.path)" } ?? "")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the active model, both slots (verified), probation and the last receipt.")
        @OptionGroup private var store: StoreOptions
        @OptionGroup private var output: JSONOption

        func run() throws {
            let s = store.makeStore().status()
            try finish("list", json: output.json, result: s, error: nil) {
                var lines = ["active: \(describe(s.activeModel))"]
                if let f = s.fault { lines.append("FAULT: \(f)") }
                if let p = s.probation { lines.append("probation: \(p.succeeded)/\(p.required) analyses, \(p.starts) start(s)") }
                lines.append("previous: \(describe(s.previousModel))")
                for slot in s.slots {
                    lines.append("slot \(slot.slot)\(slot.active ? " *" : ""): \(slot.model.map { describe($0) } ?? slot.problem ?? "-")")
                }
                if let r = s.lastReceipt { lines.append("last: \(r.time) \(r.action) \(r.result)\(r.reason.map { ": \($0)" } ?? "")") }
                return lines.joined(separator: "\n")
            }
        }
    }

    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Switch back to the previous model (verified again first).")
        @OptionGroup private var store: StoreOptions
        @OptionGroup private var output: JSONOption

        func run() throws {
            let r = store.makeStore().rollback()
            try finish("rollback", json: output.json, result: r.receipt, error: r.error) {
                "\(r.receipt.result); active now: \(describe(r.receipt.activeModel))"
            }
        }
    }

    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an Ed25519 signing key: <out> (private, mode 0600) and <out>.pub (install under /etc/ichtriage/keys).")
        @Option(name: .long, help: "Private key file to create (refused inside a git work tree).") var out: String
        @Option(name: .long, help: "Key name, e.g. dev-2026 or release-2026.") var name = "dev"
        @OptionGroup private var output: JSONOption

        struct Result: Encodable {
            var privateKey: String
            var publicKey: String
            var keyId: String
            var name: String
        }

        func run() throws {
            try perform("keygen", json: output.json, {
                let url = URL(fileURLWithPath: out).standardizedFileURL
                if let repo = enclosingGitWorkTree(of: url.deletingLastPathComponent()) {
                    throw ModelStoreError(.usage, "refusing to write a private key inside the git work tree \(repo.path); keep private keys out of repositories")
                }
                let key = ModelSigningKey(name: name)
                let pub = try key.write(privateKeyTo: url)
                return Result(privateKey: url.path, publicKey: pub.path, keyId: key.keyId, name: name)
            }, text: { "private key \($0.privateKey) (0600), public key \($0.publicKey), key id \($0.keyId)" })
        }

        private func enclosingGitWorkTree(of dir: URL) -> URL? {
            var d = dir
            while true {
                if FileManager.default.fileExists(atPath: d.appendingPathComponent(".git").path) { return d }
                let parent = d.deletingLastPathComponent()
                if parent.path == d.path { return nil }
                d = parent
            }
        }
    }
}
