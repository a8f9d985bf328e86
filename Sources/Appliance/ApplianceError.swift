/// The one error type of the Appliance module: what went wrong, in words a person can act on.
public struct ApplianceError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        /// The configuration file is missing, malformed or has an invalid value.
        case configuration
        /// The durable store failed.
        case store
    }
    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue) error: \(message)" }
}
