import Foundation

/// What happened to a file the intake could not use.
public struct QuarantineRecord: Sendable, Equatable {
    public var originalPath: String
    /// Where the file now is; nil when it could not be moved (read-only source) and was only recorded.
    public var movedTo: String?
    public var reasonFile: String
    public var reason: String
}

/// Moves unreadable or inconsistent files out of the drop folder, never deleting anything: each goes
/// to the quarantine folder with `<name>.reason.txt` beside it. A file on a read-only source (a USB
/// stick mounted ro) stays where it is and only the reason file is written.
struct Quarantine {
    let folder: URL
    /// Renames a file; returns 0 or the errno. Replaceable so tests can simulate a read-only source
    /// (as root, a mode-0555 folder does not stop a rename).
    var move: (String, String) -> Int32 = { from, to in rename(from, to) == 0 ? 0 : errno }

    func quarantine(path: String, reason: String) -> QuarantineRecord? {
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            return nil
        }
        let name = uniqueName(for: URL(fileURLWithPath: path).lastPathComponent)
        let target = folder.appendingPathComponent(name)
        var movedTo: String? = target.path
        var note = reason
        let err = move(path, target.path)
        if err != 0 {
            if err == EXDEV, copyThenRemove(from: path, to: target.path) {
                // moved across file systems
            } else {
                movedTo = nil
                note += "\n(recorded only: the source could not be moved: \(String(cString: strerror(err))))"
            }
        }
        let reasonFile = folder.appendingPathComponent(name + ".reason.txt")
        let text = "file: \(path)\nreason: \(note)\ntime: \(ISO8601DateFormatter().string(from: Date()))\n"
        try? text.write(to: reasonFile, atomically: true, encoding: .utf8)
        return QuarantineRecord(originalPath: path, movedTo: movedTo, reasonFile: reasonFile.path, reason: reason)
    }

    private func uniqueName(for base: String) -> String {
        let fm = FileManager.default
        var name = base.hasPrefix(".") ? "_" + base.dropFirst() : Substring(base)
        var n = 1
        let stem = name
        while fm.fileExists(atPath: folder.appendingPathComponent(String(name)).path)
            || fm.fileExists(atPath: folder.appendingPathComponent(String(name) + ".reason.txt").path) {
            name = "\(stem)-\(n)"
            n += 1
        }
        return String(name)
    }

    /// Cross-device move: copy, check the size, then unlink the source.
    private func copyThenRemove(from: String, to: String) -> Bool {
        do {
            try FileManager.default.copyItem(atPath: from, toPath: to)
            let a = try FileManager.default.attributesOfItem(atPath: from)[.size] as? Int
            let b = try FileManager.default.attributesOfItem(atPath: to)[.size] as? Int
            guard a == b else { try? FileManager.default.removeItem(atPath: to); return false }
            return unlink(from) == 0
        } catch {
            return false
        }
    }
}
