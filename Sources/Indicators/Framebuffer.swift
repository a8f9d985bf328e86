import CFramebuffer
import Foundation

/// How a framebuffer lays out pixels: what FBIOGET_VSCREENINFO / FBIOGET_FSCREENINFO report, or
/// what a test states explicitly for the raw-file mode.
public struct FramebufferGeometry: Equatable, Sendable, CustomStringConvertible {
    /// One colour channel's place in a pixel: `length` bits starting at bit `offset`.
    public struct Channel: Equatable, Sendable {
        public var offset: Int
        public var length: Int
        public init(offset: Int, length: Int) {
            self.offset = offset
            self.length = length
        }
    }

    public var width: Int
    public var height: Int
    public var bitsPerPixel: Int
    public var red: Channel
    public var green: Channel
    public var blue: Channel
    /// Bytes from one row to the next; at least width * bytesPerPixel.
    public var lineLength: Int
    /// Byte offset of the visible area (yoffset * line_length + xoffset * bytes per pixel).
    public var visibleOffset: Int

    public init(width: Int, height: Int, bitsPerPixel: Int, red: Channel, green: Channel, blue: Channel,
                lineLength: Int? = nil, visibleOffset: Int = 0) {
        self.width = width
        self.height = height
        self.bitsPerPixel = bitsPerPixel
        self.red = red
        self.green = green
        self.blue = blue
        self.lineLength = lineLength ?? width * bitsPerPixel / 8
        self.visibleOffset = visibleOffset
    }

    /// RGB565: red in bits 11-15, green 5-10, blue 0-4.
    public static func rgb565(width: Int, height: Int, lineLength: Int? = nil) -> FramebufferGeometry {
        FramebufferGeometry(width: width, height: height, bitsPerPixel: 16, red: Channel(offset: 11, length: 5),
                            green: Channel(offset: 5, length: 6), blue: Channel(offset: 0, length: 5), lineLength: lineLength)
    }

    /// XRGB8888: blue in the lowest byte in memory, then green, red, and an unused byte.
    public static func xrgb8888(width: Int, height: Int, lineLength: Int? = nil) -> FramebufferGeometry {
        FramebufferGeometry(width: width, height: height, bitsPerPixel: 32, red: Channel(offset: 16, length: 8),
                            green: Channel(offset: 8, length: 8), blue: Channel(offset: 0, length: 8), lineLength: lineLength)
    }

    public var bytesPerPixel: Int { bitsPerPixel / 8 }
    public var panelSize: PanelSize { PanelSize(width: width, height: height) }
    /// Bytes covering the visible area.
    public var byteCount: Int { lineLength * height }

    public var description: String {
        "\(width)x\(height) \(bitsPerPixel) bpp, red \(red.offset)/\(red.length) green \(green.offset)/\(green.length) "
            + "blue \(blue.offset)/\(blue.length), line length \(lineLength)"
    }

    /// Rejects layouts the encoder cannot honour, with the reason.
    public func validate() throws {
        guard [16, 24, 32].contains(bitsPerPixel) else {
            throw IndicatorsError(.unsupportedPixelFormat, "framebuffer has \(bitsPerPixel) bits per pixel; only 16, 24 and 32 are supported")
        }
        guard width > 0, height > 0 else {
            throw IndicatorsError(.unsupportedPixelFormat, "framebuffer size \(width)x\(height) is empty")
        }
        guard lineLength >= width * bytesPerPixel else {
            throw IndicatorsError(.unsupportedPixelFormat, "line length \(lineLength) is shorter than \(width) pixels of \(bytesPerPixel) bytes")
        }
        for (name, c) in [("red", red), ("green", green), ("blue", blue)] {
            guard (1...8).contains(c.length), c.offset >= 0, c.offset + c.length <= bitsPerPixel else {
                throw IndicatorsError(.unsupportedPixelFormat, "\(name) channel at bit \(c.offset), \(c.length) bits does not fit \(bitsPerPixel) bpp")
            }
        }
    }

