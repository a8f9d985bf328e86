import Foundation

/// The service's configuration (/etc/ichtriage/ichtriaged.json). Every field has a default that
/// works on the appliance, so an empty object `{}` is a valid file; unknown keys are refused
/// (a typo must not silently fall back to a default). Documented in docs/configuration.md.
public struct ApplianceConfiguration: Sendable, Equatable {
    /// Folders watched for exams: the network/scanner drop folder and the USB mount parent.
    public var dropFolders: [String] = ["/var/spool/ichtriage/drop", "/media/ichtriage"]
    /// SQLite store, active model slots, receipts, alert records and thumbnails.
    public var stateDirectory: String = "/var/lib/ichtriage"
    public var quarantineDirectory: String = "/var/spool/ichtriage/quarantine"
    /// DICOM Secondary Capture series for PACS.
    public var outboxDirectory: String = "/var/spool/ichtriage/outbox"
    /// A file is read once its size and mtime have not changed for this long.
    public var stableSeconds: Double = 2
    /// A series is complete when no new slice arrived for this long.
    public var quietPeriodSeconds: Double = 10
    /// Periodic rescan (inotify misses writes made by other hosts on NFS/SMB).
    public var rescanSeconds: Double = 5
    /// Trusted Ed25519 public keys for model bundles (several, for key rotation).
    public var modelKeysDirectory: String = "/etc/ichtriage/keys"
    /// Inference threads.
    public var threads: Int = 2
    /// Below this much free space in the state or spool folders the appliance shows a fault.
    public var minimumFreeMegabytes: Int = 500
    public var retention = Retention()
    public var display = Display()
    public var gpio = GPIO()
    public var cstore = CStore()

    public struct Retention: Sendable, Equatable {
        /// Alert records, quarantine and outbox entries older than this are pruned.
        public var days: Int = 30
        /// ...and the oldest are pruned while quarantine + outbox + records exceed this.
        public var maximumMegabytes: Int = 2048
    }

    public struct Display: Sendable, Equatable {
        /// Linux framebuffer device; "" turns the screen off (PNG only).
        public var framebuffer: String = "/dev/fb0"
        /// The same frame as PNG (remote support, tests); "" for none.
        public var png: String = "/var/lib/ichtriage/screen.png"
        /// Identifiers shown on screen (never logged): accessionNumber, patientInitials, patientID.
        public var identifiers: [String] = ["accessionNumber", "patientInitials"]
    }

    public struct GPIO: Sendable, Equatable {
        public var enabled: Bool = false
        public var chip: String = "gpiochip0"
        public var red: Int = 17
        public var amber: Int = 27
        public var green: Int = 22
        public var buzzer: Int = 23
        public var button: Int = 24
        /// Names of the lines (red, amber, green, buzzer, button) wired active-low.
        public var activeLow: [String] = []
    }

    public struct CStore: Sendable, Equatable {
        /// The DICOM C-STORE receiver; off by default (the unit then has no network at all).
        public var enabled: Bool = false
        public var aeTitle: String = "ICHTRIAGE"
        public var port: Int = 11112
    }

    public init() {}

    public static let defaultPath = "/etc/ichtriage/ichtriaged.json"

    /// Loads and validates a configuration file. A missing file at the default path means
    /// defaults; a missing file named explicitly is an error.
    public static func load(path: String, mustExist: Bool) throws -> ApplianceConfiguration {
        guard FileManager.default.fileExists(atPath: path) else {
            if mustExist { throw ApplianceError(.configuration, "\(path): no such file") }
            return ApplianceConfiguration()
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ApplianceError(.configuration, "\(path): cannot read: \(error.localizedDescription)")
        }
        return try parse(data, source: path)
    }

