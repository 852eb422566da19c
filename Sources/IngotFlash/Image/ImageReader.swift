// Reading the image once: a raw image is read range by range with pread (unmapped ranges are
// never read); a compressed one is decompressed as a stream through libarchive's raw reader (no
// temporary file) and the unmapped bytes are dropped as they pass. Every data range is hashed on
// the way and checked against the bmap's (or manifest's) digest, so a corrupt image stops the
// write at the first bad range. The data goes out in pool chunks at their image offsets.

import Crypto
import Foundation
import IngotTree

#if canImport(Glibc)
    import Glibc
#endif

/// Reads an image's data ranges into chunks.
final class ImageReader {
    let image: FlashImage
    let ranges: [ImageRange]
    /// Called with each filled chunk (nil pool: hash only). Throws to stop reading.
    var emit: ((Chunk) throws -> Void)?
    let pool: ChunkPool?
    /// Checked between chunks.
    var cancelled: () -> Bool = { false }
    /// Bytes of data read so far.
    private(set) var bytesRead: Int64 = 0
    private let lock = NSLock()

    /// The digest of each range, in order, as read.
    private(set) var digests: [String] = []
    /// Hash ranges whose digest is known in advance. Off when the target is read back and
    /// checked against those digests anyway: one hash instead of two, and a corrupt image is
    /// still caught (its bytes on the target then differ from the bmap).
    var hashKnownRanges = true

    init(image: FlashImage, pool: ChunkPool?) {
        self.image = image
        self.ranges = image.ranges
        self.pool = pool
    }

    /// Bytes read so far (thread-safe).
    var progress: Int64 {
        lock.lock()
        defer { lock.unlock() }
        return bytesRead
    }

    private func advance(_ n: Int) {
        lock.lock()
        bytesRead += Int64(n)
        lock.unlock()
    }

    /// Reads every range; returns the digests.
    @discardableResult
    func run() throws -> [String] {
        if image.compression == .none { try readRaw() } else { try readStream() }
        return digests
    }

    /// Checks a range's digest (nil hasher: not hashed, the known digest stands).
    private func finishRange(_ index: Int, _ hasher: SHA256?) throws {
        let r = ranges[index]
        guard let hasher else {
            digests.append(r.expected ?? "")
            return
        }
        let actual = hexDigest(hasher.finalize())
        if let expected = r.expected, expected != actual {
            throw FlashError.sourceMismatch(
                image: image.path, reference: image.reference, start: r.start, end: r.end, expected: expected,
                actual: actual)
        }
        digests.append(actual)
    }

    // MARK: raw

    private func readRaw() throws {
        let fd = open(image.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FlashImage.Error.open(image.path, String(cString: strerror(errno))) }
        defer { close(fd) }
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        let scratch = AlignedBuffer(capacity: pool == nil ? 4 << 20 : AlignedBuffer.alignment)
        for (index, r) in ranges.enumerated() {
            var hasher = SHA256()
            let hashing = hashKnownRanges || r.expected == nil
            var at = r.start
            while at < r.end {
                if cancelled() { throw FlashError.cancelled }
                let chunk = pool?.take()
                let buffer = chunk?.buffer ?? scratch
                let want = Int(min(Int64(buffer.capacity), r.end - at))
                var got = 0
                while got < want {
                    let n = pread(fd, buffer.pointer + got, want - got, off_t(at + Int64(got)))
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else {
                        if let chunk { pool?.share(chunk, with: 0) }
                        if n == 0 {
                            throw FlashError.sourceLength(
                                image: image.path, expected: image.size, actual: at + Int64(got))
                        }
                        throw FlashImage.Error.open(image.path, String(cString: strerror(errno)))
                    }
                    got += n
                }
                if hashing { hasher.update(bufferPointer: buffer.bytes(want)) }
                if let chunk {
                    chunk.offset = at
                    chunk.length = want
                    try emit?(chunk)
                }
                advance(want)
                at += Int64(want)
            }
            try finishRange(index, hashing ? hasher : nil)
        }
    }

    // MARK: compressed

    private func readStream() throws {
        let reader: ArchiveReader
        do {
            reader = try ArchiveReader(path: image.path, formats: .raw)
            guard try reader.next() != nil else {
                throw FlashError.decompress(image: image.path, offset: 0, message: "no data")
            }
        } catch let e as FlashError {
            throw e
        } catch {
            throw FlashError.decompress(image: image.path, offset: 0, message: FlashImage.archiveMessage(error))
        }
        let scratch = AlignedBuffer(capacity: pool == nil ? 4 << 20 : AlignedBuffer.alignment)
        var position: Int64 = 0  // decompressed bytes seen
        var index = 0  // current range
        var hasher = SHA256()
        var chunk: Chunk? = nil
        var filled = 0
        var chunkStart: Int64 = 0

        func flush() throws {
            guard filled > 0 else { return }
            if let c = chunk {
                c.offset = chunkStart
                c.length = filled
                chunk = nil
                try emit?(c)
            }
            advance(filled)
            filled = 0
        }

        do {
            try reader.readData { block in
                if cancelled() { throw FlashError.cancelled }
                var offset = 0
                while offset < block.count {
                    let here = position + Int64(offset)
                    guard index < ranges.count, here < image.size else {
                        // Past the last range: count the rest (its length is checked at the end).
                        offset = block.count
                        break
                    }
                    let r = ranges[index]
                    if here < r.start {
                        offset += Int(min(Int64(block.count - offset), r.start - here))  // unmapped: skip
                        continue
                    }
                    if filled == 0 {
                        chunk = pool?.take()
                        chunkStart = here
                    }
                    let buffer = chunk?.buffer ?? scratch
                    let n = Int(min(Int64(block.count - offset), r.end - here, Int64(buffer.capacity - filled)))
                    let slice = UnsafeRawBufferPointer(rebasing: block[offset..<(offset + n)])
                    if let base = slice.baseAddress { (buffer.pointer + filled).copyMemory(from: base, byteCount: n) }
                    if hashKnownRanges || r.expected == nil { hasher.update(bufferPointer: slice) }
                    filled += n
                    offset += n
                    if here + Int64(n) == r.end {
                        try flush()
                        try finishRange(index, hashKnownRanges || r.expected == nil ? hasher : nil)
                        hasher = SHA256()
                        index += 1
                    } else if filled == buffer.capacity {
                        try flush()
                    }
                }
                position += Int64(block.count)
            }
        } catch let e as FlashError {
            if let c = chunk { pool?.share(c, with: 0) }
            throw e
        } catch {
            if let c = chunk { pool?.share(c, with: 0) }
            throw FlashError.decompress(image: image.path, offset: position, message: FlashImage.archiveMessage(error))
        }
        if let c = chunk { pool?.share(c, with: 0) }
        if position != image.size || index < ranges.count {
            throw FlashError.sourceLength(image: image.path, expected: image.size, actual: position)
        }
    }
}