    /// The frame in this layout: `byteCount` bytes, little-endian pixels (the byte order of the
    /// ARM and x86 Linux framebuffers this appliance drives). Padding at the end of each line and
    /// pixels outside the frame are zero.
    public func encode(_ frame: Frame) throws -> [UInt8] {
        try validate()
        var bytes = [UInt8](repeating: 0, count: byteCount)
        let bpp = bytesPerPixel
        let rows = min(height, frame.height)
        let columns = min(width, frame.width)
        for y in 0..<rows {
            var offset = y * lineLength
            let rowStart = y * frame.width
            for x in 0..<columns {
                let argb = frame.pixels[rowStart + x]
                let value = pack(red: UInt32((argb >> 16) & 0xFF), green: UInt32((argb >> 8) & 0xFF), blue: UInt32(argb & 0xFF))
                for b in 0..<bpp { bytes[offset + b] = UInt8(truncatingIfNeeded: value >> (8 * b)) }
                offset += bpp
            }
        }
        return bytes
    }

    /// Keeps the top `length` bits of each 8-bit channel, placed at its offset.
    func pack(red: UInt32, green: UInt32, blue: UInt32) -> UInt32 {
        func place(_ v: UInt32, _ c: Channel) -> UInt32 { (v >> UInt32(8 - c.length)) << UInt32(c.offset) }
        return place(red, self.red) | place(green, self.green) | place(blue, self.blue)
    }
}

/// A Linux framebuffer device (/dev/fbN): geometry read once at open, frames written with
/// pwrite at the visible offset, and only when the frame differs from the last one written.
public final class LinuxFramebuffer {
    public let path: String
    public let geometry: FramebufferGeometry
    private let fd: Int32
    private var lastFrame: Frame?

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            let err = errno
            throw IndicatorsError(.framebuffer, "cannot open framebuffer \(path): \(String(cString: strerror(err)))"
                                  + (err == EACCES ? " (is the service user in the 'video' group?)" : ""))
        }
        var info = cfb_geometry()
        guard cfb_get_geometry(fd, &info) == 0 else {
            let err = errno
            close(fd)
            throw IndicatorsError(.framebuffer, "\(path) is not a framebuffer (FBIOGET_VSCREENINFO failed: \(String(cString: strerror(err))))")
        }
        guard info.visual == cfb_visual_truecolor() else {
            close(fd)
            throw IndicatorsError(.unsupportedPixelFormat, "framebuffer \(path) is not true-colour (visual \(info.visual))")
        }
        let bytesPerPixel = Int(info.bits_per_pixel) / 8
        geometry = FramebufferGeometry(
            width: Int(info.width), height: Int(info.height), bitsPerPixel: Int(info.bits_per_pixel),
            red: .init(offset: Int(info.red_offset), length: Int(info.red_length)),
            green: .init(offset: Int(info.green_offset), length: Int(info.green_length)),
            blue: .init(offset: Int(info.blue_offset), length: Int(info.blue_length)),
            lineLength: Int(info.line_length),
            visibleOffset: Int(info.yoffset) * Int(info.line_length) + Int(info.xoffset) * bytesPerPixel)
        do {
            try geometry.validate()
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { close(fd) }

    /// Writes `frame` unless it equals the last frame written. Returns whether it wrote.
    @discardableResult
    public func show(_ frame: Frame) throws -> Bool {
        if frame == lastFrame { return false }
        let bytes = try geometry.encode(frame)
        try RawFramebufferFile.writeAll(bytes, fd: fd, at: geometry.visibleOffset, what: path)
        lastFrame = frame
        return true
    }
}

/// The raw-file mode: the bytes a framebuffer with `geometry` would hold, written to a file.
public enum RawFramebufferFile {
    public static func write(_ frame: Frame, geometry: FramebufferGeometry, to url: URL) throws {
        let bytes = try geometry.encode(frame)
        let fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw IndicatorsError(.framebuffer, "cannot create \(url.path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        try writeAll(bytes, fd: fd, at: 0, what: url.path)
    }

    static func writeAll(_ bytes: [UInt8], fd: Int32, at offset: Int, what: String) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { buffer in
                pwrite(fd, buffer.baseAddress! + done, bytes.count - done, off_t(offset + done))
            }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                throw IndicatorsError(.framebuffer, "writing \(what) failed after \(done) of \(bytes.count) bytes: "
                                      + (n < 0 ? String(cString: strerror(errno)) : "no space"))
            }
            done += n
        }
    }
}
