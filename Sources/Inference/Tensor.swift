import Foundation

/// Element types the engine handles (ONNX TensorProto.DataType codes).
public enum ElementType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case float32 = 1
    case uint8 = 2
    case int8 = 3
    case int32 = 6
    case int64 = 7

    public var byteSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .uint8, .int8: return 1
        case .int64: return 8
        }
    }

    public var description: String {
        switch self {
        case .float32: return "float32"
        case .uint8: return "uint8"
        case .int8: return "int8"
        case .int32: return "int32"
        case .int64: return "int64"
        }
    }

    /// Name of an ONNX data type code, for error messages about types we do not support.
    static func onnxName(_ code: Int32) -> String {
        let names: [Int32: String] = [0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16",
                                      6: "INT32", 7: "INT64", 8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE",
                                      12: "UINT32", 13: "UINT64", 14: "COMPLEX64", 15: "COMPLEX128", 16: "BFLOAT16"]
        return names[code] ?? "type \(code)"
    }
}

/// A dense tensor in row-major (C) order; the bytes are little-endian elements of `type`.
public struct Tensor: Sendable, Equatable {
    public var type: ElementType
    public var shape: [Int]
    public var bytes: [UInt8]

    public var count: Int { shape.reduce(1, *) }

    public init(type: ElementType, shape: [Int], bytes: [UInt8]) {
        precondition(bytes.count == shape.reduce(1, *) * type.byteSize, "tensor byte count does not match shape")
        self.type = type
        self.shape = shape
        self.bytes = bytes
    }

    public init(zeros type: ElementType, shape: [Int]) {
        self.init(type: type, shape: shape, bytes: [UInt8](repeating: 0, count: shape.reduce(1, *) * type.byteSize))
    }

    public init(floats: [Float], shape: [Int]) { self.init(elements: floats, type: .float32, shape: shape) }
    public init(int64s: [Int64], shape: [Int]) { self.init(elements: int64s, type: .int64, shape: shape) }

    init<T>(elements: [T], type: ElementType, shape: [Int]) {
        let b = elements.withUnsafeBytes { [UInt8]($0) }
        self.init(type: type, shape: shape, bytes: b)
    }

    /// Elements reinterpreted as `T` (whose size must equal the element size).
    public func elements<T>(as: T.Type) -> [T] {
        precondition(MemoryLayout<T>.stride == type.byteSize)
        return bytes.withUnsafeBytes { raw in
            [T](unsafeUninitializedCapacity: count) { buf, n in
                memcpy(buf.baseAddress!, raw.baseAddress!, raw.count)
                n = count
            }
        }
    }

    public var floats: [Float] { type == .float32 ? elements(as: Float.self) : asDoubles().map { Float($0) } }

    /// Every element as Double (exact for all our types except int64 beyond 2^53, irrelevant for shapes).
    public func asDoubles() -> [Double] {
        switch type {
        case .float32: return elements(as: Float.self).map(Double.init)
        case .uint8: return bytes.map(Double.init)
        case .int8: return elements(as: Int8.self).map(Double.init)
        case .int32: return elements(as: Int32.self).map(Double.init)
        case .int64: return elements(as: Int64.self).map(Double.init)
        }
    }

    /// Every element as Int (shape arithmetic).
    public func asInts() -> [Int] {
        switch type {
        case .int64: return elements(as: Int64.self).map { Int($0) }
        case .int32: return elements(as: Int32.self).map { Int($0) }
        default: return asDoubles().map { Int($0) }
        }
    }

    /// A tensor of `type` from Double values (rounded to nearest, saturated for integers).
    static func fromDoubles(_ v: [Double], type: ElementType, shape: [Int]) -> Tensor {
        func sat<T: FixedWidthInteger>(_ x: Double, _: T.Type) -> T {
            let r = x.rounded(.toNearestOrEven)
            if r.isNaN { return 0 }
            return r <= Double(T.min) ? T.min : (r >= Double(T.max) ? T.max : T(r))
        }
        switch type {
        case .float32: return Tensor(elements: v.map { Float($0) }, type: type, shape: shape)
        case .uint8: return Tensor(elements: v.map { sat($0, UInt8.self) }, type: type, shape: shape)
        case .int8: return Tensor(elements: v.map { sat($0, Int8.self) }, type: type, shape: shape)
        case .int32: return Tensor(elements: v.map { sat($0, Int32.self) }, type: type, shape: shape)
        case .int64: return Tensor(elements: v.map { sat($0, Int64.self) }, type: type, shape: shape)
        }
    }
}