    public static func parse(_ data: Data, source: String = "configuration") throws -> ApplianceConfiguration {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ApplianceError(.configuration, "\(source): not valid JSON (\(error.localizedDescription))")
        }
        guard let root = object as? [String: Any] else {
            throw ApplianceError(.configuration, "\(source): the top level must be a JSON object")
        }
        var reader = ConfigReader(source: source)
        var c = ApplianceConfiguration()
        try reader.read(root, "", [
            "dropFolders": { c.dropFolders = try $0.strings($1, $2) },
            "stateDirectory": { c.stateDirectory = try $0.path($1, $2) },
            "quarantineDirectory": { c.quarantineDirectory = try $0.path($1, $2) },
            "outboxDirectory": { c.outboxDirectory = try $0.path($1, $2) },
            "stableSeconds": { c.stableSeconds = try $0.number($1, $2, 0.1...3600) },
            "quietPeriodSeconds": { c.quietPeriodSeconds = try $0.number($1, $2, 0.5...86_400) },
            "rescanSeconds": { c.rescanSeconds = try $0.number($1, $2, 0.5...3600) },
            "modelKeysDirectory": { c.modelKeysDirectory = try $0.path($1, $2) },
            "threads": { c.threads = try $0.integer($1, $2, 1...256) },
            "minimumFreeMegabytes": { c.minimumFreeMegabytes = try $0.integer($1, $2, 0...1_000_000) },
            "retention": { r, key, value in
                try r.read(try r.object(key, value), key + ".", [
                    "days": { c.retention.days = try $0.integer($1, $2, 1...3650) },
                    "maximumMegabytes": { c.retention.maximumMegabytes = try $0.integer($1, $2, 1...10_000_000) },
                ])
            },
            "display": { r, key, value in
                try r.read(try r.object(key, value), key + ".", [
                    "framebuffer": { c.display.framebuffer = try $0.string($1, $2) },
                    "png": { c.display.png = try $0.string($1, $2) },
                    "identifiers": {
                        c.display.identifiers = try $0.strings($1, $2, allowed: ["accessionNumber", "patientInitials", "patientID"])
                    },
                ])
            },
            "gpio": { r, key, value in
                try r.read(try r.object(key, value), key + ".", [
                    "enabled": { c.gpio.enabled = try $0.bool($1, $2) },
                    "chip": { c.gpio.chip = try $0.string($1, $2) },
                    "red": { c.gpio.red = try $0.integer($1, $2, 0...1023) },
                    "amber": { c.gpio.amber = try $0.integer($1, $2, 0...1023) },
                    "green": { c.gpio.green = try $0.integer($1, $2, 0...1023) },
                    "buzzer": { c.gpio.buzzer = try $0.integer($1, $2, 0...1023) },
                    "button": { c.gpio.button = try $0.integer($1, $2, 0...1023) },
                    "activeLow": {
                        c.gpio.activeLow = try $0.strings($1, $2, allowed: ["red", "amber", "green", "buzzer", "button"])
                    },
                ])
            },
            "cstore": { r, key, value in
                try r.read(try r.object(key, value), key + ".", [
                    "enabled": { c.cstore.enabled = try $0.bool($1, $2) },
                    "aeTitle": { c.cstore.aeTitle = try $0.aeTitle($1, $2) },
                    "port": { c.cstore.port = try $0.integer($1, $2, 1...65535) },
                ])
            },
        ])
        let lines = [c.gpio.red, c.gpio.amber, c.gpio.green, c.gpio.buzzer, c.gpio.button]
        if c.gpio.enabled && Set(lines).count != lines.count {
            throw ApplianceError(.configuration, "\(source): gpio: two functions share one line offset \(lines)")
        }
        if c.dropFolders.isEmpty {
            throw ApplianceError(.configuration, "\(source): dropFolders: at least one folder is needed")
        }
        return c
    }
}

/// Reads one JSON object against a table of known keys, with messages that name the key.
private struct ConfigReader {
    let source: String
    typealias Setter = (inout ConfigReader, String, Any) throws -> Void

    mutating func read(_ object: [String: Any], _ prefix: String, _ setters: [String: Setter]) throws {
        for key in object.keys.sorted() {
            guard let setter = setters[key] else {
                let known = setters.keys.sorted().joined(separator: ", ")
                throw fail(prefix + key, "unknown key (known here: \(known))")
            }
            try setter(&self, prefix + key, object[key]!)
        }
    }

    func fail(_ key: String, _ why: String) -> ApplianceError {
        ApplianceError(.configuration, "\(source): \(key): \(why)")
    }
    func object(_ key: String, _ value: Any) throws -> [String: Any] {
        guard let o = value as? [String: Any] else { throw fail(key, "must be an object") }
        return o
    }
    func string(_ key: String, _ value: Any) throws -> String {
        guard let s = value as? String else { throw fail(key, "must be a string") }
        return s
    }
    func path(_ key: String, _ value: Any) throws -> String {
        let s = try string(key, value)
        guard s.hasPrefix("/") else { throw fail(key, "must be an absolute path, got \"\(s)\"") }
        return s
    }
    func strings(_ key: String, _ value: Any, allowed: Set<String>? = nil) throws -> [String] {
        guard let a = value as? [Any], let s = a as? [String] else { throw fail(key, "must be a list of strings") }
        if let allowed, let bad = s.first(where: { !allowed.contains($0) }) {
            throw fail(key, "\"\(bad)\" is not one of \(allowed.sorted().joined(separator: ", "))")
        }
        return s
    }
    func bool(_ key: String, _ value: Any) throws -> Bool {
        guard let n = value as? NSNumber, Self.isBoolean(n) else { throw fail(key, "must be true or false") }
        return n.boolValue
    }
    func number(_ key: String, _ value: Any, _ range: ClosedRange<Double>) throws -> Double {
        guard let n = value as? NSNumber, !Self.isBoolean(n) else { throw fail(key, "must be a number") }
        let d = n.doubleValue
        guard range.contains(d) else { throw fail(key, "\(d) is outside \(range.lowerBound)...\(range.upperBound)") }
        return d
    }
    func integer(_ key: String, _ value: Any, _ range: ClosedRange<Int>) throws -> Int {
        let d = try number(key, value, Double(range.lowerBound)...Double(range.upperBound))
        guard d == d.rounded() else { throw fail(key, "must be a whole number") }
        return Int(d)
    }
    /// JSONSerialization gives true/false as NSNumber too; its type code tells them apart.
    static func isBoolean(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }
    func aeTitle(_ key: String, _ value: Any) throws -> String {
        let s = try string(key, value)
        guard (1...16).contains(s.count), s.allSatisfy({ $0.isASCII && $0 != "\\" && !$0.isNewline }) else {
            throw fail(key, "an AE title is 1 to 16 ASCII characters without backslash")
        }
        return s
    }
}
