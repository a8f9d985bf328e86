import Foundation

/// A regular file found in the drop folder, with what is needed to tell whether it is still changing.
struct FoundFile: Sendable, Hashable {
    var path: String
    var size: Int64
    var mtimeNanoseconds: Int64
    var inode: UInt64
}

/// Lists the files of a drop folder the intake should look at: every depth, names with or without
/// extension; DICOMDIR/DIRFILE indexes, hidden files, macOS and Windows sidecars skipped; symbolic
/// links followed only when they stay inside the folder.
enum FolderWalk {
    static func isIgnoredName(_ name: String) -> Bool {
        if name.hasPrefix(".") { return true }  // hidden, ._* AppleDouble, .DS_Store, .incoming-*.part
        let upper = name.uppercased()
        return upper == "DICOMDIR" || upper == "DIRFILE" || name == "System Volume Information"
            || name == "$RECYCLE.BIN" || upper == "THUMBS.DB" || upper.hasSuffix(".REASON.TXT")
            // Model updates on a stick are the model store's (signed bundles, their receipts).
            || name == "ichtriage-updates" || name.hasSuffix(".ichmodel")
            || (name.hasPrefix("ichtriage-receipt-") && name.hasSuffix(".json"))
    }

    /// The files, sorted by path, and the directories walked (for inotify watches).
    static func list(_ root: String, excluding excluded: String? = nil) -> (files: [FoundFile], directories: [String]) {
        guard let realRoot = realPath(root) else { return ([], []) }
        var out: [FoundFile] = []
        var dirs: [String] = []
        var visited = Set<UInt64>()
        walk(realRoot, realRoot: realRoot, excluded: excluded.flatMap(realPath), visited: &visited, into: &out, dirs: &dirs)
        return (out.sorted { $0.path < $1.path }, dirs)
    }

    private static func walk(_ dir: String, realRoot: String, excluded: String?, visited: inout Set<UInt64>,
                             into out: inout [FoundFile], dirs: inout [String]) {
        var st = stat()
        guard stat(dir, &st) == 0, visited.insert(UInt64(st.st_ino)).inserted else { return }
        dirs.append(dir)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names.sorted() where !isIgnoredName(name) {
            let path = dir + "/" + name
            var ls = stat()
            guard lstat(path, &ls) == 0 else { continue }
            var target = path
            if (ls.st_mode & S_IFMT) == S_IFLNK {
                // Follow a link only if it resolves inside the drop folder.
                guard let resolved = realPath(path), resolved == realRoot || resolved.hasPrefix(realRoot + "/") else { continue }
                target = resolved
                guard stat(target, &ls) == 0 else { continue }
            }
            if (ls.st_mode & S_IFMT) == S_IFDIR {
                if let excluded, target == excluded { continue }
                walk(target, realRoot: realRoot, excluded: excluded, visited: &visited, into: &out, dirs: &dirs)
            } else if (ls.st_mode & S_IFMT) == S_IFREG {
                out.append(FoundFile(path: path, size: Int64(ls.st_size),
                                     mtimeNanoseconds: Int64(ls.st_mtim.tv_sec) * 1_000_000_000 + Int64(ls.st_mtim.tv_nsec),
                                     inode: UInt64(ls.st_ino)))
            }
        }
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}
