import Foundation

/// Minimal NumPy .npy (format 1.0/2.0/3.0) reader and writer for little-endian float32, uint8, int8, int32 and
/// int64 arrays in C order: enough to exchange tensors with Python and ONNX Runtime.
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

    static func descr(_ t: ElementType) -> String {
        switch t {
        case .float32: return "<f4"
        case .uint8: return "|u1"
        case .int8: return "|i1"
        case .int32: return "<i4"
        case .int64: return "<i8"
        }
    }

    public static func read(_ url: URL) throws -> Tensor {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw InferenceError(.npy, "cannot read \(url.path): \(error.localizedDescription)")
        }
        return try decode([UInt8](data), name: url.lastPathComponent)
    }

    public static func decode(_ b: [UInt8], name: String = "npy") throws -> Tensor {
        func fail(_ why: String) -> InferenceError { InferenceError(.npy, "\(name): \(why)") }
        guard b.count >= 10, Array(b[0..<6]) == magic else { throw fail("not a .npy file (bad magic)") }
        let major = b[6]
        let headerLen: Int
        let start: Int
        switch major {
        case 1: headerLen = Int(b[8]) | Int(b[9]) << 8; start = 10
        case 2, 3:
            guard b.count >= 12 else { throw fail("truncated header") }
            headerLen = Int(b[8]) | Int(b[9]) << 8 | Int(b[10]) << 16 | Int(b[11]) << 24; start = 12
        default: throw fail("unsupported .npy version \(major)")
        }
        guard headerLen <= 1 << 20, start + headerLen <= b.count else { throw fail("truncated header") }
        guard let header = String(bytes: b[start..<start + headerLen], encoding: .utf8) else {
            throw fail("header is not text")
        }
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let d = field("descr"), let q1 = d.firstIndex(of: "'"),
              let q2 = d[d.index(after: q1)...].firstIndex(of: "'") else { throw fail("no dtype in header") }
        let descr = String(d[d.index(after: q1)..<q2])
        let type: ElementType
        switch descr {
        case "<f4": type = .float32
        case "|u1", "<u1", "u1": type = .uint8
        case "|i1", "<i1", "i1": type = .int8
        case "<i4": type = .int32
        case "<i8": type = .int64
        default: throw fail("unsupported dtype '\(descr)' (float32, uint8, int8, int32, int64 little-endian only)")
        }
        if let f = field("fortran_order"), f.hasPrefix("True") { throw fail("Fortran-order arrays are not supported") }
        guard let s = field("shape"), let open = s.firstIndex(of: "("), let close = s.firstIndex(of: ")") else {
            throw fail("no shape in header")
        }
        var shape: [Int] = []
        for part in s[s.index(after: open)..<close].split(separator: ",") {
            let p = part.trimmingCharacters(in: .whitespaces)
            if p.isEmpty { continue }
            guard let v = Int(p), v >= 0, v <= 1 << 31 else { throw fail("bad dimension '\(p)'") }
            shape.append(v)
        }
        var count = 1
        for d in shape {
            let (m, o) = count.multipliedReportingOverflow(by: d)
            guard !o, m <= 1 << 34 else { throw fail("array too large") }
            count = m
        }
        let dataStart = start + headerLen
        let need = count * type.byteSize
        guard b.count - dataStart >= need else {
            throw fail("data truncated: \(b.count - dataStart) bytes, shape \(shape) needs \(need)")
        }
        return Tensor(type: type, shape: shape, bytes: Array(b[dataStart..<dataStart + need]))
    }

    public static func encode(_ t: Tensor) -> [UInt8] {
        let shapeText = t.shape.isEmpty ? "()" : (t.shape.count == 1 ? "(\(t.shape[0]),)"
            : "(" + t.shape.map(String.init).joined(separator: ", ") + ")")
        var header = "{'descr': '\(descr(t.type))', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        let n = header.utf8.count
        var out = magic + [1, 0, UInt8(n & 0xFF), UInt8(n >> 8)]
        out += Array(header.utf8)
        out += t.bytes
        return out
    }

    public static func write(_ t: Tensor, to url: URL) throws {
        do { try Data(encode(t)).write(to: url) } catch {
            throw InferenceError(.npy, "cannot write \(url.path): \(error.localizedDescription)")
        }
    }
}
