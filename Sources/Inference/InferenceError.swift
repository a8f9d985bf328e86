/// The one error type of the Inference module: what went wrong, with the model element that caused it.
public struct InferenceError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        /// The file is not a readable ONNX protobuf (truncated, corrupt, too large).
        case malformedModel
        /// The graph is well-formed protobuf but inconsistent (cycle, missing value, bad shapes or sizes).
        case invalidGraph
        /// An operator, attribute value or element type this engine does not implement.
        case unsupported
        /// Inputs given to a run do not match the model.
        case badInput
        /// A NumPy .npy file could not be read or written.
        case npy
        /// A kernel rejected its arguments (should not happen after a successful load).
        case kernel
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
