// Append-only spool file holding the content of large tree files, so composing a 270 MB rootfs
// does not keep 270 MB in memory. The file is unlinked as soon as it is opened: nothing is left
// behind, even on a crash.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public final class ContentSpool: @unchecked Sendable {
    /// Files up to this size stay inline in the tree.
    public static let inlineLimit = 4096

    private let fd: Int32
    private var end: Int64 = 0
    private let lock = NSLock()

    /// Creates an unlinked spool file in `directory` (default: `$TMPDIR` or /tmp).
    public init(directory: String? = nil) throws {
        let dir = directory ?? ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        var template = Array((dir + "/ingot-spool-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw FileTree.Error.spool("cannot create a spool file in \(dir): \(String(cString: strerror(errno)))")
        }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        unlink(path)
        self.fd = fd
    }

    deinit { close(fd) }

    /// Total bytes spooled so far.
    public var size: Int64 {
        lock.lock()
        defer { lock.unlock() }
        return end
    }

    /// Appends bytes and returns their `Content`.
    public func append(_ bytes: [UInt8]) throws -> Content {
        try bytes.withUnsafeBytes { try append($0) }
    }

    public func append(_ bytes: UnsafeRawBufferPointer) throws -> Content {
        let w = beginFile()
        try w.write(bytes)
        return w.finish()
    }

    /// Starts a streamed file at the end of the spool. Only one writer may be open at a time.
    public func beginFile() -> Writer {
        lock.lock()
        let start = end
        lock.unlock()
        return Writer(spool: self, start: start)
    }

    public final class Writer {
        let spool: ContentSpool
        let start: Int64
        private(set) var written: Int64 = 0

        init(spool: ContentSpool, start: Int64) {
            self.spool = spool
            self.start = start
        }

        public func write(_ bytes: UnsafeRawBufferPointer) throws {
            var off = 0
            while off < bytes.count {
                let n = pwrite(spool.fd, bytes.baseAddress! + off, bytes.count - off, off_t(start + written))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileTree.Error.spool("write failed: \(String(cString: strerror(errno)))")
                }
                off += n
                written += Int64(n)
            }
        }

        public func finish() -> Content {
            spool.lock.lock()
            spool.end = max(spool.end, start + written)
            spool.lock.unlock()
            return Content(spoolOffset: start, size: written)
        }
    }

    public func read(offset: Int64, count: Int) throws -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: count)
        try read(offset: offset, into: &buf, count: count)
        return buf
    }

    public func read(offset: Int64, into buf: inout [UInt8], count: Int) throws {
        var done = 0
        try buf.withUnsafeMutableBytes { raw in
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset + Int64(done)))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileTree.Error.spool("read failed: \(String(cString: strerror(errno)))")
                }
                if n == 0 { throw FileTree.Error.spool("short read at \(offset + Int64(done))") }
                done += n
            }
        }
    }
}
