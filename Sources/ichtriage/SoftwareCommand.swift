import ArgumentParser
import Foundation
import ModelStore

/// `ichtriage software ...`: signed appliance software updates (a .deb in a bundle checked by the
/// model bundles' code; docs/image.md "Software updates from USB"). Installing, the version rule
/// and rollback are the job of ichtriage-software-update (Packaging/software-update.sh).
/// JSON output (`--json`) uses the envelope of `ichtriage model` (`ok`, `command`, `result`, `error`).
struct SoftwareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "software",
        abstract: "Signed software update bundles (.ichsoftware): pack, sign, verify.",
        subcommands: [Pack.self, Sign.self, Verify.self]
    )
}

extension SoftwareCommand {
    struct Pack: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pack an appliance .deb into an unsigned software bundle.")
        @Option(name: .long, help: "The .deb to ship.") var deb: String
        @Option(name: .long, help: "Its Debian package name (dpkg-deb -f DEB Package).") var packageName = "ichtriage"
        @Option(name: .long, help: "Its Debian version (dpkg-deb -f DEB Version).") var packageVersion: String
        @Option(name: .long, help: "Its Debian architecture (dpkg-deb -f DEB Architecture).") var architecture: String
        @Flag(name: .long, help: "Allow this bundle to replace a newer installed version (a deliberate, signed downgrade).")
        var downgradeAllowed = false
        @Option(name: .long, help: "Output: a folder, or a single file when it ends in .ichsoftware or .tar.") var out: String
        @OptionGroup var output: JSONOption

        func run() throws {
            try perform("software-pack", json: output.json, {
                try SoftwareBundle.pack(package: URL(fileURLWithPath: deb), packageName: packageName, packageVersion: packageVersion,
                                        architecture: architecture, output: URL(fileURLWithPath: out), downgradeAllowed: downgradeAllowed)
            }, text: { "packed \($0.packageName) \($0.packageVersion) (\($0.architecture)) -> \(out) (unsigned)" })
        }
    }

    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sign a software bundle with an Ed25519 private key (in place).")
        @Option(name: .long, help: "Private key file made by `ichtriage model keygen`.") var key: String
        @Argument(help: "Bundle folder or file.") var bundle: String
        @OptionGroup var output: JSONOption

        func run() throws {
            try perform("software-sign", json: output.json, {
                let k = try ModelSigningKey.read(from: URL(fileURLWithPath: key))
                return try SoftwareBundle.sign(bundle: URL(fileURLWithPath: bundle), with: k)
            }, text: { "signed \($0.packageName) \($0.packageVersion) with key \($0.keyId ?? "?")" })
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a software bundle on a local copy: safe entries, limits, signature, manifest, hashes.")
        @Option(name: .long, help: "Folder of trusted public keys (*.pub).") var keys = "/etc/ichtriage/keys"
        @Option(name: .long, help: "Keep the verified copy in this new folder (what the updater installs from).")
        var extractTo: String?
        @Argument(help: "Bundle folder or file.") var bundle: String
        @OptionGroup var output: JSONOption

        func run() throws {
            try perform("software-verify", json: output.json, {
                let trusted = try TrustedKeys.load(from: URL(fileURLWithPath: keys))
                let keep = extractTo.map { URL(fileURLWithPath: $0) }
                let work = keep ?? FileManager.default.temporaryDirectory
                    .appendingPathComponent("ichtriage-software-verify-\(UUID().uuidString)")
                defer { if keep == nil { try? FileManager.default.removeItem(at: work) } }
                var v = try SoftwareBundle.stageAndVerify(URL(fileURLWithPath: bundle), into: work, keys: trusted)
                if keep == nil { v.packagePath = nil }
                return v
            }, text: { "valid: \($0.packageName) \($0.packageVersion) (\($0.architecture)), signed by \($0.signerName) (\($0.signerKeyId)), \($0.bytes) bytes" })
        }
    }
}
