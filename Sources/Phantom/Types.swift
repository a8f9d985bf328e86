import Foundation

/// Public vocabulary of the generator: subtypes, tissue classes, errors.

/// The five RSNA hemorrhage subtypes, in the RSNA label order (after "any").
public enum Subtype: String, CaseIterable, Sendable, Codable, Comparable {
    case epidural, intraparenchymal, intraventricular, subarachnoid, subdural

    /// Bit of this subtype in a bleed mask byte.
    public var maskBit: UInt8 {
        switch self {
        case .epidural: return 1
        case .intraparenchymal: return 2
        case .intraventricular: return 4
        case .subarachnoid: return 8
        case .subdural: return 16
        }
    }

    /// The six RSNA labels in file order: "any" then the subtypes.
    public static let rsnaLabels = ["any"] + allCases.map(\.rawValue)

    public static func < (a: Subtype, b: Subtype) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Parses "epidural,subdural" (also "none" or "" for no subtype).
    public static func parseList(_ text: String) throws -> [Subtype] {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        if names.isEmpty || names == ["none"] { return [] }
        return try names.map { name in
            guard let s = Subtype(rawValue: name) else {
                throw PhantomError.badArgument("unknown subtype '\(name)' (use \(allCases.map(\.rawValue).joined(separator: ", ")) or none)")
            }
            return s
        }
    }
}

/// What the anatomy is at a pixel, before any bleed is drawn (bleeds are in the mask).
/// Tests use it to check that each bleed sits where its anatomy says.
public enum Tissue: UInt8, Sendable, CaseIterable {
    case air = 0, scalp, calvarium, skullBase, sinusAir
    case convexityCSF, sulcalCSF, cisternCSF, ventricle
    case grey, white, deepGrey, cerebellum, brainstem
    case deepSoftTissue, falx, calcification
    case outsideFieldOfView = 255

    /// Brain tissue proper (where an intraparenchymal bleed may lie).
    public var isParenchyma: Bool {
        switch self {
        case .grey, .white, .deepGrey, .cerebellum, .brainstem: return true
        default: return false
        }
    }

    /// Subarachnoid spaces: convexity CSF, sulci, cisterns and fissures.
    public var isSubarachnoidSpace: Bool { self == .convexityCSF || self == .sulcalCSF || self == .cisternCSF }

    /// Inside the cranial cavity (intracranial contents of any kind).
    public var isIntracranial: Bool {
        isParenchyma || isSubarachnoidSpace || self == .ventricle || self == .falx || self == .calcification
    }

    public var isBone: Bool { self == .calvarium || self == .skullBase }
}

/// The generator's one error type.
public enum PhantomError: Error, CustomStringConvertible, Equatable {
    case badArgument(String)
    case io(String)
    case dicom(String)
    case realAnatomy(String)

    public var description: String {
        switch self {
        case .badArgument(let m): return "phantom: \(m)"
        case .io(let m): return "phantom: cannot write output: \(m)"
        case .dicom(let m): return "phantom: DICOM write failed: \(m)"
        case .realAnatomy(let m): return "phantom: real anatomy: \(m)"
        }
    }
}
