/// Why the triage pipeline could not do its job. NOT ANALYSABLE series are not errors: they come back
/// as records with a reason; this is for what stops the pipeline itself (model, outputs).
public struct TriageError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case noValidModel = "no valid model"
        case inference = "inference failed"
        case output = "cannot write outputs"
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}
