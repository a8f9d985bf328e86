/// The engine's own view of an ONNX graph: plain Swift values, validated and topologically sorted by the loader.
struct Graph: Sendable {
    struct Node: Sendable {
        var name: String
        var op: String
        /// "" marks an omitted optional input.
        var inputs: [String]
        var outputs: [String]
        var attributes: [String: Attribute]

        func input(_ i: Int) -> String? { i < inputs.count && !inputs[i].isEmpty ? inputs[i] : nil }
        var label: String { name.isEmpty ? "\(op) node producing '\(outputs.first ?? "?")'" : "\(op) node '\(name)'" }
    }

    enum Attribute: Sendable {
        case int(Int)
        case float(Float)
        case string(String)
        case ints([Int])
        case floats([Float])
        case strings([String])
        case tensor(Tensor)
    }

    /// A declared graph input: dims are nil where dynamic (dim_param or unknown).
    struct Input: Sendable {
        var name: String
        var type: ElementType
        var dims: [Int?]
    }

    var nodes: [Node]
    var initializers: [String: Tensor]
    var inputs: [Input]
    var outputs: [String]
    /// Declared element type of each graph output, where the file states a supported one.
    var outputTypes: [String: ElementType]
    var opset: Int
}

extension Graph.Node {
    func int(_ key: String, _ def: Int) throws -> Int {
        switch attributes[key] {
        case nil: return def
        case .int(let v)?: return v
        default: throw InferenceError(.invalidGraph, "\(label): attribute '\(key)' must be an int")
        }
    }

    func ints(_ key: String) throws -> [Int]? {
        switch attributes[key] {
        case nil: return nil
        case .ints(let v)?: return v
        case .int(let v)?: return [v]
        default: throw InferenceError(.invalidGraph, "\(label): attribute '\(key)' must be a list of ints")
        }
    }

    func float(_ key: String, _ def: Float) throws -> Float {
        switch attributes[key] {
        case nil: return def
        case .float(let v)?: return v
        case .int(let v)?: return Float(v)
        default: throw InferenceError(.invalidGraph, "\(label): attribute '\(key)' must be a float")
        }
    }

    func string(_ key: String, _ def: String) throws -> String {
        switch attributes[key] {
        case nil: return def
        case .string(let v)?: return v
        default: throw InferenceError(.invalidGraph, "\(label): attribute '\(key)' must be a string")
        }
    }

    func strings(_ key: String) throws -> [String]? {
        switch attributes[key] {
        case nil: return nil
        case .strings(let v)?: return v
        default: throw InferenceError(.invalidGraph, "\(label): attribute '\(key)' must be a list of strings")
        }
    }
}
