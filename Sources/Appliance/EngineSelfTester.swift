import Foundation
import Inference
import ModelStore

/// The model store's self-test, for real: loads the staged model with our inference engine and
/// runs the bundle's own vectors, every expected output within its tolerance. A model that does
/// not load, names an unknown input or output, or gives a non-finite or wrong value fails, and the
/// store keeps the model it has.
public struct EngineSelfTester: ModelSelfTester {
    public var threads: Int
    public init(threads: Int = 2) { self.threads = threads }

    public func selfTest(_ request: SelfTestRequest) -> SelfTestOutcome {
        let model: InferenceModel
        do { model = try InferenceModel(contentsOf: request.modelURL, options: EngineOptions(threads: threads)) } catch {
            return .fail("the model does not load in the engine: \(error)")
        }
        var worst = 0.0
        for testCase in request.vectors.cases {
            do {
                var feeds: [String: Tensor] = [:]
                for input in testCase.inputs {
                    feeds[input.name] = Tensor(floats: try request.load(input), shape: input.shape)
                }
                let outputs = try model.run(feeds)
                for expected in testCase.expected {
                    guard let actual = outputs[expected.name] else {
                        return .fail("case \(testCase.name): the model has no output \(expected.name)")
                    }
                    guard actual.shape == expected.shape,
                          let error = SelfTestRequest.maxAbsoluteError(expected: try request.load(expected), actual: actual.floats)
                    else {
                        return .fail("case \(testCase.name): output \(expected.name) has shape \(actual.shape) or non-finite values, expected \(expected.shape)")
                    }
                    let tolerance = request.vectors.tolerance(for: expected)
                    guard error <= tolerance else {
                        return .fail("case \(testCase.name): output \(expected.name) off by \(error), tolerance \(tolerance)")
                    }
                    worst = max(worst, error)
                }
            } catch {
                return .fail("case \(testCase.name): \(error)")
            }
        }
        return .pass("engine ran \(request.vectors.cases.count) self-test case(s); max |error| \(worst)")
    }
}

extension ModelStore {
    /// The appliance's model store: a new model runs its own vectors in our engine
    /// (`EngineSelfTester`) and then the reference series kept under `<store>/reference`
    /// through the whole triage pipeline (`ReferenceSeriesChecker`). The service, `ichtriage
    /// model install` and `ichtriage selftest` all use this one.
    public static func appliance(configuration: ModelStoreConfiguration, threads: Int = 2) -> ModelStore {
        ModelStore(configuration: configuration, selfTester: EngineSelfTester(threads: threads),
                   referenceCheck: ReferenceSeriesChecker(reference: .inStore(configuration.storeDirectory), threads: threads))
    }
}
