/// The one error type of the ModelStore module: a code a program can branch on and a message
/// a field engineer can read on the status screen or in a receipt.
public struct ModelStoreError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Code: String, Sendable, Codable {
        /// A file name in the bundle is absolute, contains `..`, odd characters or is too long.
        case badPath
        /// A symlink, hard link, device, FIFO or other non-regular entry.
        case unsafeEntry
        /// The single-file bundle ends early.
        case truncated
        /// A file, the bundle or the file count is over the configured limits.
        case tooLarge
        /// The single-file bundle is not a well-formed archive (checksum, header, duplicates).
        case badArchive
        /// The manifest (or the self-test vectors file) is not valid for this format.
        case badManifest
        /// A file's SHA-256 or size differs from the manifest.
        case hashMismatch
        /// A file named by the manifest is absent.
        case missingFile
        /// A file is present that the manifest does not name.
        case unexpectedFile
        /// The Ed25519 signature does not verify, is malformed, or is missing.
        case badSignature
        /// The bundle names a signing key that is not among the trusted keys.
        case unknownKey
        /// A key file cannot be read or is malformed.
        case badKey
        /// The bundle is older than the active model and not signed as a downgrade.
        case downgrade
        /// The bundle needs a newer appliance.
        case applianceTooOld
        /// The model failed its own self-test vectors.
        case selfTestFailed
        /// The model failed the reference series kept on the device.
        case referenceCheckFailed
        /// The slot an install would overwrite is still used by a running analysis.
        case slotBusy
        /// There is no active model (fresh appliance, or its slot failed verification).
        case noActiveModel
        /// Rollback asked for, but there is no verified previous model.
        case noPreviousModel
        /// The store's own files are damaged (pointer file unreadable).
        case corruptStore
        /// A file system operation failed.
        case io
        /// A command-line usage error (bad option combination).
        case usage
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
