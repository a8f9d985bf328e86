/// A semantic version (https://semver.org): MAJOR.MINOR.PATCH with an optional pre-release;
/// build metadata (`+...`) is accepted and ignored for ordering, as the specification says.
public struct SemanticVersion: Comparable, CustomStringConvertible, Sendable, Hashable {
    public let major: Int
    public let minor: Int
    public let patch: Int
    public let preRelease: [String]
    private let text: String

    public init?(_ text: String) {
        guard text.utf8.count <= 64, !text.isEmpty else { return nil }
        var core = Substring(text)
        if let plus = core.firstIndex(of: "+") {
            let build = core[core.index(after: plus)...]
            guard !build.isEmpty, build.split(separator: ".", omittingEmptySubsequences: false)
                .allSatisfy({ !$0.isEmpty && $0.allSatisfy(SemanticVersion.isIdentifierCharacter) }) else { return nil }
            core = core[..<plus]
        }
        var pre: [String] = []
        if let dash = core.firstIndex(of: "-") {
            let p = core[core.index(after: dash)...]
            let parts = p.split(separator: ".", omittingEmptySubsequences: false)
            guard !p.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(SemanticVersion.isIdentifierCharacter) })
            else { return nil }
            pre = parts.map(String.init)
            core = core[..<dash]
        }
        let numbers = core.split(separator: ".", omittingEmptySubsequences: false)
        guard numbers.count == 3 else { return nil }
        var values: [Int] = []
        for n in numbers {
            guard !n.isEmpty, n.count <= 9, n.allSatisfy({ $0.isASCII && $0.isNumber }),
                  n == "0" || n.first != "0", let v = Int(n) else { return nil }
            values.append(v)
        }
        major = values[0]; minor = values[1]; patch = values[2]
        preRelease = pre
        self.text = text
    }

    private static func isIdentifierCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "-")
    }

    public var description: String { text }

    public static func == (a: SemanticVersion, b: SemanticVersion) -> Bool {
        a.major == b.major && a.minor == b.minor && a.patch == b.patch && a.preRelease == b.preRelease
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(major); hasher.combine(minor); hasher.combine(patch); hasher.combine(preRelease)
    }

    public static func < (a: SemanticVersion, b: SemanticVersion) -> Bool {
        if a.major != b.major { return a.major < b.major }
        if a.minor != b.minor { return a.minor < b.minor }
        if a.patch != b.patch { return a.patch < b.patch }
        // A pre-release sorts before its release.
        if a.preRelease.isEmpty || b.preRelease.isEmpty { return !a.preRelease.isEmpty && b.preRelease.isEmpty }
        for (x, y) in zip(a.preRelease, b.preRelease) where x != y {
            switch (Int(x), Int(y)) {
            case let (i?, j?): return i < j
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return x < y
            }
        }
        return a.preRelease.count < b.preRelease.count
    }
}
