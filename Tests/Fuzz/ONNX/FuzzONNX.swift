// Fuzzing the ONNX loader and planner: bytes in, a loaded model or a clear error out, never a crash.
//   make fuzz-onnx   builds this file with libFuzzer + AddressSanitizer (-D FUZZING) and fuzzes;
//   without FUZZING it is a replay tool: `FuzzONNX FILE...` loads each file and prints the outcome
//   (how an input found by the fuzzer is checked again after a fix).
import Foundation
import Inference

/// One input: load and compile; an error is a fine outcome, a crash or sanitizer report is a finding.
func loadONNX(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data else { return 0 }
    _ = try? InferenceModel(data: Data(bytes: data, count: size))
    return 0
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { loadONNX(data, size) }

// SwiftPM links an executable's entry point itself, so libFuzzer's own main is not used: this
// main hands the command line to libFuzzer's driver (the documented LLVMFuzzerRunDriver).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

@main
enum FuzzONNX {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput))
    }
}
#else
@main
enum ReplayONNX {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            do {
                let model = try InferenceModel(data: try Data(contentsOf: URL(fileURLWithPath: path)))
                print("\(path): loaded (\(model.inputs.count) inputs, outputs \(model.outputNames))")
            } catch {
                print("\(path): refused: \(error)")
            }
        }
    }
}
#endif
