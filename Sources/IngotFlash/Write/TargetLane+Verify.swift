// Reading a target back: page cache dropped and O_DIRECT reads, each data range hashed and
// compared with the digest it must have (the bmap's, the manifest's, or the one taken while
// reading the image). A mismatch is narrowed to the first differing byte by comparing the
// range with the image itself.

import Crypto
import Foundation
import IngotTree

#if canImport(Glibc)
    import Glibc
#endif

extension TargetLane {
    /// Reads `ranges` back and compares with `digests`; returns the bytes verified.
    func verify(image: FlashImage, ranges: [ImageRange], digests: [String], bufferSize: Int, cancelled: () -> Bool)
        throws -> Int64
    {
        setPhase(.verify)
        let start = Date()
        handle.dropCache()
        var verified: Int64 = 0
        let reads = ReadAhead(handle: handle, ranges: ranges, bufferSize: bufferSize)
        defer { reads.stop() }
        var hasher = SHA256()
        var current = 0
        func close(_ i: Int) throws {
            let r = ranges[i]
            let actual = hexDigest(hasher.finalize())
            hasher = SHA256()
            if i < digests.count, actual != digests[i] {
                report.verified = verified
                report.verifySeconds = Date().timeIntervalSince(start)
                reads.stop()
                let bad = try? FirstDifference.locate(image: image, range: r, handle: handle)
                if bad == .some(nil), let expected = r.expected {
                    // The target holds exactly the image's bytes: the image is what is wrong.
                    throw FlashError.sourceMismatch(
                        image: image.path, reference: image.reference, start: r.start, end: r.end, expected: expected,
                        actual: actual)
                }
                throw FlashError.verifyMismatch(
                    target: target.path, firstBadOffset: bad ?? nil, start: r.start, end: r.end)
            }
            verified += r.length
        }
        while let piece = try reads.next() {
            if cancelled() { throw FlashError.cancelled }
            while current < piece.range {
                try close(current)
                current += 1
            }
            hasher.update(bufferPointer: piece.buffer.bytes(piece.count))
            reads.give(piece.buffer)
            add(Int64(piece.count))
        }
        while current < ranges.count {
            try close(current)
            current += 1
        }
        report.verified = verified
        report.verifySeconds = Date().timeIntervalSince(start)
        return verified
    }
}

/// Finds the first byte where a target differs from the image inside one range.
enum FirstDifference {
    /// The first differing offset in `range`, or nil when the bytes now agree.
    static func locate(image: FlashImage, range: ImageRange, handle: TargetHandle) throws -> Int64? {
        let size = 1 << 20
        let device = AlignedBuffer(capacity: size)
        var found: Int64? = nil
        try streamImage(image, range: range, blockSize: size) { at, bytes in
            try handle.read(into: device.pointer, count: bytes.count, at: at)
            guard let base = bytes.baseAddress else { return true }
            if memcmp(device.pointer, base, bytes.count) != 0 {
                let d = device.bytes(bytes.count)
                for j in 0..<bytes.count where d[j] != bytes[j] {
                    found = at + Int64(j)
                    return false
                }
            }
            return true
        }
        return found
    }

    /// Calls `body(offset, bytes)` with the image's bytes in `range`, in pieces of at most
    /// `blockSize`; `body` returns false to stop.
    static func streamImage(
        _ image: FlashImage, range: ImageRange, blockSize: Int, _ body: (Int64, UnsafeRawBufferPointer) throws -> Bool
    ) throws {
        if image.compression == .none {
            let fd = open(image.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw FlashImage.Error.open(image.path, String(cString: strerror(errno))) }
            defer { close(fd) }
            let buf = AlignedBuffer(capacity: blockSize)
            var at = range.start
            while at < range.end {
                let want = Int(min(Int64(blockSize), range.end - at))
                let n = pread(fd, buf.pointer, want, off_t(at))
                guard n > 0 else { return }
                guard try body(at, buf.bytes(n)) else { return }
                at += Int64(n)
            }
            return
        }
        let reader = try ArchiveReader(path: image.path, formats: .raw)
        guard try reader.next() != nil else { return }
        var position: Int64 = 0
        var stop = false
        struct Stop: Swift.Error {}
        do {
            try reader.readData { block in
                let blockEnd = position + Int64(block.count)
                defer { position = blockEnd }
                let from = max(position, range.start)
                let to = min(blockEnd, range.end)
                if from < to {
                    let slice = UnsafeRawBufferPointer(rebasing: block[Int(from - position)..<Int(to - position)])
                    if try !body(from, slice) { stop = true }
                }
                if stop || blockEnd >= range.end { throw Stop() }
            }
        } catch is Stop {}
    }
}
