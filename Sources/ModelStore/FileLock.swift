import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An flock(2) lock on a file: shared or exclusive, released when this value is released or
/// the process dies (so a killed installer never leaves the store locked).
final class FileLock: @unchecked Sendable {
    private var fd: Int32

    /// Returns nil when `blocking` is false and another holder conflicts.
    init?(_ url: URL, exclusive: Bool, blocking: Bool) throws {
        fd = open(url.path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DurableFiles.ioError("cannot open lock file", url) }
        var op = exclusive ? LOCK_EX : LOCK_SH
        if !blocking { op |= LOCK_NB }
        while flock(fd, op) != 0 {
            let e = errno
            if e == EINTR { continue }
            close(fd)
            if e == EWOULDBLOCK { return nil }
            throw DurableFiles.ioError("cannot lock", url, e)
        }
    }

    func release() {
        if fd >= 0 { close(fd); fd = -1 }
    }

    deinit { release() }
}
