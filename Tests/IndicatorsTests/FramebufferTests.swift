import Foundation
@testable import Indicators
import XCTest

/// Exact bytes of the raw framebuffer mode: RGB565 and XRGB8888, channel offsets, line padding.
final class FramebufferTests: XCTestCase {
    /// 3x2: red, green, blue / white, black, 0x123456.
    let frame = Frame(width: 3, height: 2, pixels: [0xFFFF_0000, 0xFF00_FF00, 0xFF00_00FF, 0xFFFF_FFFF, 0xFF00_0000, 0xFF12_3456])

    func testRGB565WithLinePadding() throws {
        let bytes = try FramebufferGeometry.rgb565(width: 3, height: 2, lineLength: 8).encode(frame)
        // 0xF800, 0x07E0, 0x001F little-endian, 2 bytes of padding; 0xFFFF, 0x0000, 0x11AA.
        XCTAssertEqual(bytes, [0x00, 0xF8, 0xE0, 0x07, 0x1F, 0x00, 0, 0,
                               0xFF, 0xFF, 0x00, 0x00, 0xAA, 0x11, 0, 0])
    }

    func testXRGB8888() throws {
        let bytes = try FramebufferGeometry.xrgb8888(width: 3, height: 2).encode(frame)
        XCTAssertEqual(bytes, [0x00, 0x00, 0xFF, 0, 0x00, 0xFF, 0x00, 0, 0xFF, 0x00, 0x00, 0,
                               0xFF, 0xFF, 0xFF, 0, 0x00, 0x00, 0x00, 0, 0x56, 0x34, 0x12, 0])
    }

    func testChannelOffsetsAreHonoured() throws {
        // XBGR8888 (red in the lowest byte), as some panels report.
        let xbgr = FramebufferGeometry(width: 3, height: 2, bitsPerPixel: 32, red: .init(offset: 0, length: 8),
                                       green: .init(offset: 8, length: 8), blue: .init(offset: 16, length: 8))
        let bytes = try xbgr.encode(frame)
        XCTAssertEqual(Array(bytes[0..<4]), [0xFF, 0x00, 0x00, 0])
        XCTAssertEqual(Array(bytes[20..<24]), [0x12, 0x34, 0x56, 0])
        // BGR565.
        let bgr565 = FramebufferGeometry(width: 3, height: 2, bitsPerPixel: 16, red: .init(offset: 0, length: 5),
                                         green: .init(offset: 5, length: 6), blue: .init(offset: 11, length: 5))
        XCTAssertEqual(Array(try bgr565.encode(frame)[0..<2]), [0x1F, 0x00])
    }

    func testSmallerFrameIsPaddedWithBlack() throws {
        let bytes = try FramebufferGeometry.xrgb8888(width: 4, height: 3).encode(frame)
        XCTAssertEqual(bytes.count, 48)
        XCTAssertEqual(Array(bytes[12..<16]), [0, 0, 0, 0], "column 3 lies outside the frame")
        XCTAssertEqual(Array(bytes[32..<48]), [UInt8](repeating: 0, count: 16), "row 2 lies outside the frame")
    }

    func testRawFileOfARenderedScreenDecodesBackExactly() throws {
        let size = PanelSize(width: 800, height: 480)
        let screen = try StatusScreenRenderer(config: Fixtures.config())
            .render(ScreenState(alerts: [try Fixtures.criticalAlert()], health: Fixtures.health(), now: Fixtures.now), size: size)
        let geometry = FramebufferGeometry.xrgb8888(width: 800, height: 480, lineLength: 3328)  // 32 bytes padding per line
        let file = try Fixtures.temporaryDirectory().appendingPathComponent("fb.raw")
        try RawFramebufferFile.write(screen, geometry: geometry, to: file)
        let bytes = [UInt8](try Data(contentsOf: file))
        XCTAssertEqual(bytes.count, 3328 * 480)
        for y in stride(from: 0, to: 480, by: 7) {
            for x in stride(from: 0, to: 800, by: 5) {
                let o = y * 3328 + x * 4
                let value = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16
                XCTAssertEqual(value, screen.pixel(x: x, y: y) & 0xFFFFFF, "pixel \(x),\(y)")
                if value != screen.pixel(x: x, y: y) & 0xFFFFFF { return }
            }
            XCTAssertEqual(Array(bytes[(y * 3328 + 3200)..<(y * 3328 + 3328)]), [UInt8](repeating: 0, count: 128))
        }
        // RGB565 of the same screen: every pixel is the top bits of its channels.
        let bytes565 = try FramebufferGeometry.rgb565(width: 800, height: 480).encode(screen)
        for i in stride(from: 0, to: 800 * 480, by: 97) {
            let p = screen.pixels[i]
            let expected = UInt16((p >> 19) & 0x1F) << 11 | UInt16((p >> 10) & 0x3F) << 5 | UInt16((p >> 3) & 0x1F)
            XCTAssertEqual(UInt16(bytes565[2 * i]) | UInt16(bytes565[2 * i + 1]) << 8, expected)
        }
    }

    func testRedrawOnlyOnChange() {
        var gate = FrameChangeGate()
        XCTAssertTrue(gate.isNew(frame))
        gate.drawn(frame)
        XCTAssertFalse(gate.isNew(frame))
        var changed = frame
        changed.pixels[5] = 0xFF00_0001
        XCTAssertTrue(gate.isNew(changed))
    }

    func testUnsupportedLayoutsAreRejectedWithTheReason() {
        let eight = FramebufferGeometry(width: 4, height: 4, bitsPerPixel: 8, red: .init(offset: 5, length: 3),
                                        green: .init(offset: 2, length: 3), blue: .init(offset: 0, length: 2))
        XCTAssertThrowsError(try eight.encode(frame)) { XCTAssertTrue("\($0)".contains("8 bits per pixel"), "\($0)") }
        XCTAssertThrowsError(try FramebufferGeometry.rgb565(width: 3, height: 2, lineLength: 4).encode(frame)) {
            XCTAssertTrue("\($0)".contains("line length 4"), "\($0)")
        }
    }

    func testDeviceErrorsAreClear() {
        XCTAssertThrowsError(try LinuxFramebuffer(path: "/dev/fb-does-not-exist")) {
            XCTAssertTrue("\($0)".contains("cannot open framebuffer /dev/fb-does-not-exist"), "\($0)")
        }
        XCTAssertThrowsError(try LinuxFramebuffer(path: "/dev/null")) {
            XCTAssertTrue("\($0)".contains("/dev/null is not a framebuffer"), "\($0)")
        }
    }

    func testRealFramebufferWhenPresent() throws {
        guard let path = ProcessInfo.processInfo.environment["ICHTRIAGE_TEST_FB"] ?? (FileManager.default.fileExists(atPath: "/dev/fb0") ? "/dev/fb0" : nil) else {
            throw XCTSkip("no framebuffer device here (/dev/fb0 absent; set ICHTRIAGE_TEST_FB to test one)")
        }
        let fb = try LinuxFramebuffer(path: path)
        let screen = try StatusScreenRenderer(config: Fixtures.config())
            .render(ScreenState(alerts: [], health: Fixtures.health(), now: Fixtures.now), size: fb.geometry.panelSize)
        XCTAssertTrue(try fb.show(screen))
        XCTAssertFalse(try fb.show(screen), "an unchanged frame is not redrawn")
    }
}
