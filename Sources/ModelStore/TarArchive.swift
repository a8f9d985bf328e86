import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The single-file bundle: a plain, uncompressed POSIX ustar archive (so `tar tvf` can show it),
/// written and read by this code alone. The reader is strict: regular files and folders only,
/// checked names, checksums, sizes and limits, no duplicates, and a proper end marker.
enum TarArchive {
    static let block = 512

    enum EntryType: UInt8 {
        case file = 0x30       // '0'
        case hardLink = 0x31   // '1'
        case symlink = 0x32    // '2'
        case charDevice = 0x33 // '3'
        case blockDevice = 0x34 // '4'
        case directory = 0x35  // '5'
        case fifo = 0x36       // '6'
    }

    /// One 512-byte ustar header. `typeFlag` and `linkName` are free so tests can forge entries.
    static func header(name: String, size: Int, typeFlag: UInt8, linkName: String = "", mode: Int = 0o644) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: block)
        func put(_ s: String, _ offset: Int, _ length: Int) {
            for (i, b) in s.utf8.prefix(length).enumerated() { h[offset + i] = b }
        }
        func octal(_ v: Int, _ offset: Int, _ length: Int) {
            put(String(repeating: "0", count: max(0, length - 1 - String(v, radix: 8).count)) + String(v, radix: 8), offset, length - 1)
        }
        put(name, 0, 100)
        octal(mode, 100, 8)
        octal(0, 108, 8)
        octal(0, 116, 8)
        octal(size, 124, 12)
        octal(0, 136, 12)
        h[156] = typeFlag
        put(linkName, 157, 100)
        put("ustar", 257, 6)
        put("00", 263, 2)
        put("root", 265, 32)
        put("root", 297, 32)
        for i in 148..<156 { h[i] = 0x20 }
        let sum = h.reduce(0) { $0 + Int($1) }
        let digits = String(sum, radix: 8)
        put(String(repeating: "0", count: 6 - digits.count) + digits, 148, 6)
        h[154] = 0; h[155] = 0x20
        return h
    }

    /// Streams entries to a file; used by `model pack` (and by tests, to forge bad archives).
    final class Writer {
        private let fd: Int32
        private let url: URL

        init(creating url: URL) throws {
            self.url = url
            fd = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o644)
            guard fd >= 0 else { throw DurableFiles.ioError("cannot create", url) }
        }

        deinit { close(fd) }

        private func put(_ bytes: UnsafeRawBufferPointer) throws {
            var off = 0
            while off < bytes.count {
                let n = write(fd, bytes.baseAddress! + off, bytes.count - off)
                if n < 0 { if errno == EINTR { continue }; throw DurableFiles.ioError("cannot write", url) }
                off += n
            }
        }

        private func pad(_ size: Int) throws {
            let r = size % TarArchive.block
            if r != 0 { try [UInt8](repeating: 0, count: TarArchive.block - r).withUnsafeBytes { try put($0) } }
        }

        func add(name: String, data: Data, typeFlag: UInt8 = EntryType.file.rawValue, linkName: String = "") throws {
            try header(name: name, size: data.count, typeFlag: typeFlag, linkName: linkName).withUnsafeBytes { try put($0) }
            try data.withUnsafeBytes { try put($0) }
            try pad(data.count)
        }

        func add(name: String, contentsOf file: URL) throws {
            let input = open(file.path, O_RDONLY | O_NOFOLLOW)
            guard input >= 0 else { throw DurableFiles.ioError("cannot open", file) }
            defer { close(input) }
            var st = stat()
            guard fstat(input, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
                throw ModelStoreError(.unsafeEntry, "\(file.path) is not a regular file")
            }
            let size = Int(st.st_size)
            try header(name: name, size: size, typeFlag: EntryType.file.rawValue).withUnsafeBytes { try put($0) }
            var buffer = [UInt8](repeating: 0, count: 256 * 1024)
            var left = size
            while left > 0 {
                let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress!, min($0.count, left)) }
                if n < 0 { if errno == EINTR { continue }; throw DurableFiles.ioError("cannot read", file) }
                if n == 0 { throw ModelStoreError(.io, "\(file.path) shrank while being archived") }
                try buffer.withUnsafeBytes { try put(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                left -= n
            }
            try pad(size)
        }

        /// Writes the end-of-archive marker (two zero blocks) and fsyncs.
        func finish() throws {
            try [UInt8](repeating: 0, count: 2 * TarArchive.block).withUnsafeBytes { try put($0) }
            guard Glibc_fsync(fd) == 0 else { throw DurableFiles.ioError("fsync failed on", url) }
        }
    }

    /// Extracts `archive` into the empty folder `destination`, refusing anything unsafe.
    /// Returns the regular files written (relative paths).
    static func extract(_ archive: URL, into destination: URL, limits: BundleLimits) throws -> [String] {
        let fd = open(archive.path, O_RDONLY | O_NOFOLLOW)
        guard fd >= 0 else {
            if errno == ELOOP { throw ModelStoreError(.unsafeEntry, "bundle \(archive.lastPathComponent) is a symlink") }
            throw DurableFiles.ioError("cannot open bundle", archive)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw ModelStoreError(.unsafeEntry, "bundle \(archive.lastPathComponent) is not a regular file")
        }
        let overhead = Int64(limits.maxFiles + 1) * 2 * Int64(block) + 20 * Int64(block)
        guard Int64(st.st_size) <= limits.maxTotalBytes + overhead else {
            throw ModelStoreError(.tooLarge, "bundle file is \(st.st_size) bytes, over the limit")
        }

        var headerBytes = [UInt8](repeating: 0, count: block)
        func readExactly(_ buf: UnsafeMutableRawBufferPointer) throws -> Int {
            var got = 0
            while got < buf.count {
                let n = read(fd, buf.baseAddress! + got, buf.count - got)
                if n < 0 { if errno == EINTR { continue }; throw DurableFiles.ioError("cannot read bundle", archive) }
                if n == 0 { break }
                got += n
            }
            return got
        }
        func truncated(_ what: String) -> ModelStoreError {
            ModelStoreError(.truncated, "bundle \(archive.lastPathComponent) is truncated (\(what))")
        }

        var files: [String] = []
        var seen = Set<String>()
        var directories = Set<String>()
        var total: Int64 = 0
        var entries = 0
        while true {
            let got = try headerBytes.withUnsafeMutableBytes { try readExactly($0) }
            if got == 0 { throw truncated("no end-of-archive marker") }
            if got < block { throw truncated("partial header") }
            if headerBytes.allSatisfy({ $0 == 0 }) {
                let second = try headerBytes.withUnsafeMutableBytes { try readExactly($0) }
                guard second == block else { throw truncated("end-of-archive marker cut short") }
                guard headerBytes.allSatisfy({ $0 == 0 }) else {
                    throw ModelStoreError(.badArchive, "a lone zero block inside the archive")
                }
                // Only zero padding may follow the marker.
                while true {
                    let n = try headerBytes.withUnsafeMutableBytes { try readExactly($0) }
                    if n == 0 { break }
                    guard headerBytes[0..<n].allSatisfy({ $0 == 0 }) else {
                        throw ModelStoreError(.badArchive, "data after the end-of-archive marker")
                    }
                }
                return files
            }
            entries += 1
            guard entries <= limits.maxFiles * 2 else { throw ModelStoreError(.tooLarge, "more than \(limits.maxFiles) files") }

            let h = headerBytes
            var stored = 0
            for i in 0..<block { stored += (148..<156).contains(i) ? 0x20 : Int(h[i]) }
            guard let checksum = parseOctal(h[148..<156]), checksum == stored else {
                throw ModelStoreError(.badArchive, "header checksum mismatch in entry \(entries) (damaged or not a tar file)")
            }
            let magic = Array(h[257..<263]), version = Array(h[263..<265])
            let posix = magic == Array("ustar\0".utf8) && version == Array("00".utf8)
            let gnu = magic == Array("ustar ".utf8) && version == [0x20, 0]
            guard posix || gnu else { throw ModelStoreError(.badArchive, "entry \(entries) is not a ustar header") }
            guard let rawName = cString(h[0..<100]), let prefix = cString(h[345..<500]) else {
                throw ModelStoreError(.badPath, "entry \(entries) has a name that is not UTF-8")
            }
            var name = prefix.isEmpty ? rawName : prefix + "/" + rawName
            let type = h[156]
            guard let size = parseOctal(h[124..<136]) else {
                throw ModelStoreError(.badArchive, "entry \(String(reflecting: name)) has an unreadable size field")
            }
            switch type {
            case 0x30, 0:
                break
            case EntryType.directory.rawValue:
                if name.hasSuffix("/") { name.removeLast() }
            case EntryType.symlink.rawValue:
                throw ModelStoreError(.unsafeEntry, "entry \(String(reflecting: name)) is a symlink (to \(String(reflecting: cString(h[157..<257]) ?? "?"))); bundles hold regular files only")
            case EntryType.hardLink.rawValue:
                throw ModelStoreError(.unsafeEntry, "entry \(String(reflecting: name)) is a hard link; bundles hold regular files only")
            case EntryType.charDevice.rawValue, EntryType.blockDevice.rawValue:
                throw ModelStoreError(.unsafeEntry, "entry \(String(reflecting: name)) is a device file; bundles hold regular files only")
            case EntryType.fifo.rawValue:
                throw ModelStoreError(.unsafeEntry, "entry \(String(reflecting: name)) is a FIFO; bundles hold regular files only")
            default:
                throw ModelStoreError(.unsafeEntry, "entry \(String(reflecting: name)) has tar type '\(String(UnicodeScalar(type)))' (extended/long-name headers are not accepted)")
            }
            try BundlePath.validate(name, limits: limits)
            guard seen.insert(name).inserted else {
                throw ModelStoreError(.badArchive, "entry \(String(reflecting: name)) appears twice")
            }
            // A folder must not be shadowed by a file of the same name, nor a file nested under a file.
            let parents = name.split(separator: "/").dropLast()
            var path = ""
            for p in parents {
                path = path.isEmpty ? String(p) : path + "/" + p
                if seen.contains(path) && !directories.contains(path) {
                    throw ModelStoreError(.badArchive, "entry \(String(reflecting: name)) lies under the file \(path)")
                }
            }
            let target = destination.appendingPathComponent(name)
            if type == EntryType.directory.rawValue {
                guard size == 0 else { throw ModelStoreError(.badArchive, "folder entry \(name) has data") }
                directories.insert(name)
                try DurableFiles.makeDirectory(target)
                continue
            }
            guard Int64(size) <= limits.maxFileBytes else {
                throw ModelStoreError(.tooLarge, "\(name) is \(size) bytes, over the limit of \(limits.maxFileBytes)")
            }
            total += Int64(size)
            guard total <= limits.maxTotalBytes else {
                throw ModelStoreError(.tooLarge, "bundle content is over the limit of \(limits.maxTotalBytes) bytes")
            }
            guard files.count < limits.maxFiles else { throw ModelStoreError(.tooLarge, "more than \(limits.maxFiles) files") }
            for p in parents.indices {
                directories.insert(parents[...p].joined(separator: "/"))
            }
            try DurableFiles.makeDirectory(target.deletingLastPathComponent())
            try copyData(from: fd, count: size, to: target, archiveName: archive.lastPathComponent, entry: name)
            files.append(name)
        }
    }

    private static func copyData(from fd: Int32, count: Int, to target: URL, archiveName: String, entry: String) throws {
        let out = open(target.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644)
        guard out >= 0 else { throw DurableFiles.ioError("cannot create", target) }
        defer { close(out) }
        let padded = (count + block - 1) / block * block
        var left = padded
        var dataLeft = count
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while left > 0 {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, min($0.count, left)) }
            if n < 0 { if errno == EINTR { continue }; throw ModelStoreError(.io, "cannot read bundle \(archiveName)") }
            if n == 0 {
                throw ModelStoreError(.truncated, "bundle \(archiveName) is truncated (inside \(entry))")
            }
            let useful = min(n, dataLeft)
            if useful > 0 {
                try buffer.withUnsafeBytes { raw in
                    var off = 0
                    while off < useful {
                        let w = write(out, raw.baseAddress! + off, useful - off)
                        if w < 0 { if errno == EINTR { continue }; throw DurableFiles.ioError("cannot write", target) }
                        off += w
                    }
                }
            }
            dataLeft -= useful
            left -= n
        }
        guard Glibc_fsync(out) == 0 else { throw DurableFiles.ioError("fsync failed on", target) }
    }

    /// A NUL-terminated (or full-width) UTF-8 field.
    private static func cString(_ field: ArraySlice<UInt8>) -> String? {
        String(bytes: field.prefix { $0 != 0 }, encoding: .utf8)
    }

    /// An octal number field (leading spaces allowed, ended by NUL or space); nil if malformed.
    private static func parseOctal(_ field: ArraySlice<UInt8>) -> Int? {
        var value = 0
        var digits = 0
        var ended = false
        for b in field {
            if ended { continue }
            switch b {
            case 0x30...0x37:
                value = value * 8 + Int(b - 0x30); digits += 1
                if digits > 12 { return nil }
            case 0x20 where digits == 0: continue
            case 0x20, 0: ended = true
            default: return nil
            }
        }
        return digits > 0 ? value : nil
    }
}
