/// Every failure of the status screen, the framebuffer, the GPIO lines and the acknowledgement log.
public struct IndicatorsError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        case fontMissing, cairo, png, framebuffer, unsupportedPixelFormat, gpioChip, gpioLine, gpioBusy,
             gpioIO, acknowledgementStore, invalidArgument
    }
    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
