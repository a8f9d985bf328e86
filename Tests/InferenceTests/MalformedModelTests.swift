import Foundation
import XCTest
@testable import Inference

/// Hostile or broken ONNX files must fail at load with a clear error (never crash, never run).
final class MalformedModelTests: XCTestCase {
    func expectLoadError(_ data: Data, _ code: InferenceError.Code, mentioning text: String,
                         file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try InferenceModel(data: data)
            XCTFail("loaded a malformed model", file: file, line: line)
        } catch let e as InferenceError {
            XCTAssertEqual(e.code, code, "\(e)", file: file, line: line)
            XCTAssertTrue(e.message.contains(text), "'\(e.message)' should mention '\(text)'", file: file, line: line)
        } catch {
            XCTFail("unexpected error type \(error)", file: file, line: line)
        }
    }

    /// Every input kept from fuzzing (Tests/Fuzz/onnx-corpus: the seeds, and any input that once crashed
    /// or leaked, added there after its fix) loads or is refused with an error, never a crash.
    func testFuzzCorpusLoadsOrFailsCleanly() throws {
        let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fuzz/onnx-corpus")
        let files = try FileManager.default.contentsOfDirectory(at: corpus, includingPropertiesForKeys: nil)
        XCTAssertGreaterThanOrEqual(files.count, 3, "the seed corpus is missing")
        var loaded = 0
        for file in files {
            if (try? InferenceModel(data: try Data(contentsOf: file))) != nil { loaded += 1 }
        }
        XCTAssertGreaterThanOrEqual(loaded, 3, "the seed models must load")
    }

    func testValidSmallModelLoads() throws {
        let m = try InferenceModel(data: try ModelBuilder.smallQDQ().data())
        XCTAssertEqual(m.outputNames, ["probs"])
    }

    func testTruncatedFile() throws {
        let full = try ModelBuilder.smallQDQ().data()
        for cut in [full.count / 2, full.count - 3, 7] {
            expectLoadError(full.prefix(cut), .malformedModel, mentioning: "not a valid ONNX protobuf")
        }
    }

    func testGarbageAndEmpty() {
        expectLoadError(Data(), .malformedModel, mentioning: "empty")
        expectLoadError(Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }), .malformedModel,
                        mentioning: "ONNX")
    }

    func testInconsistentConvShapes() throws {
        var b = ModelBuilder()
        b.input("x", .float32, [1, 3, 8, 8])
        b.floats("w", [Float](repeating: 0.1, count: 4 * 5 * 9), [4, 5, 3, 3])  // 5 input channels, input has 3
        b.node("Conv", ["x", "w"], ["y"])
        b.output("y")
        expectLoadError(try b.data(), .invalidGraph, mentioning: "channels")
    }

    func testAddShapesThatDoNotBroadcast() throws {
        var b = ModelBuilder()
        b.input("x", .float32, [2, 3])
        b.floats("c", [1, 2, 3, 4], [4])
        b.node("Add", ["x", "c"], ["y"])
        b.output("y")
        expectLoadError(try b.data(), .invalidGraph, mentioning: "broadcast")
    }

    func testAbsurdDimensions() throws {
        var b = ModelBuilder()
        b.input("x", .float32, [1, 1 << 40])
        b.node("Relu", ["x"], ["y"])
        b.output("y")
        expectLoadError(try b.data(), .invalidGraph, mentioning: "absurd")

        var c = ModelBuilder()
        c.input("x", .float32, [1 << 20, 1 << 20])   // each dimension plausible, the product is not
        c.node("Relu", ["x"], ["y"])
        c.output("y")
        expectLoadError(try c.data(), .invalidGraph, mentioning: "absurd")

        var d = ModelBuilder()
        d.input("x", .float32, [1, 4])
        d.initializer("s", Tensor(int64s: [1 << 30, 1 << 30, 1 << 30], shape: [3]))
        d.node("Reshape", ["x", "s"], ["y"])
        d.output("y")
        expectLoadError(try d.data(), .invalidGraph, mentioning: "reshape")
    }

    func testCycle() throws {
        var b = ModelBuilder()
        b.input("x", .float32, [1, 4])
        b.node("Add", ["x", "b"], ["a"])
        b.node("Relu", ["a"], ["b"])
        b.output("b")
        expectLoadError(try b.data(), .invalidGraph, mentioning: "cycle")
    }

    func testUndefinedValue() throws {
        var b = ModelBuilder()
        b.input("x", .float32, [1, 4])
        b.node("Add", ["x", "nowhere"], ["y"])
        b.output("y")
        expectLoadError(try b.data(), .invalidGraph, mentioning: "nowhere")
    }

    func testInitializerLargerThanItsData() throws {
        var b = ModelBuilder()
        b.input("x", .float32, [1, 4])
        var t = Onnx_TensorProto()
        t.name = "big"
        t.dataType = ElementType.float32.rawValue
        t.dims = [1 << 28]                   // 1 GiB declared
        t.rawData = Data(count: 16)          // 16 bytes present
        b.graph.initializer.append(t)
        b.node("Add", ["x", "big"], ["y"])
        b.output("y")
        expectLoadError(try b.data(), .invalidGraph, mentioning: "holds 16 bytes")

        var c = ModelBuilder()
        c.input("x", .float32, [1, 4])
        var u = Onnx_TensorProto()
        u.name = "short"
        u.dataType = ElementType.float32.rawValue
        u.dims = [4]
        u.floatData = [1, 2, 3]
        c.graph.initializer.append(u)
        c.node("Add", ["x", "short"], ["y"])
        c.output("y")
        expectLoadError(try c.data(), .invalidGraph, mentioning: "holds 3 floats")
    }

    func testExternalData() throws {
        var b = ModelBuilder()
        b.input("x", .float32, [1, 4])
        var t = Onnx_TensorProto()
        t.name = "w"
        t.dataType = ElementType.float32.rawValue
        t.dims = [4]
        t.dataLocation = .external
        var e = Onnx_StringStringEntryProto()
        e.key = "location"
        e.value = "../../etc/passwd"
        t.externalData = [e]
        b.graph.initializer.append(t)
        b.node("Add", ["x", "w"], ["y"])
        b.output("y")
        expectLoadError(try b.data(), .unsupported, mentioning: "external data")
    }

    func testUnsupportedOperatorIsNamedAtLoad() throws {
        var b = ModelBuilder()
        b.input("x", .float32, [1, 4])
        b.node("Softmax", ["x"], ["y"])
        b.output("y")
        expectLoadError(try b.data(), .unsupported, mentioning: "'Softmax'")
    }

    func testUnsupportedTypeIsNamedAtLoad() throws {
        var b = ModelBuilder()
        b.input("x", .float32, [1, 4])
        var t = Onnx_TensorProto()
        t.name = "d"
        t.dataType = 11  // DOUBLE
        t.dims = [4]
        t.doubleData = [1, 2, 3, 4]
        b.graph.initializer.append(t)
        b.node("Add", ["x", "d"], ["y"])
        b.output("y")
        expectLoadError(try b.data(), .unsupported, mentioning: "DOUBLE")

        var c = ModelBuilder()
        c.input("x", .float32, [1, 4])
        c.node("Relu", ["x"], ["y"])
        c.graph.node[0].domain = "com.microsoft"
        c.output("y")
        expectLoadError(try c.data(), .unsupported, mentioning: "com.microsoft")
    }

    func testMissingOutput() throws {
        var b = ModelBuilder()
        b.input("x", .float32, [1, 4])
        b.node("Relu", ["x"], ["y"])
        b.output("nope")
        expectLoadError(try b.data(), .badInput, mentioning: "nope")
    }

    func testEveryTruncationFailsCleanly() throws {
        // Every prefix of a valid model either loads (never, in practice) or fails with an InferenceError.
        let full = try ModelBuilder.smallQDQ().data()
        for cut in stride(from: 1, to: full.count, by: max(1, full.count / 200)) {
            do { _ = try InferenceModel(data: full.prefix(cut)) } catch is InferenceError {} catch {
                XCTFail("prefix \(cut): \(error)")
            }
        }
    }
}
