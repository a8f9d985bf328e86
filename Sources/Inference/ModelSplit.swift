import Foundation

/// A model cut in two at named values: `front` computes the cut values from the model's inputs,
/// `back` takes them as its inputs and computes the model's outputs. Used to run a per-slice CNN as
/// slices arrive and only the sequence head when a series completes; running front then back gives
/// the same results as the whole model because both halves keep the original nodes (and their QDQ
/// patterns) unchanged.
public struct ModelSplit: Sendable {
    public let front: InferenceModel
    public let back: InferenceModel
    public let cut: [String]
}

extension InferenceModel {
    /// The operator and inputs of the node that produces `value`, or nil for inputs, initializers and
    /// unknown names.
    public func producer(of value: String) -> (op: String, inputs: [String])? {
        graph.nodes.first { $0.outputs.contains(value) }.map { ($0.op, $0.inputs) }
    }

    /// Cuts the model at `cut` (values computed by nodes). Throws when the back half would still need
    /// one of the model's inputs, so that it cannot run from the cut values alone.
    public func split(at cut: [String]) throws -> ModelSplit {
        guard !cut.isEmpty else { throw InferenceError(.badInput, "no values to cut the model at") }
        for name in cut where producer(of: name) == nil {
            throw InferenceError(.badInput, "cannot cut at '\(name)': no node computes it")
        }
        // Types and shapes of the cut values at two batch sizes: dimensions that follow the batch stay dynamic.
        let one = try CompiledPlan(model: self, inputShapes: defaultShapes(batch: 1), extraOutputs: cut)
        let two = try CompiledPlan(model: self, inputShapes: defaultShapes(batch: 2), extraOutputs: cut)
        let cutInputs = cut.map { name -> Graph.Input in
            let a = one.outputs[name]!, b = two.outputs[name]!
            return Graph.Input(name: name, type: a.type, dims: zip(a.shape, b.shape).map { $0 == $1 ? $0 : nil })
        }

        let available = Set(graph.initializers.keys)
        let frontNodes = try graph.nodes(computing: cut, from: available.union(graph.inputs.map(\.name)))
        let backOutputs = graph.outputs.filter { !cut.contains($0) }
        guard !backOutputs.isEmpty else { throw InferenceError(.badInput, "every output of the model is a cut value") }
        let backNodes = try graph.nodes(computing: backOutputs, from: available.union(cut))

        var front = graph
        front.nodes = frontNodes
        front.outputs = cut
        front.outputTypes = Dictionary(uniqueKeysWithValues: cutInputs.map { ($0.name, $0.type) })
        var back = graph
        back.nodes = backNodes
        back.inputs = cutInputs
        back.outputs = backOutputs
        back.outputTypes = graph.outputTypes.filter { backOutputs.contains($0.key) }
        return ModelSplit(front: try InferenceModel(graph: front, options: options),
                          back: try InferenceModel(graph: back, options: options), cut: cut)
    }
}

extension Graph {
    /// The nodes (in graph order) needed to compute `targets` when the values in `available` are given.
    /// Throws when a needed value is neither given nor computed (e.g. the model's input, for a back half).
    func nodes(computing targets: [String], from available: Set<String>) throws -> [Node] {
        var producerIndex: [String: Int] = [:]
        for (i, n) in nodes.enumerated() { for o in n.outputs where !o.isEmpty { producerIndex[o] = i } }
        var needed = Set<Int>()
        var stack = targets
        var seen = Set<String>()
        while let value = stack.popLast() {
            guard seen.insert(value).inserted, !available.contains(value) else { continue }
            guard let i = producerIndex[value] else {
                throw InferenceError(.badInput, "value '\(value)' is needed but neither given nor computed by this part of the model")
            }
            if needed.insert(i).inserted { stack.append(contentsOf: nodes[i].inputs.filter { !$0.isEmpty }) }
        }
        return nodes.indices.filter(needed.contains).map { nodes[$0] }
    }
}
