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
    /// Every block this image was written through (zero blocks included: a zero FAT sector is
    /// content even though it stays a hole here), plus what `recordContent(in:)` found after
    /// outside tools wrote. The bmap comes from this map, never from the host's extents.
    public private(set) var written = BlockMap()

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
        written.insert(ByteRange(offset: offset, size: Int64(bytes.count)))
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

    /// Marks bytes another writer (libfdisk, through its own descriptor) put into the image.
    public func markWritten(_ range: ByteRange) {
        written.insert(range)
    }

    /// After an outside tool (mke2fs, syslinux) wrote into `range`, marks its non-zero blocks as
    /// written. Holes are skipped with SEEK_DATA as a shortcut only: they read as zeros anyway, so
    /// the result depends on the bytes, not on how the host filesystem allocated them.
    /// - Returns: the number of blocks marked.
    @discardableResult
    public func recordContent(in range: ByteRange) throws -> Int64 {
        let block = BlockMap.blockSize
        var marked: Int64 = 0
        var position = range.offset / block * block
        let end = range.end
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while position < end {
            let data = lseek(fd, off_t(position), ImageFile.seekData)
            if data < 0 {
                if errno == ENXIO { break }
                throw Error.io(path, "SEEK_DATA: \(String(cString: strerror(errno)))")
            }
            var hole = Int64(lseek(fd, off_t(data), ImageFile.seekHole))
            if hole < 0 { hole = end }
            var at = max(position, Int64(data) / block * block)
            let stop = min(end, hole)
            while at < stop {
                let want = Int(min(Int64(buffer.count), stop - at))
                let got = try buffer.withUnsafeMutableBytes { raw -> Int in
                    var done = 0
                    while done < want {
                        let n = pread(fd, raw.baseAddress! + done, want - done, off_t(at + Int64(done)))
                        if n < 0 {
                            if errno == EINTR { continue }
                            throw Error.io(path, String(cString: strerror(errno)))
                        }
                        if n == 0 { break }
                        done += n
                    }
                    return done
                }
                if got == 0 { break }
                var offset = 0
                while offset < got {
                    let n = min(Int(block), got - offset)
                    let nonZero = buffer.withUnsafeBytes {
                        !Self.isZero(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + n)]))
                    }
                    if nonZero {
                        written.insert(ByteRange(offset: at + Int64(offset), size: Int64(n)))
                        marked += 1
                    }
                    offset += n
                }
                at += Int64(got)
            }
            position = max(stop, position + block)
        }
        return marked
    }

    // glibc hides these behind _GNU_SOURCE; the values are fixed by the Linux ABI.
    static let seekData: Int32 = 3
    static let seekHole: Int32 = 4

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

/// A set of written 4 KiB blocks kept as sorted, merged runs `[first, last]` (block numbers).
public struct BlockMap: Sendable, Equatable {
    /// The granularity: bmap blocks, and the unit holes are skipped in.
    public static let blockSize: Int64 = 4096

    /// Sorted, non-touching runs of block numbers.
    public private(set) var runs: [ClosedRange<Int64>] = []

    public init() {}

    /// Adds every block `range` touches.
    public mutating func insert(_ range: ByteRange) {
        guard range.size > 0, range.offset >= 0 else { return }
        let first = range.offset / Self.blockSize
        let last = (range.end - 1) / Self.blockSize
        insert(first...last)
    }

    /// Adds a run of blocks, merging with runs it overlaps or touches.
    public mutating func insert(_ run: ClosedRange<Int64>) {
        // Writers mostly append: extend the last run cheaply.
        if let tail = runs.last {
            if run.lowerBound > tail.upperBound + 1 {
                runs.append(run)
                return
            }
            if run.lowerBound >= tail.lowerBound {
                runs[runs.count - 1] = tail.lowerBound...max(tail.upperBound, run.upperBound)
                return
            }
        } else {
            runs.append(run)
            return
        }
        // First run whose end reaches the new run's start (minus one, to merge touching runs).
        var low = 0
        var high = runs.count
        while low < high {
            let mid = (low + high) / 2
            if runs[mid].upperBound + 1 < run.lowerBound { low = mid + 1 } else { high = mid }
        }
        var lower = run.lowerBound
        var upper = run.upperBound
        var end = low
        while end < runs.count, runs[end].lowerBound <= upper + 1 {
            lower = min(lower, runs[end].lowerBound)
            upper = max(upper, runs[end].upperBound)
            end += 1
        }
        runs.replaceSubrange(low..<end, with: [lower...upper])
    }

    /// Adds every run of `other`.
    public mutating func formUnion(_ other: BlockMap) {
        for run in other.runs { insert(run) }
    }

    /// Whether `block` is in the set.
    public func contains(block: Int64) -> Bool {
        var low = 0
        var high = runs.count
        while low < high {
            let mid = (low + high) / 2
            if runs[mid].upperBound < block { low = mid + 1 } else { high = mid }
        }
        return low < runs.count && runs[low].contains(block)
    }

    /// Number of blocks in the set.
    public var count: Int64 { runs.reduce(0) { $0 + Int64($1.count) } }

    /// The runs clipped to an image of `size` bytes.
    public func clipped(toImageSize size: Int64) -> [ClosedRange<Int64>] {
        guard size > 0 else { return [] }
        let lastBlock = (size - 1) / Self.blockSize
        return runs.compactMap { run in
            run.lowerBound > lastBlock ? nil : run.lowerBound...min(run.upperBound, lastBlock)
        }
    }
}
