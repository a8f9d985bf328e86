import CDICOM

/// Swift face of cdicom_write.h: a list of (tag path, VR, value) and a pixel buffer.
struct DICOMFileWriter {
    struct Element {
        var tag: String          // "(0010,0010)" or "(0008,1115)[0].(0020,000E)"
        var vr: String? = nil    // nil = the dictionary's VR
        var value: String
    }

    static func uid() -> String {
        var buffer = [CChar](repeating: 0, count: 80)
        cdicom_generate_uid(&buffer, buffer.count, nil)
        return String(cString: buffer)
    }

    /// Writes 16-bit grey pixels (stored values) as one file.
    static func writeGrey16(path: String, elements: [Element], pixels: [Int16], rows: Int, columns: Int,
                            bitsStored: Int, signed: Bool) throws {
        try pixels.withUnsafeBytes { raw in
            try write(path: path, elements: elements, data: raw, rows: rows, columns: columns, samples: 1,
                      bitsAllocated: 16, bitsStored: bitsStored, signed: signed, photometric: "MONOCHROME2")
        }
    }

    static func write(path: String, elements: [Element], data: UnsafeRawBufferPointer, rows: Int, columns: Int,
                      samples: Int, bitsAllocated: Int, bitsStored: Int, signed: Bool, photometric: String) throws {
        // Keep every C string alive for the duration of the call.
        let strings = elements.map { ($0.tag.utf8CString, $0.vr?.utf8CString, $0.value.utf8CString) }
        var error = [CChar](repeating: 0, count: 512)
        let status: cdicom_write_status = withCStrings(strings) { cElements in
            photometric.withCString { photo in
                var px = cdicom_write_pixels(
                    data: data.baseAddress, length_bytes: data.count, rows: UInt16(rows), columns: UInt16(columns),
                    samples_per_pixel: UInt16(samples), bits_allocated: UInt16(bitsAllocated),
                    bits_stored: UInt16(bitsStored), pixel_representation: signed ? 1 : 0, photometric: photo)
                return cdicom_write_file(path, cElements, cElements.count, &px, 0, &error, error.count)
            }
        }
        if status != CDICOM_WRITE_OK {
            throw PhantomError.dicom("\(path): \(String(cString: error))")
        }
    }

    private static func withCStrings<R>(_ s: [(ContiguousArray<CChar>, ContiguousArray<CChar>?, ContiguousArray<CChar>)],
                                        _ body: ([cdicom_write_element]) -> R) -> R {
        // Pointers into the ContiguousArrays stay valid while `s` is alive and unmodified.
        var elements: [cdicom_write_element] = []
        var keep: [UnsafeMutablePointer<CChar>] = []
        defer { keep.forEach { $0.deallocate() } }
        func dup(_ a: ContiguousArray<CChar>) -> UnsafePointer<CChar> {
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: a.count)
            a.withUnsafeBufferPointer { p.initialize(from: $0.baseAddress!, count: a.count) }
            keep.append(p)
            return UnsafePointer(p)
        }
        for (tag, vr, value) in s {
            elements.append(cdicom_write_element(tag: dup(tag), vr: vr.map(dup), value: dup(value)))
        }
        return body(elements)
    }
}
