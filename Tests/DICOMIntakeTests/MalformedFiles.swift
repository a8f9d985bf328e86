import Foundation
import XCTest

/// Byte surgery for malformed-input tests (the DCMTK tools refuse to write some of these).
enum MalformedFiles {
    static func read(_ url: URL) throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }
    static func write(_ bytes: [UInt8], _ url: URL) throws { try Data(bytes).write(to: url) }

    static func le16(_ b: [UInt8], _ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
    static func le32(_ b: [UInt8], _ i: Int) -> Int { le16(b, i) | le16(b, i + 2) << 16 }
    static func put32(_ b: inout [UInt8], _ i: Int, _ v: Int) {
        for k in 0..<4 { b[i + k] = UInt8((v >> (8 * k)) & 0xFF) }
    }

    /// Rewrites (0002,0010) in the meta header (explicit VR little endian) and fixes the group length.
    static func setMetaTransferSyntax(_ url: URL, _ uid: String) throws {
        var b = try read(url)
        precondition(Array(b[128..<132]) == Array("DICM".utf8))
        var pos = 132
        var groupLengthValue = -1
        while le16(b, pos) == 0x0002 {
            let e = le16(b, pos + 2)
            let vr = String(decoding: b[(pos + 4)..<(pos + 6)], as: UTF8.self)
            let long = ["OB", "OW", "UN", "SQ", "UT", "UC", "UR"].contains(vr)
            let len = long ? le32(b, pos + 8) : le16(b, pos + 6)
            let hdr = long ? 12 : 8
            if e == 0x0000 { groupLengthValue = pos + 8 }
            if e == 0x0010 {
                var value = Array(uid.utf8)
                if value.count % 2 == 1 { value.append(0) }
                b.replaceSubrange((pos + hdr)..<(pos + hdr + len), with: value)
                b[pos + 6] = UInt8(value.count & 0xFF)
                b[pos + 7] = UInt8(value.count >> 8)
                if groupLengthValue >= 0 { put32(&b, groupLengthValue, le32(b, groupLengthValue) + value.count - len) }
                try write(b, url)
                return
            }
            pos += hdr + len
        }
        XCTFail("no transfer syntax in meta header")
    }

    /// Overwrites 16-bit pixels of native pixel data that ends the file.
    static func overwriteTrailingPixels(_ url: URL, pixelCount: Int, values: [Int: UInt16]) throws {
        var b = try read(url)
        let start = b.count - pixelCount * 2
        for (i, v) in values {
            b[start + 2 * i] = UInt8(v & 0xFF)
            b[start + 2 * i + 1] = UInt8(v >> 8)
        }
        try write(b, url)
    }

    /// Inserts `depth` nested undefined-length sequences at the start of the dataset.
    static func insertNestedSequences(_ url: URL, depth: Int) throws {
        var b = try read(url)
        let metaLength = le32(b, 132 + 8)
        let datasetStart = 132 + 12 + metaLength
        var open: [UInt8] = []
        let sq: [UInt8] = [0x08, 0x00, 0x06, 0x00] + Array("SQ".utf8) + [0, 0, 0xFF, 0xFF, 0xFF, 0xFF]
        let item: [UInt8] = [0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]
        let itemEnd: [UInt8] = [0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]
        let seqEnd: [UInt8] = [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]
        for _ in 0..<depth { open += sq + item }
        var close: [UInt8] = []
        for _ in 0..<depth { close += itemEnd + seqEnd }
        b.insert(contentsOf: open + close, at: datasetStart)
        try write(b, url)
    }
}
