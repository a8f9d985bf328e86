import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
@preconcurrency import Crypto

/// File operations that survive a power cut: every write is fsync'ed, every switch is a rename
/// of a complete, fsync'ed file followed by an fsync of its directory.
enum DurableFiles {
    enum Kind { case regular, directory, symlink, other(String), missing }

    /// What is at `url`, without following a symlink there.
    static func kind(of url: URL) -> Kind {
        var st = stat()
        guard lstat(url.path, &st) == 0 else { return .missing }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return .directory
        case S_IFLNK: return .symlink
        case S_IFCHR: return .other("character device")
        case S_IFBLK: return .other("block device")
        case S_IFIFO: return .other("FIFO")
        case S_IFSOCK: return .other("socket")
        default: return .other("special file")
        }
    }

    static func ioError(_ what: String, _ url: URL, _ err: Int32 = errno) -> ModelStoreError {
        ModelStoreError(.io, "\(what) \(url.path): \(String(cString: strerror(err)))")
    }

    static func fsync(_ url: URL, directory: Bool = false) throws {
        let fd = open(url.path, directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY)
        guard fd >= 0 else { throw ioError("cannot open for fsync", url) }
        defer { close(fd) }
        guard Glibc_fsync(fd) == 0 else { throw ioError("fsync failed on", url) }
    }

    static func makeDirectory(_ url: URL) throws {
        if case .directory = kind(of: url) { return }
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw ModelStoreError(.io, "cannot create folder \(url.path): \(error.localizedDescription)")
        }
    }

    /// Writes `data` to a temporary name beside `url`, fsyncs it, renames it over `url` and
    /// fsyncs the folder: a reader sees the old file or the new one, never a part.
    static func atomicWrite(_ data: Data, to url: URL, mode: mode_t = 0o644) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        try writeFile(data, to: tmp, mode: mode, exclusive: false)
        guard rename(tmp.path, url.path) == 0 else {
            let e = errno
            unlink(tmp.path)
            throw ioError("cannot rename into place", url, e)
        }
        try fsync(dir, directory: true)
    }

    /// Writes and fsyncs a file (no rename).
    static func writeFile(_ data: Data, to url: URL, mode: mode_t = 0o644, exclusive: Bool) throws {
        let flags = O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | (exclusive ? O_EXCL : 0)
        let fd = open(url.path, flags, mode)
        guard fd >= 0 else { throw ioError("cannot create", url) }
        defer { close(fd) }
        fchmod(fd, mode)  // O_CREAT honours umask; the mode asked for is what we want (0600 keys)
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 { if errno == EINTR { continue }; throw ioError("cannot write", url) }
                offset += n
            }
        }
        guard Glibc_fsync(fd) == 0 else { throw ioError("fsync failed on", url) }
    }

    /// Reads a regular file (never through a symlink) of at most `limit` bytes.
    static func readSmallFile(_ url: URL, limit: Int64, what: String) throws -> Data {
        switch kind(of: url) {
        case .regular: break
        case .missing: throw ModelStoreError(.missingFile, "\(what) \(url.lastPathComponent) is missing")
        case .symlink: throw ModelStoreError(.unsafeEntry, "\(what) \(url.lastPathComponent) is a symlink")
        default: throw ModelStoreError(.unsafeEntry, "\(what) \(url.lastPathComponent) is not a regular file")
        }
        let fd = open(url.path, O_RDONLY | O_NOFOLLOW)
        guard fd >= 0 else { throw ioError("cannot open", url) }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw ioError("cannot read", url) }
            if n == 0 { break }
            data.append(contentsOf: buffer[0..<n])
            if Int64(data.count) > limit {
                throw ModelStoreError(.tooLarge, "\(what) \(url.lastPathComponent) is larger than \(limit) bytes")
            }
        }
        return data
    }

    /// The first `count` bytes of a regular file (fewer if it is shorter).
    static func readPrefix(_ url: URL, count: Int) throws -> Data {
        let fd = open(url.path, O_RDONLY | O_NOFOLLOW)
        guard fd >= 0 else { throw ioError("cannot open", url) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, count) }
        guard n >= 0 else { throw ioError("cannot read", url) }
        return Data(buffer[0..<n])
    }

    /// Streams a regular file to a new file, refusing symlinks and anything over `limit` bytes;
    /// the copy is fsync'ed. Returns the byte count.
    @discardableResult
    static func copyFile(from source: URL, to dest: URL, limit: Int64) throws -> Int64 {
        let input = open(source.path, O_RDONLY | O_NOFOLLOW)
        guard input >= 0 else {
            if errno == ELOOP { throw ModelStoreError(.unsafeEntry, "\(source.lastPathComponent) is a symlink") }
            throw ioError("cannot open", source)
        }
        defer { close(input) }
        var st = stat()
        guard fstat(input, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw ModelStoreError(.unsafeEntry, "\(source.lastPathComponent) is not a regular file")
        }
        let output = open(dest.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644)
        guard output >= 0 else { throw ioError("cannot create", dest) }
        defer { close(output) }
        var total: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress!, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw ioError("cannot read", source) }
            if n == 0 { break }
            total += Int64(n)
            if total > limit {
                throw ModelStoreError(.tooLarge, "\(source.lastPathComponent) is larger than the limit of \(limit) bytes")
            }
            try buffer.withUnsafeBytes { raw in
                var off = 0
                while off < n {
                    let w = write(output, raw.baseAddress! + off, n - off)
                    if w < 0 { if errno == EINTR { continue }; throw ioError("cannot write", dest) }
                    off += w
                }
            }
        }
        guard Glibc_fsync(output) == 0 else { throw ioError("fsync failed on", dest) }
        return total
    }

    /// SHA-256 (lowercase hex) and size of a regular file, read without following symlinks.
    static func sha256(of url: URL) throws -> (hex: String, size: Int64) {
        let fd = open(url.path, O_RDONLY | O_NOFOLLOW)
        guard fd >= 0 else {
            if errno == ELOOP { throw ModelStoreError(.unsafeEntry, "\(url.lastPathComponent) is a symlink") }
            if errno == ENOENT { throw ModelStoreError(.missingFile, "\(url.lastPathComponent) is missing") }
            throw ioError("cannot open", url)
        }
        defer { close(fd) }
        var hasher = SHA256()
        var size: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw ioError("cannot read", url) }
            if n == 0 { break }
            size += Int64(n)
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        return (hex(hasher.finalize()), size)
    }

    static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func sha256Hex(_ data: Data) -> String { hex(SHA256.hash(data: data)) }

    /// Removes a tree without following symlinks inside it (best effort).
    static func removeTree(_ url: URL) {
        switch kind(of: url) {
        case .missing: return
        case .directory:
            if let names = try? FileManager.default.contentsOfDirectory(atPath: url.path) {
                for name in names { removeTree(url.appendingPathComponent(name)) }
            }
            rmdir(url.path)
        default:
            unlink(url.path)
        }
    }

    /// Every regular file under `root`, as relative paths; anything that is not a regular file
    /// or folder is refused (symlinks are never followed).
    /// With `skipHidden`, entries whose name starts with "." are passed over (a stick written
    /// by macOS carries `._model.onnx` and `.DS_Store`); they are never copied.
    static func listTree(_ root: URL, limits: BundleLimits, skipHidden: Bool = false) throws -> [String] {
        var out: [String] = []
        func walk(_ dir: URL, _ prefix: String, _ depth: Int) throws {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else {
                throw ioError("cannot list", dir)
            }
            for name in names.sorted() where !(skipHidden && name.hasPrefix(".")) {
                let rel = prefix.isEmpty ? name : prefix + "/" + name
                let url = dir.appendingPathComponent(name)
                switch kind(of: url) {
                case .regular: out.append(rel)
                case .directory:
                    guard depth < limits.maxDepth else {
                        throw ModelStoreError(.badPath, "folder \(rel) is nested deeper than \(limits.maxDepth)")
                    }
                    try walk(url, rel, depth + 1)
                case .symlink: throw ModelStoreError(.unsafeEntry, "\(rel) is a symlink; bundles hold regular files only")
                case .other(let what): throw ModelStoreError(.unsafeEntry, "\(rel) is a \(what); bundles hold regular files only")
                case .missing: throw ModelStoreError(.missingFile, "\(rel) vanished while listing")
                }
                guard out.count <= limits.maxFiles else {
                    throw ModelStoreError(.tooLarge, "more than \(limits.maxFiles) files")
                }
            }
        }
        try walk(root, "", 0)
        return out
    }
}

// `fsync` is shadowed by our own static func above; reach the C one by another name.
@inline(__always) func Glibc_fsync(_ fd: Int32) -> Int32 {
    #if canImport(Glibc)
    return Glibc.fsync(fd)
    #elseif canImport(Musl)
    return Musl.fsync(fd)
    #else
    return Darwin.fsync(fd)
    #endif
}

/// File hashing for other modules that keep files they must find intact (the appliance's
/// reference series): the same reader the bundle verifier uses, symlinks refused.
public enum FileDigest {
    /// SHA-256 of a regular file, lowercase hex.
    public static func sha256Hex(of url: URL) throws -> String { try DurableFiles.sha256(of: url).hex }
}
