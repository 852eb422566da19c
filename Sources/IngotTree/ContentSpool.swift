// Append-only spool file holding the content of large tree files, so composing a 270 MB rootfs
// does not keep 270 MB in memory. The file is unlinked as soon as it is opened: nothing is left
// behind, even on a crash.
//
// Content that already lies byte for byte in an immutable source file (a file of an uncompressed
// tar from the store) is not copied at all: the source is attached, held open, and its bytes are
// addressed at spool offsets from `sourceBase` on. Copying a rootfs into the spool cost twice as
// long as reading it; referencing it costs nothing. A source that changes size or mtime after it
// was attached is refused on read.

import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

public final class ContentSpool: Sendable {
    /// Files up to this size stay inline in the tree.
    public static let inlineLimit = 4096

    private let fd: Int32
    /// The directory the (unlinked) spool file lives in, for messages about space there.
    public let directory: String

    /// Spool offsets from here on address attached source files, not the spool file.
    public static let sourceBase: Int64 = 1 << 62

    /// An attached source file: its bytes are spool offsets `[base, base + size)`.
    private struct Source {
        var base: Int64
        var size: Int64
        var fd: Int32
        var path: String
        var device: UInt64
        var inode: UInt64
        var mtime: timespec
    }

    /// What changes as content is spooled and sources are attached.
    private struct State {
        /// Bytes spooled so far.
        var end: Int64 = 0
        var sources: [Source] = []
        var nextSourceBase = ContentSpool.sourceBase
    }
    private let state = Mutex(State())

    /// Creates an unlinked spool file in `directory` (default: `$TMPDIR` or /tmp).
    public init(directory: String? = nil) throws {
        let env = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 }
        let dir = directory ?? env ?? "/tmp"
        var template = Array((dir + "/ingot-spool-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw FileTree.Error.spool(
                "cannot create a spool file in \(dir)\(directory == nil ? " (TMPDIR)" : ""): \(String(cString: strerror(errno))); "
                    + "point TMPDIR at a writable directory")
        }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        unlink(path)
        self.fd = fd
        self.directory = dir
    }

    deinit {
        close(fd)
        for source in state.withLock({ $0.sources }) { close(source.fd) }
    }

    /// Attaches an immutable file (a store object) whose bytes tree content may reference in
    /// place, and returns the spool offset of its first byte. Attaching the same unchanged file
    /// again returns the same base.
    /// - Parameter path: the file; it must not change while the spool is in use.
    public func attachSource(path: String) throws -> Int64 {
        let sfd = open(path, O_RDONLY | O_CLOEXEC)
        guard sfd >= 0 else {
            throw FileTree.Error.spool("cannot open source \(path): \(String(cString: strerror(errno)))")
        }
        var st = stat()
        guard fstat(sfd, &st) == 0 else {
            let why = String(cString: strerror(errno))
            close(sfd)
            throw FileTree.Error.spool("cannot stat source \(path): \(why)")
        }
        return state.withLock { state in
            if let known = state.sources.first(where: {
                $0.device == UInt64(st.st_dev) && $0.inode == UInt64(st.st_ino) && $0.size == Int64(st.st_size)
                    && $0.mtime.tv_sec == st.st_mtim.tv_sec && $0.mtime.tv_nsec == st.st_mtim.tv_nsec
            }) {
                close(sfd)
                return known.base
            }
            let base = state.nextSourceBase
            state.sources.append(
                Source(
                    base: base, size: Int64(st.st_size), fd: sfd, path: path, device: UInt64(st.st_dev),
                    inode: UInt64(st.st_ino), mtime: st.st_mtim))
            // Keep a gap so no content can run from one source into the next.
            state.nextSourceBase = base + Int64(st.st_size) + 4096
            return base
        }
    }

    /// The attached source holding `[offset, offset + count)`, checked to be unchanged.
    private func source(at offset: Int64, count: Int) throws -> (fd: Int32, offset: Int64) {
        let found = state.withLock { $0.sources.last { $0.base <= offset } }
        guard let s = found, offset + Int64(count) <= s.base + s.size else {
            throw FileTree.Error.spool("offset \(offset) (+\(count)) lies in no attached source")
        }
        var st = stat()
        guard fstat(s.fd, &st) == 0, Int64(st.st_size) == s.size, st.st_mtim.tv_sec == s.mtime.tv_sec,
            st.st_mtim.tv_nsec == s.mtime.tv_nsec
        else {
            throw FileTree.Error.spool(
                "\(s.path) changed after it was composed into the tree; sources must not change during a build")
        }
        return (s.fd, offset - s.base)
    }

    /// Total bytes spooled so far.
    public var size: Int64 {
        state.withLock { $0.end }
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
        let start = state.withLock { $0.end }
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
                    let why = String(cString: strerror(errno))
                    throw FileTree.Error.spool(
                        "write to the spool file in \(spool.directory) failed: \(why); file contents of the image are "
                            + "staged there — free space in \(spool.directory) or point TMPDIR at a larger filesystem")
                }
                off += n
                written += Int64(n)
            }
        }

        /// Writes bytes at `offset` from the file's start (for sparse entries: the gaps stay holes
        /// in the spool and read as zeros). Later `write(_:)` calls continue after the furthest byte.
        public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
            let saved = written
            written = offset
            defer { written = max(saved, offset + Int64(bytes.count)) }
            try write(bytes)
        }

        /// Ends the file; `size` (≥ the bytes written) keeps a trailing hole as zeros.
        public func finish(size: Int64? = nil) -> Content {
            let total = max(written, size ?? written)
            if total > written {
                // A trailing hole: extend the file so reads find zeros, not the end of the file.
                var st = stat()
                if fstat(spool.fd, &st) == 0, Int64(st.st_size) < start + total {
                    _ = ftruncate(spool.fd, off_t(start + total))
                }
            }
            let end = start + total
            spool.state.withLock { $0.end = max($0.end, end) }
            return Content(spoolOffset: start, size: total)
        }
    }

    public func read(offset: Int64, count: Int) throws -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: count)
        try read(offset: offset, into: &buf, count: count)
        return buf
    }

    public func read(offset: Int64, into buf: inout [UInt8], count: Int) throws {
        var done = 0
        var fd = self.fd
        var offset = offset
        if offset >= Self.sourceBase { (fd, offset) = try source(at: offset, count: count) }
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
