import Foundation
import Triage

/// Screen wording for times, sizes and probabilities: fixed English, no locale lookups, so frames
/// are the same on every machine.
struct TextFormat {
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// "14:03" in `zone`.
    func clock(_ date: Date, zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let c = calendar.dateComponents([.hour, .minute], from: date)
        return String(format: "%02d:%02d", c.hour ?? 0, c.minute ?? 0)
    }

    /// "just now", "45 s ago", "12 min ago", "3 h 05 min ago", "2 d ago".
    func elapsed(from start: Date, to now: Date) -> String {
        let seconds = Int(now.timeIntervalSince(start).rounded(.down))
        if seconds < 5 { return "just now" }
        if seconds < 60 { return "\(seconds) s ago" }
        if seconds < 3600 { return "\(seconds / 60) min ago" }
        if seconds < 86400 { return String(format: "%d h %02d min ago", seconds / 3600, (seconds % 3600) / 60) }
        return "\(seconds / 86400) d ago"
    }

    /// "2026-11-29T14:03:00" -> "29 Nov 14:03"; anything else is shown as given.
    func studyTime(_ text: String) -> String {
        let digits = text.split(whereSeparator: { !$0.isNumber }).map(String.init)
        guard digits.count >= 5, let month = Int(digits[1]), (1...12).contains(month),
              let day = Int(digits[2]), digits[3].count == 2, digits[4].count == 2 else { return text }
        return "\(day) \(Self.months[month - 1]) \(digits[3]):\(digits[4])"
    }

    /// "12.3 GB" (decimal units, as disks are sold).
    func bytes(_ count: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(max(0, count))
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(Int(value)) B" : String(format: "%.1f %@", value, units[unit])
    }

    /// "91%"; values under 1% but above 0 show as "<1%".
    func percent(_ p: Double) -> String {
        let clamped = min(1, max(0, p))
        if clamped > 0, clamped < 0.005 { return "<1%" }
        return "\(Int((clamped * 100).rounded()))%"
    }

    func labelName(_ label: HemorrhageLabel) -> String {
        switch label {
        case .any: return "Any bleed"
        case .epidural: return "Epidural"
        case .intraparenchymal: return "Intraparenchymal"
        case .intraventricular: return "Intraventricular"
        case .subarachnoid: return "Subarachnoid"
        case .subdural: return "Subdural"
        }
    }
}
