/// Size and shape limits for a bundle; anything over them is refused before it is trusted.
public struct BundleLimits: Sendable, Equatable {
    /// Most files in a bundle (manifest and signature included).
    public var maxFiles: Int = 256
    /// Largest single file.
    public var maxFileBytes: Int64 = 1 << 30
    /// Largest bundle (sum of all files).
    public var maxTotalBytes: Int64 = 2 << 30
    /// Largest manifest, signature or self-test vectors file (these are parsed in memory).
    public var maxMetadataBytes: Int64 = 4 << 20
    /// Deepest folder nesting inside a bundle.
    public var maxDepth: Int = 4

    public init() {}
}

/// Names inside a bundle: relative, `/`-separated, only `A-Z a-z 0-9 . _ -`, no `.`/`..`
/// components, no leading dot, at most 100 bytes (so they fit a plain ustar header).
enum BundlePath {
    static let maxBytes = 100

    static func validate(_ path: String, limits: BundleLimits) throws {
        func bad(_ why: String) -> ModelStoreError {
            ModelStoreError(.badPath, "entry name \(String(reflecting: String(path.prefix(120)))) \(why)")
        }
        guard !path.isEmpty else { throw bad("is empty") }
        guard path.utf8.count <= maxBytes else { throw bad("is longer than \(maxBytes) bytes") }
        guard !path.hasPrefix("/") else { throw bad("is an absolute path") }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        for part in parts {
            if part == ".." { throw bad("climbs out of the bundle (path traversal)") }
            if part.isEmpty || part == "." { throw bad("has an empty or '.' component") }
            if part.hasPrefix(".") { throw bad("has a hidden component") }
            guard part.unicodeScalars.allSatisfy({ s in
                s.isASCII && (("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s)
                              || s == "." || s == "_" || s == "-")
            }) else { throw bad("has characters outside A-Z a-z 0-9 . _ -") }
        }
        guard parts.count <= limits.maxDepth + 1 else { throw bad("is nested deeper than \(limits.maxDepth) folders") }
    }
}
