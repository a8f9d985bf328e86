import CCairo
import Foundation

/// One rendered screen: opaque 0xAARRGGBB pixels (Cairo's ARGB32 in native order), row-major,
/// `width` pixels per row with no padding. Equatable, so outputs redraw only when a frame changed.
public struct Frame: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt32]

    public init(width: Int, height: Int, pixels: [UInt32]) {
        precondition(pixels.count == width * height, "pixel count must be width * height")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public init(width: Int, height: Int, fill: UInt32 = 0xFF00_0000) {
        self.init(width: width, height: height, pixels: Array(repeating: fill, count: width * height))
    }

    public func pixel(x: Int, y: Int) -> UInt32 { pixels[y * width + x] }

    /// Writes the frame as a PNG (RGB24, so the file has no alpha channel to confuse viewers).
    public func writePNG(to url: URL) throws {
        try withCairoSurface(format: CAIRO_FORMAT_RGB24) { surface in
            let status = cairo_surface_write_to_png(surface, url.path)
            guard status == CAIRO_STATUS_SUCCESS else {
                throw IndicatorsError(.png, "cannot write PNG \(url.path): \(String(cString: cairo_status_to_string(status)))")
            }
        }
    }

    /// Reads a PNG into an opaque frame (alpha flattened onto black).
    public static func readPNG(from url: URL) throws -> Frame {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw IndicatorsError(.png, "PNG \(url.path) does not exist")
        }
        guard let image = cairo_image_surface_create_from_png(url.path),
              cairo_surface_status(image) == CAIRO_STATUS_SUCCESS else {
            throw IndicatorsError(.png, "cannot read PNG \(url.path): not a valid PNG file")
        }
        defer { cairo_surface_destroy(image) }
        let width = Int(cairo_image_surface_get_width(image))
        let height = Int(cairo_image_surface_get_height(image))
        var frame = Frame(width: width, height: height)
        try frame.withCairoSurface(format: CAIRO_FORMAT_RGB24, writeBack: true) { target in
            let cr = cairo_create(target)
            defer { cairo_destroy(cr) }
            cairo_set_source_rgb(cr, 0, 0, 0)
            cairo_paint(cr)
            cairo_set_source_surface(cr, image, 0, 0)
            cairo_paint(cr)
            cairo_surface_flush(target)
        }
        return frame
    }

    /// Lends the pixels to Cairo as an image surface (copying, since Cairo wants its own stride).
    /// With `writeBack`, what Cairo drew is copied back into the frame, alpha forced to opaque.
    mutating func withCairoSurface<T>(
        format: cairo_format_t, writeBack: Bool, _ body: (OpaquePointer) throws -> T
    ) throws -> T {
        let (surface, stride) = try makeSurface(format: format)
        defer { cairo_surface_destroy(surface) }
        let result = try body(surface)
        if writeBack {
            cairo_surface_flush(surface)
            let data = cairo_image_surface_get_data(surface)!
            for y in 0..<height {
                let row = UnsafeRawPointer(data + y * stride).assumingMemoryBound(to: UInt32.self)
                for x in 0..<width { pixels[y * width + x] = row[x] | 0xFF00_0000 }
            }
        }
        return result
    }

    func withCairoSurface<T>(format: cairo_format_t, _ body: (OpaquePointer) throws -> T) throws -> T {
        let (surface, _) = try makeSurface(format: format)
        defer { cairo_surface_destroy(surface) }
        return try body(surface)
    }

    private func makeSurface(format: cairo_format_t) throws -> (OpaquePointer, Int) {
        guard let surface = cairo_image_surface_create(format, Int32(width), Int32(height)),
              cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS else {
            throw IndicatorsError(.cairo, "cannot create a \(width)x\(height) image surface")
        }
        let stride = Int(cairo_image_surface_get_stride(surface))
        let data = cairo_image_surface_get_data(surface)!
        for y in 0..<height {
            let row = UnsafeMutableRawPointer(data + y * stride).assumingMemoryBound(to: UInt32.self)
            for x in 0..<width { row[x] = pixels[y * width + x] }
        }
        cairo_surface_mark_dirty(surface)
        return (surface, stride)
    }

    /// Copies an ARGB32/RGB24 Cairo surface into a frame.
    static func copy(from surface: OpaquePointer) -> Frame {
        cairo_surface_flush(surface)
        let width = Int(cairo_image_surface_get_width(surface))
        let height = Int(cairo_image_surface_get_height(surface))
        let stride = Int(cairo_image_surface_get_stride(surface))
        let data = cairo_image_surface_get_data(surface)!
        var pixels = [UInt32](repeating: 0, count: width * height)
        for y in 0..<height {
            let row = UnsafeRawPointer(data + y * stride).assumingMemoryBound(to: UInt32.self)
            for x in 0..<width { pixels[y * width + x] = row[x] | 0xFF00_0000 }
        }
        return Frame(width: width, height: height, pixels: pixels)
    }
}
