// Opening a host file that must be a regular file (a blob, an index.json, a .deb): checked with
// stat before the open and fstat after it, opened with O_NONBLOCK, so a FIFO named in its place
// fails at once instead of blocking the build forever, and a device never streams without end.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

enum RegularFile {
    struct Error: Swift.Error, CustomStringConvertible {
        var path: String
        var reason: String
        var description: String { "\(path): \(reason)" }
    }

    /// A read-only descriptor of the regular file at `path` (symlinks followed).
    static func open(_ path: String) throws -> Int32 {
        var st = stat()
        guard stat(path, &st) == 0 else { throw Error(path: path, reason: String(cString: strerror(errno))) }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw Error(path: path, reason: "\(kind(st.st_mode)), not a regular file")
        }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw Error(path: path, reason: String(cString: strerror(errno))) }
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw Error(path: path, reason: "not a regular file")
        }
        return fd
    }

    /// The contents of the regular file at `path`, at most `limit` bytes.
    static func contents(_ path: String, limit: Int = 64 << 20) throws -> Data {
        let fd = try open(path)
        defer { close(fd) }
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Error(path: path, reason: String(cString: strerror(errno)))
            }
            if n == 0 { return out }
            guard out.count + n <= limit else { throw Error(path: path, reason: "larger than \(limit) bytes") }
            out.append(contentsOf: buffer[0..<n])
        }
    }

    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "a special file"
        }
    }
}
