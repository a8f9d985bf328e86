import Foundation

/// The six outputs of the detector, in the model's order. Raw values are the JSON keys.
public enum HemorrhageLabel: String, Codable, CaseIterable, Sendable, CodingKeyRepresentable {
    case any, epidural, intraparenchymal, intraventricular, subarachnoid, subdural
}

/// The triage decision for one series. Raw values are the JSON spelling.
public enum Tier: String, Codable, CaseIterable, Sendable {
    case critical = "CRITICAL"
    case suspect = "SUSPECT"
    case negative = "NEGATIVE"
    case notAnalysable = "NOT_ANALYSABLE"
}

/// What one analysed series produced: written as JSON beside its thumbnails, read by the status
/// screen, the GPIO indicator and the service.
///
/// Times are ISO 8601 in UTC (see `jsonEncoder()`), except `studyDateTime`, which is the DICOM
/// StudyDate/StudyTime as recorded by the scanner (local time, no zone), e.g. "2026-11-29T14:03:00".
/// `patientInitials` is for display only and must never be logged.
public struct AlertRecord: Codable, Sendable, Equatable {
    public struct KeySlice: Codable, Sendable, Equatable {
        /// Position of the slice in the ordered series (0-based).
        public var index: Int
        public var sopInstanceUID: String
        /// Probability of the label that made this slice key (usually `any`).
        public var probability: Double
        public init(index: Int, sopInstanceUID: String, probability: Double) {
            self.index = index
            self.sopInstanceUID = sopInstanceUID
            self.probability = probability
        }
    }

    public struct Model: Codable, Sendable, Equatable {
        public var name: String
        public var version: String
        public init(name: String, version: String) {
            self.name = name
            self.version = version
        }
    }

    public var studyInstanceUID: String
    public var seriesInstanceUID: String
    public var accessionNumber: String?
    /// Display only; never written to logs.
    public var patientInitials: String?
    public var studyDateTime: String?
    public var arrivalTime: Date
    public var completionTime: Date
    public var probabilities: [HemorrhageLabel: Double]
    public var tier: Tier
    /// Why the series is NOT_ANALYSABLE (too few slices, not a head, ...); nil otherwise.
    public var reason: String?
    public var keySlices: [KeySlice]
    /// Grad-CAM thumbnail PNGs; relative paths are relative to the record's folder.
    public var thumbnails: [String]
    public var model: Model
    /// Time spent per stage ("decode", "cnn", "gradcam", ...), in milliseconds.
    public var timingsMs: [String: Double]

    public init(
        studyInstanceUID: String, seriesInstanceUID: String, accessionNumber: String? = nil,
        patientInitials: String? = nil, studyDateTime: String? = nil, arrivalTime: Date,
        completionTime: Date, probabilities: [HemorrhageLabel: Double], tier: Tier,
        reason: String? = nil, keySlices: [KeySlice] = [], thumbnails: [String] = [],
        model: Model, timingsMs: [String: Double] = [:]
    ) {
        self.studyInstanceUID = studyInstanceUID
        self.seriesInstanceUID = seriesInstanceUID
        self.accessionNumber = accessionNumber
        self.patientInitials = patientInitials
        self.studyDateTime = studyDateTime
        self.arrivalTime = arrivalTime
        self.completionTime = completionTime
        self.probabilities = probabilities
        self.tier = tier
        self.reason = reason
        self.keySlices = keySlices
        self.thumbnails = thumbnails
        self.model = model
        self.timingsMs = timingsMs
    }

    /// The encoder every writer of alert records uses: ISO 8601 UTC with milliseconds, sorted keys.
    public static func jsonEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(AlertTimestamp.format(date))
        }
        return encoder
    }

    /// Accepts ISO 8601 with or without fractional seconds.
    public static func jsonDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = AlertTimestamp.parse(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "'\(text)' is not an ISO 8601 time such as 2026-11-29T14:03:00Z")
            }
            return date
        }
        return decoder
    }

    /// Reads one record; a malformed file gives an error naming the file and the problem.
    public static func load(from url: URL) throws -> AlertRecord {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw AlertRecordError(path: url.path, problem: "cannot read: \(error.localizedDescription)")
        }
        do {
            return try jsonDecoder().decode(AlertRecord.self, from: data)
        } catch let error as DecodingError {
            throw AlertRecordError(path: url.path, problem: AlertRecordError.describe(error))
        }
    }

    /// Thumbnail paths made absolute against the folder the record was read from.
    public func thumbnailURLs(relativeTo folder: URL) -> [URL] {
        thumbnails.map { $0.hasPrefix("/") ? URL(fileURLWithPath: $0) : folder.appendingPathComponent($0) }
    }
}

/// A record that could not be read.
public struct AlertRecordError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var problem: String
    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }
    public var description: String { "alert record \(path): \(problem)" }

    static func describe(_ error: DecodingError) -> String {
        func at(_ path: [CodingKey]) -> String {
            path.isEmpty ? "top level" : path.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing field '\(at(context.codingPath + [key]))'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "wrong type at '\(at(context.codingPath))': \(context.debugDescription)"
        case .dataCorrupted(let context): return "invalid value at '\(at(context.codingPath))': \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

/// ISO 8601 UTC timestamps as alert records spell them.
public enum AlertTimestamp {
    public static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    public static func parse(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
