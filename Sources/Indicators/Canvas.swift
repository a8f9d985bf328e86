import CCairo
import Foundation

/// An sRGB colour, 0...1 per channel.
struct Colour: Equatable {
    var r, g, b: Double
    init(_ hex: UInt32) {
        r = Double((hex >> 16) & 0xFF) / 255
        g = Double((hex >> 8) & 0xFF) / 255
        b = Double(hex & 0xFF) / 255
    }

    static let background = Colour(0x0E1116)
    static let card = Colour(0x1B2128)
    static let track = Colour(0x37424D)
    static let text = Colour(0xFFFFFF)
    static let secondary = Colour(0xB8C4CC)
    static let dark = Colour(0x000000)
    static let amber = Colour(0xFFB300)
    static let green = Colour(0x2E7D32)
}

struct Rect {
    var x, y, w, h: Double
    var maxX: Double { x + w }
    var maxY: Double { y + h }
    func inset(_ d: Double) -> Rect { Rect(x: x + d, y: y + d, w: max(0, w - 2 * d), h: max(0, h - 2 * d)) }
    /// Cuts `height` off the top; returns (top, rest).
    func sliceTop(_ height: Double) -> (Rect, Rect) {
        let h1 = min(h, max(0, height))
        return (Rect(x: x, y: y, w: w, h: h1), Rect(x: x, y: y + h1, w: w, h: h - h1))
    }
    func sliceBottom(_ height: Double) -> (Rect, Rect) {
        let h1 = min(h, max(0, height))
        return (Rect(x: x, y: maxY - h1, w: w, h: h1), Rect(x: x, y: y, w: w, h: h - h1))
    }
    func sliceLeft(_ width: Double) -> (Rect, Rect) {
        let w1 = min(w, max(0, width))
        return (Rect(x: x, y: y, w: w1, h: h), Rect(x: x + w1, y: y, w: w - w1, h: h))
    }
}

/// DejaVu Sans loaded from its file through FreeType, once per process. Loading by path (not by
/// a fontconfig family name) makes frames identical across machines with the same font file.
final class Fonts: @unchecked Sendable {
    let regular: OpaquePointer  // cairo_font_face_t
    let bold: OpaquePointer

    private static let lock = NSLock()
    nonisolated(unsafe) private static var library: FT_Library?
    nonisolated(unsafe) private static var faces: [String: OpaquePointer] = [:]

    init(regularPaths: [String], boldPaths: [String]) throws {
        regular = try Fonts.face(from: regularPaths)
        bold = try Fonts.face(from: boldPaths)
    }

    private static func face(from candidates: [String]) throws -> OpaquePointer {
        guard let path = candidates.first(where: { FileManager.default.isReadableFile(atPath: $0) }) else {
            throw IndicatorsError(
                .fontMissing,
                "no DejaVu Sans font file found (looked in \(candidates.joined(separator: ", "))); install fonts-dejavu-core")
        }
        lock.lock()
        defer { lock.unlock() }
        if let face = faces[path] { return face }
        if library == nil {
            var lib: FT_Library?
            guard FT_Init_FreeType(&lib) == 0, let lib else {
                throw IndicatorsError(.fontMissing, "FreeType failed to initialise")
            }
            library = lib
        }
        var ftFace: FT_Face?
        guard FT_New_Face(library, path, 0, &ftFace) == 0, let ftFace else {
            throw IndicatorsError(.fontMissing, "font file \(path) cannot be read by FreeType")
        }
        // The FT_Face lives as long as the process: Cairo caches font faces beyond our references.
        guard let face = cairo_ft_font_face_create_for_ft_face(ftFace, 0),
              cairo_font_face_status(face) == CAIRO_STATUS_SUCCESS else {
            throw IndicatorsError(.cairo, "Cairo cannot use font \(path)")
        }
        faces[path] = face
        return face
    }
}

/// Drawing primitives over one Cairo context, in the vocabulary the layout uses.
struct Canvas {
    let cr: OpaquePointer  // cairo_t
    let fonts: Fonts

    func fill(_ rect: Rect, _ colour: Colour, radius: Double = 0) {
        path(rect, radius: radius)
        setColour(colour)
        cairo_fill(cr)
    }

    func stroke(_ rect: Rect, _ colour: Colour, width: Double, radius: Double = 0) {
        path(rect.inset(width / 2), radius: radius)
        setColour(colour)
        cairo_set_line_width(cr, width)
        cairo_stroke(cr)
    }

