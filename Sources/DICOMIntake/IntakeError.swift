import CDICOM

/// The one error type of the intake: what went wrong, with which file, in words a technician can read.
public struct IntakeError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable, Equatable {
        case io, notDICOM, truncated, missingAttribute, badValue, tooLarge
        case unsupportedTransferSyntax, unsupportedImage, decode, pixelDataShort
        case network, `internal`, invalidArgument
    }

    public var code: Code
    public var message: String
    /// The file concerned, when there is one.
    public var path: String?

    public init(_ code: Code, _ message: String, path: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
    }

    public var description: String {
        let what = code == .unsupportedTransferSyntax ? "unsupported transfer syntax" : code.rawValue
        let text = message.isEmpty ? what : (message.hasPrefix(what) ? message : "\(what): \(message)")
        if let path { return "\(path): \(text)" }
        return text
    }

    init(status: cdicom_status, message: String, path: String?) {
        let code: Code
        switch status {
        case CDICOM_ERR_IO: code = .io
        case CDICOM_ERR_NOT_DICOM: code = .notDICOM
        case CDICOM_ERR_TRUNCATED: code = .truncated
        case CDICOM_ERR_MISSING_TAG: code = .missingAttribute
        case CDICOM_ERR_BAD_VALUE: code = .badValue
        case CDICOM_ERR_TOO_LARGE: code = .tooLarge
        case CDICOM_ERR_UNSUPPORTED_TRANSFER_SYNTAX: code = .unsupportedTransferSyntax
        case CDICOM_ERR_UNSUPPORTED_IMAGE: code = .unsupportedImage
        case CDICOM_ERR_DECODE: code = .decode
        case CDICOM_ERR_PIXEL_DATA_SHORT: code = .pixelDataShort
        case CDICOM_ERR_NETWORK: code = .network
        case CDICOM_ERR_INVALID_ARGUMENT: code = .invalidArgument
        default: code = .internal
        }
        self.init(code, message.isEmpty ? String(cString: cdicom_status_name(status)) : message, path: path)
    }
}
