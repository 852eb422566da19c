// The byte sink every filesystem writer and the disk assembler write into: a (sparse) image file
// addressed by absolute offsets, plus `ByteRange`, the slice of it that one partition owns.
// All-zero blocks are skipped so images stay sparse and bmaps stay small.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A half-open byte range `[offset, offset + size)` of an image file.
public struct ByteRange: Hashable, Sendable, CustomStringConvertible {
    public var offset: Int64
    public var size: Int64
    public init(offset: Int64, size: Int64) {
        self.offset = offset
        self.size = size
    }
    public var end: Int64 { offset + size }
    public var description: String { "[\(offset), \(end)) (\(size) bytes)" }
}

public final class ImageFile {
    public enum Error: Swift.Error, CustomStringConvertible {
        case open(String, String)
        case io(String, String)
        case outOfRange(String, ByteRange, Int64, Int64)

        public var description: String {
            switch self {
            case .open(let p, let why): return "\(p): cannot open image file: \(why)"
            case .io(let p, let why): return "\(p): I/O error: \(why)"
            case .outOfRange(let p, let r, let off, let n):
                return "\(p): write of \(n) bytes at \(off) falls outside \(r); the content does not fit its partition"
            }
        }
    }

    public let path: String
    public let fd: Int32
    private let ownsDescriptor: Bool

    /// Opens (and with `create`, creates/truncates) an image file of `size` bytes (sparse).
    public init(path: String, create: Bool = false, size: Int64? = nil) throws {
        self.path = path
        let flags = create ? (O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC) : (O_RDWR | O_CLOEXEC)
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else { throw Error.open(path, String(cString: strerror(errno))) }
        self.fd = fd
        ownsDescriptor = true
        if let size, ftruncate(fd, off_t(size)) != 0 {
            let why = String(cString: strerror(errno))
            close(fd)
            throw Error.io(path, "cannot size to \(size) bytes: \(why)")
        }
    }

    deinit { if ownsDescriptor { close(fd) } }

    public var size: Int64 {
        var st = stat()
        return fstat(fd, &st) == 0 ? Int64(st.st_size) : 0
    }

    public func truncate(to size: Int64) throws {
        guard ftruncate(fd, off_t(size)) == 0 else { throw Error.io(path, String(cString: strerror(errno))) }
    }

    /// Writes bytes at an absolute offset. Blocks of 4 KiB that are all zero are skipped (left as
    /// holes), so callers must only write into regions that are still holes or pass `dense: true`.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64, dense: Bool = false) throws {
        if dense {
            try writeAll(bytes, at: offset)
            return
        }
        let block = 4096
        var start = 0
        while start < bytes.count {
            // Align chunk ends to absolute 4 KiB boundaries so holes line up with filesystem blocks.
            let abs = offset + Int64(start)
            let toBoundary = block - Int(abs % Int64(block))
            let n = min(toBoundary, bytes.count - start)
            let chunk = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + n)])
            if !Self.isZero(chunk) { try writeAll(chunk, at: abs) }
            start += n
        }
    }

    public func write(_ bytes: [UInt8], at offset: Int64, dense: Bool = false) throws {
        try bytes.withUnsafeBytes { try write($0, at: offset, dense: dense) }
    }

    /// Writes bytes at `offset` relative to `range`, refusing to spill outside it.
    public func write(_ bytes: [UInt8], at offset: Int64, in range: ByteRange) throws {
        guard offset >= 0, offset + Int64(bytes.count) <= range.size else {
            throw Error.outOfRange(path, range, offset, Int64(bytes.count))
        }
        try write(bytes, at: range.offset + offset)
    }

    public func read(at offset: Int64, count: Int) throws -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: count)
        var done = 0
        try buf.withUnsafeMutableBytes { raw in
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset + Int64(done)))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Error.io(path, String(cString: strerror(errno)))
                }
                if n == 0 { break }  // past EOF reads as zeros
                done += n
            }
        }
        return buf
    }

    public func sync() throws {
        guard fsync(fd) == 0 else { throw Error.io(path, String(cString: strerror(errno))) }
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + Int64(done)))
            if n < 0 {
                if errno == EINTR { continue }
                throw Error.io(path, String(cString: strerror(errno)))
            }
            done += n
        }
    }

    static func isZero(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = bytes.count
        while i + 8 <= n {
            if bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) != 0 { return false }
            i += 8
        }
        while i < n {
            if bytes[i] != 0 { return false }
            i += 1
        }
        return true
    }
}