    func setColour(_ c: Colour, alpha: Double = 1) { cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha) }

    private func path(_ r: Rect, radius: Double) {
        cairo_new_path(cr)
        let rad = min(radius, r.w / 2, r.h / 2)
        if rad <= 0 {
            cairo_rectangle(cr, r.x, r.y, r.w, r.h)
            return
        }
        cairo_arc(cr, r.maxX - rad, r.y + rad, rad, -Double.pi / 2, 0)
        cairo_arc(cr, r.maxX - rad, r.maxY - rad, rad, 0, Double.pi / 2)
        cairo_arc(cr, r.x + rad, r.maxY - rad, rad, Double.pi / 2, Double.pi)
        cairo_arc(cr, r.x + rad, r.y + rad, rad, Double.pi, 3 * Double.pi / 2)
        cairo_close_path(cr)
    }

    private func use(bold: Bool, size: Double) {
        cairo_set_font_face(cr, bold ? fonts.bold : fonts.regular)
        cairo_set_font_size(cr, size)
    }

    func textWidth(_ text: String, bold: Bool, size: Double) -> Double {
        use(bold: bold, size: size)
        var extents = cairo_text_extents_t()
        cairo_text_extents(cr, text, &extents)
        return extents.x_advance
    }

    /// The size at which `text` fits `maxWidth`, never above `size` nor below `size * minScale`.
    func fittingSize(_ text: String, bold: Bool, size: Double, maxWidth: Double, minScale: Double = 0.6) -> Double {
        let width = textWidth(text, bold: bold, size: size)
        guard width > maxWidth, width > 0 else { return size }
        // Hinted widths do not scale exactly with the size: step down until it fits.
        let floor = size * minScale
        var fitted = max(floor, size * maxWidth / width)
        while fitted > floor, textWidth(text, bold: bold, size: fitted) > maxWidth {
            fitted = max(floor, fitted * 0.97)
        }
        return fitted
    }

    /// `text` cut with an ellipsis so that it fits `maxWidth` at `size`.
    func ellipsized(_ text: String, bold: Bool, size: Double, maxWidth: Double) -> String {
        if textWidth(text, bold: bold, size: size) <= maxWidth { return text }
        var chars = Array(text)
        while !chars.isEmpty {
            chars.removeLast()
            let candidate = String(chars).trimmingCharacters(in: .whitespaces) + "…"
            if textWidth(candidate, bold: bold, size: size) <= maxWidth { return candidate }
        }
        return ""
    }

    /// `text` broken at spaces into lines that fit `maxWidth` at `size`, at most `maxLines` (the last one
    /// ellipsized when text remains; a word wider than a line is ellipsized on its own line).
    func wrapped(_ text: String, bold: Bool, size: Double, maxWidth: Double, maxLines: Int) -> [String] {
        var lines: [String] = []
        var current = ""
        var words = text.split(separator: " ").map(String.init)[...]
        while let word = words.first, lines.count < maxLines {
            let candidate = current.isEmpty ? word : current + " " + word
            if current.isEmpty || textWidth(candidate, bold: bold, size: size) <= maxWidth {
                current = candidate
                words = words.dropFirst()
            } else {
                lines.append(current)
                current = ""
            }
        }
        if !current.isEmpty && lines.count < maxLines { lines.append(current) }
        if let last = lines.last, !words.isEmpty {
            lines[lines.count - 1] = ellipsized(last + " " + words.joined(separator: " "), bold: bold, size: size, maxWidth: maxWidth)
        }
        return lines
    }

    enum Align { case left, centre, right }

    /// Draws one line with its baseline at `baseline`, shrinking then ellipsizing to fit `maxWidth`.
    /// Returns the width drawn.
    @discardableResult
    func text(
        _ text: String, x: Double, baseline: Double, size: Double, colour: Colour, bold: Bool = false,
        maxWidth: Double = .infinity, align: Align = .left, minScale: Double = 0.6
    ) -> Double {
        let fitted = maxWidth.isFinite ? fittingSize(text, bold: bold, size: size, maxWidth: maxWidth, minScale: minScale) : size
        let shown = maxWidth.isFinite ? ellipsized(text, bold: bold, size: fitted, maxWidth: maxWidth) : text
        let width = textWidth(shown, bold: bold, size: fitted)
        var originX = x
        switch align {
        case .left: break
        case .centre: originX = x - width / 2
        case .right: originX = x - width
        }
        use(bold: bold, size: fitted)
        setColour(colour)
        cairo_move_to(cr, originX.rounded(), baseline.rounded())
        cairo_show_text(cr, shown)
        return width
    }

    /// Draws a PNG scaled to fit `rect` (aspect kept, centred). Returns false when the file is
    /// missing or not a PNG, so the caller can draw a placeholder.
    func image(atPath path: String, in rect: Rect) -> Bool {
        guard FileManager.default.isReadableFile(atPath: path),
              let image = cairo_image_surface_create_from_png(path) else { return false }
        defer { cairo_surface_destroy(image) }
        guard cairo_surface_status(image) == CAIRO_STATUS_SUCCESS else { return false }
        let iw = Double(cairo_image_surface_get_width(image))
        let ih = Double(cairo_image_surface_get_height(image))
        guard iw > 0, ih > 0 else { return false }
        let scale = min(rect.w / iw, rect.h / ih)
        let dw = iw * scale, dh = ih * scale
        cairo_save(cr)
        cairo_translate(cr, (rect.x + (rect.w - dw) / 2).rounded(), (rect.y + (rect.h - dh) / 2).rounded())
        cairo_scale(cr, scale, scale)
        cairo_set_source_surface(cr, image, 0, 0)
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_GOOD)
        cairo_rectangle(cr, 0, 0, iw, ih)
        cairo_fill(cr)
        cairo_restore(cr)
        return true
    }

    /// Diagonal stripes, for the fault banner: unmistakable even in peripheral vision.
    func stripes(_ rect: Rect, _ colour: Colour, period: Double) {
        cairo_save(cr)
        cairo_rectangle(cr, rect.x, rect.y, rect.w, rect.h)
        cairo_clip(cr)
        setColour(colour)
        var x = rect.x - rect.h
        while x < rect.maxX {
            cairo_move_to(cr, x, rect.maxY)
            cairo_line_to(cr, x + rect.h, rect.y)
            cairo_line_to(cr, x + rect.h + period / 2, rect.y)
            cairo_line_to(cr, x + period / 2, rect.maxY)
            cairo_close_path(cr)
            x += period
        }
        cairo_fill(cr)
        cairo_restore(cr)
    }
}
