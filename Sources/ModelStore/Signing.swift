import Foundation
@preconcurrency import Crypto

/// An Ed25519 key for signing model bundles. The private half lives in a 0600 file outside
/// any repository; the public half is a `.pub` file in the appliance's trusted-keys folder.
public struct ModelSigningKey: Sendable {
    public let name: String
    public let privateKey: Curve25519.Signing.PrivateKey
    public var publicKey: Curve25519.Signing.PublicKey { privateKey.publicKey }
    public var keyId: String { Self.keyId(of: publicKey) }

    public init(name: String, privateKey: Curve25519.Signing.PrivateKey = .init()) {
        self.name = name
        self.privateKey = privateKey
    }

    /// Key id: the first 16 hex digits of SHA-256 over the 32 raw public-key bytes.
    public static func keyId(of key: Curve25519.Signing.PublicKey) -> String {
        String(DurableFiles.sha256Hex(key.rawRepresentation).prefix(16))
    }

    static func isValidKeyId(_ s: String) -> Bool {
        s.count == 16 && s.allSatisfy { "0123456789abcdef".contains($0) }
    }

    struct PrivateFile: Codable {
        var kind = "ichtriage-model-signing-key"
        var algorithm = "ed25519"
        var name: String
        var keyId: String
        var privateKey: String
    }

    /// Writes the private key (mode 0600, refusing to overwrite) and `<file>.pub` beside it.
    public func write(privateKeyTo url: URL) throws -> URL {
        guard case .missing = DurableFiles.kind(of: url) else {
            throw ModelStoreError(.io, "\(url.path) exists; refusing to overwrite a key")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let priv = try encoder.encode(PrivateFile(name: name, keyId: keyId,
                                                  privateKey: privateKey.rawRepresentation.base64EncodedString()))
        try DurableFiles.writeFile(priv, to: url, mode: 0o600, exclusive: true)
        let pubURL = url.appendingPathExtension("pub")
        try DurableFiles.writeFile(TrustedKey(name: name, publicKey: publicKey).fileBytes(), to: pubURL, mode: 0o644, exclusive: false)
        return pubURL
    }

    public static func read(from url: URL) throws -> ModelSigningKey {
        let data = try DurableFiles.readSmallFile(url, limit: 64 * 1024, what: "private key file")
        guard let file = try? JSONDecoder().decode(PrivateFile.self, from: data),
              file.kind == "ichtriage-model-signing-key", file.algorithm == "ed25519",
              let raw = Data(base64Encoded: file.privateKey),
              let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        else { throw ModelStoreError(.badKey, "\(url.lastPathComponent) is not an ichtriage Ed25519 private key file") }
        return ModelSigningKey(name: file.name, privateKey: key)
    }
}

/// A trusted public key (one `.pub` file in the keys folder).
public struct TrustedKey: Sendable {
    public let name: String
    public let publicKey: Curve25519.Signing.PublicKey
    public var keyId: String { ModelSigningKey.keyId(of: publicKey) }

    public init(name: String, publicKey: Curve25519.Signing.PublicKey) {
        self.name = name; self.publicKey = publicKey
    }

    struct File: Codable {
        var kind = "ichtriage-model-public-key"
        var algorithm = "ed25519"
        var name: String
        var keyId: String
        var publicKey: String
    }

    func fileBytes() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        var d = try encoder.encode(File(name: name, keyId: keyId, publicKey: publicKey.rawRepresentation.base64EncodedString()))
        d.append(0x0A)
        return d
    }

    static func parse(_ data: Data, fileName: String) throws -> TrustedKey {
        guard let f = try? JSONDecoder().decode(File.self, from: data),
              f.kind == "ichtriage-model-public-key", f.algorithm == "ed25519",
              let raw = Data(base64Encoded: f.publicKey),
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
        else { throw ModelStoreError(.badKey, "\(fileName) is not an ichtriage Ed25519 public key file") }
        let k = TrustedKey(name: f.name, publicKey: key)
        guard k.keyId == f.keyId else {
            throw ModelStoreError(.badKey, "\(fileName): keyId \(f.keyId) does not match its public key (\(k.keyId))")
        }
        return k
    }
}

/// The trusted keys of an appliance: every `*.pub` file in one folder (several at once, so a
/// new key can be added before the old one is retired).
public struct TrustedKeys: Sendable {
    public let keys: [TrustedKey]
    /// Files in the folder that were skipped, with the reason (shown by `model verify`).
    public let skipped: [String]

    public init(_ keys: [TrustedKey]) { self.keys = keys; self.skipped = [] }

    public static func load(from directory: URL) throws -> TrustedKeys {
        guard case .directory = DurableFiles.kind(of: directory) else {
            throw ModelStoreError(.badKey, "trusted keys folder \(directory.path) does not exist")
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var keys: [TrustedKey] = []
        var skipped: [String] = []
        for name in names.sorted() where name.hasSuffix(".pub") {
            do {
                let data = try DurableFiles.readSmallFile(directory.appendingPathComponent(name), limit: 64 * 1024, what: "public key file")
                keys.append(try TrustedKey.parse(data, fileName: name))
            } catch {
                skipped.append("\(name): \(error)")
            }
        }
        guard !keys.isEmpty else {
            throw ModelStoreError(.badKey, "no trusted public keys (*.pub) in \(directory.path)")
        }
        return TrustedKeys(keys: keys, skipped: skipped)
    }

    private init(keys: [TrustedKey], skipped: [String]) { self.keys = keys; self.skipped = skipped }

    func key(id: String) -> TrustedKey? { keys.first { $0.keyId == id } }
}

/// `manifest.sig`: which key signed, and the Ed25519 signature over manifest.json's exact bytes.
struct ManifestSignature: Codable {
    var algorithm = "ed25519"
    var keyId: String
    var signature: String

    static func sign(manifestBytes: Data, with key: ModelSigningKey) throws -> Data {
        let sig = try key.privateKey.signature(for: manifestBytes)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        var d = try encoder.encode(ManifestSignature(keyId: key.keyId, signature: sig.base64EncodedString()))
        d.append(0x0A)
        return d
    }

    /// Checks `signatureBytes` over `manifestBytes`; returns the signing key's id.
    static func verify(signatureBytes: Data, manifestBytes: Data, keys: TrustedKeys) throws -> TrustedKey {
        guard let s = try? JSONDecoder().decode(ManifestSignature.self, from: signatureBytes), s.algorithm == "ed25519" else {
            throw ModelStoreError(.badSignature, "manifest.sig is not an Ed25519 signature file")
        }
        guard let key = keys.key(id: s.keyId) else {
            throw ModelStoreError(.unknownKey, "bundle is signed by key \(s.keyId), which is not among the \(keys.keys.count) trusted key(s)")
        }
        guard let raw = Data(base64Encoded: s.signature), raw.count == 64 else {
            throw ModelStoreError(.badSignature, "manifest.sig does not hold a 64-byte signature")
        }
        guard key.publicKey.isValidSignature(raw, for: manifestBytes) else {
            throw ModelStoreError(.badSignature, "signature does not verify with key \(s.keyId) (\(key.name)): manifest or signature altered")
        }
        return key
    }
}
