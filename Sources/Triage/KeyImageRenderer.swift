import CCairo
import Foundation

/// Draws a key image with its captions ("NOT FOR DIAGNOSTIC USE", label and probability) through Cairo,
/// for the PNG thumbnail and the Secondary Capture pixels alike.
enum KeyImageRenderer {
    static let warning = "NOT FOR DIAGNOSTIC USE"

    /// The captioned image as interleaved RGB bytes, or nil when Cairo cannot make a surface.
    static func render(_ image: KeyImage, caption: String, png: URL?) throws -> [UInt8] {
        let size = image.size
        guard let surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, Int32(size), Int32(size)) else {
            throw TriageError(.output, "cairo: cannot create a \(size)x\(size) surface")
        }
        defer { cairo_surface_destroy(surface) }
        guard cairo_surface_status(surface) == CAIRO_STATUS_SUCCESS, let data = cairo_image_surface_get_data(surface) else {
            throw TriageError(.output, "cairo: surface error")
        }
        let stride = Int(cairo_image_surface_get_stride(surface))
        cairo_surface_flush(surface)
        for y in 0..<size {
            let row = UnsafeMutableRawPointer(data + y * stride).assumingMemoryBound(to: UInt32.self)
            for x in 0..<size {
                let p = 3 * (y * size + x)
                row[x] = UInt32(image.rgb[p]) << 16 | UInt32(image.rgb[p + 1]) << 8 | UInt32(image.rgb[p + 2])
            }
        }
        cairo_surface_mark_dirty(surface)
        let cr = cairo_create(surface)
        defer { cairo_destroy(cr) }
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD)
        let fontSize = Double(size) / 22
        cairo_set_font_size(cr, fontSize)
        func text(_ s: String, y: Double, red: Bool) {
            var extents = cairo_text_extents_t()
            cairo_text_extents(cr, s, &extents)
            let x = (Double(size) - extents.width) / 2 - extents.x_bearing
            cairo_set_source_rgba(cr, 0, 0, 0, 0.6)  // a dark band keeps the text readable over any image
            cairo_rectangle(cr, 0, y - fontSize - 2, Double(size), fontSize + 6)
            cairo_fill(cr)
            if red { cairo_set_source_rgb(cr, 1, 0.25, 0.2) } else { cairo_set_source_rgb(cr, 1, 1, 1) }
            cairo_move_to(cr, x, y)
            cairo_show_text(cr, s)
        }
        text(warning, y: fontSize + 2, red: true)
        text(caption, y: Double(size) - 4, red: false)
        cairo_surface_flush(surface)
        if let png {
            let status = cairo_surface_write_to_png(surface, png.path)
            guard status == CAIRO_STATUS_SUCCESS else {
                throw TriageError(.output, "cannot write \(png.path): \(String(cString: cairo_status_to_string(status)))")
            }
        }
        var rgb = [UInt8](repeating: 0, count: size * size * 3)
        for y in 0..<size {
            let row = UnsafeMutableRawPointer(data + y * stride).assumingMemoryBound(to: UInt32.self)
            for x in 0..<size {
                let v = row[x], p = 3 * (y * size + x)
                rgb[p] = UInt8((v >> 16) & 0xFF); rgb[p + 1] = UInt8((v >> 8) & 0xFF); rgb[p + 2] = UInt8(v & 0xFF)
            }
        }
        return rgb
    }
}
