// The decompression in front of `ArchiveReader` for compressed inputs, so every integrity check
// a format carries is enforced. libarchive's gzip filter never checks the trailer (CRC-32 and
// length: "XXX TODO: Verify the length and CRC" in its source), so a .tar.gz with a flipped
// byte was read without a word; gzip is inflated here with zlib, which checks both. Other
// compressions (xz, zstd, bzip2, lz4, lzma, lzip) go through a second libarchive handle in raw
// mode, whose decoders (liblzma, libzstd, libbz2) check their own checksums — but only when the
// stream is read to its end, which a tar reader that stops at the end-of-archive blocks never
// does: `drain()` reads the rest, so the last block's check is always verified.

import CArchive
import CZlib
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The compressions recognised by their magic bytes.
enum StreamCompression: String {
    case gzip, xz, zstd, bzip2, lz4, lzma, lzip, compress

    /// The compression `head` (the first bytes of a file) starts with, or nil for none.
    static func detect(_ head: [UInt8]) -> StreamCompression? {
        func starts(_ magic: [UInt8]) -> Bool { head.count >= magic.count && Array(head.prefix(magic.count)) == magic }
        if starts([0x1F, 0x8B]) { return .gzip }
        if starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { return .xz }
        if starts([0x28, 0xB5, 0x2F, 0xFD]) { return .zstd }
        if starts([0x42, 0x5A, 0x68]) { return .bzip2 }
        if starts([0x04, 0x22, 0x4D, 0x18]) { return .lz4 }
        if starts([0x4C, 0x5A, 0x49, 0x50]) { return .lzip }
        if starts([0x1F, 0x9D]) { return .compress }
        // lzma-alone: properties byte 0x5D and a 2^n dictionary; libarchive's own test.
        if starts([0x5D, 0x00, 0x00]) { return .lzma }
        return nil
    }
}

/// A decompressed byte stream of one file, with integrity checks; feeds an `ArchiveReader`.
final class StreamDecoder {
    let path: String
    let compression: StreamCompression
    /// The first error; libarchive only sees "-1" from the read callback.
    private(set) var failure: String?
    private var finished = false
    private let output: UnsafeMutableRawBufferPointer
    private var backend: Backend

    private enum Backend {
        case zlib(GzipInflater)
        case libarchive(OpaquePointer)
    }

    init(path: String, compression: StreamCompression) throws {
        self.path = path
        self.compression = compression
        output = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 18, alignment: 16)
        switch compression {
        case .gzip:
            do {
                backend = .zlib(try GzipInflater(path: path))
            } catch {
                output.deallocate()
                throw error
            }
        default:
            guard let inner = archive_read_new() else {
                output.deallocate()
                throw ArchiveError(archive: path, entry: nil, message: "out of memory")
            }
            archive_read_support_filter_all(inner)
            archive_read_support_format_raw(inner)
            var entry: OpaquePointer?
            guard archive_read_open_filename(inner, path, 1 << 16) == ARCHIVE_OK,
                archive_read_next_header(inner, &entry) == ARCHIVE_OK
            else {
                let message = archive_error_string(inner).map { String(cString: $0) } ?? "cannot open"
                archive_read_free(inner)
                output.deallocate()
                throw ArchiveError(archive: path, entry: nil, message: message)
            }
            backend = .libarchive(inner)
        }
    }

    deinit {
        if case .libarchive(let inner) = backend { archive_read_free(inner) }
        output.deallocate()
    }

    /// The next decompressed bytes (valid until the next call), empty at the end, nil on error.
    func read() -> UnsafeRawBufferPointer? {
        guard failure == nil else { return nil }
        guard !finished else { return UnsafeRawBufferPointer(start: output.baseAddress, count: 0) }
        let count: Int
        switch backend {
        case .zlib(let inflater):
            do {
                count = try inflater.read(into: output)
            } catch {
                failure = "\(error)"
                return nil
            }
        case .libarchive(let inner):
            let n = archive_read_data(inner, output.baseAddress, output.count)
            if n < 0 {
                let why = archive_error_string(inner).map { String(cString: $0) } ?? "read failed"
                failure = "\(compression.rawValue) stream: \(why)"
                return nil
            }
            count = n
        }
        if count == 0 { finished = true }
        return UnsafeRawBufferPointer(start: output.baseAddress, count: count)
    }

    /// Reads what the consumer left (tar padding after the end-of-archive blocks), so the stream's
    /// final checksum is verified. Throws the integrity failure, naming the file.
    func drain() throws {
        while !finished {
            guard let chunk = read() else { break }
            if chunk.isEmpty { break }
        }
        if let failure { throw ArchiveError(archive: path, entry: nil, message: failure, fix: Self.fix) }
    }

    static let fix =
        "The compressed file failed its integrity check: it was damaged in transfer or on disk. "
        + "Re-download or re-create it (`gzip -t`, `xz -t` or `zstd -t` confirm the damage)."
}

/// gzip (RFC 1952) inflation with zlib, checking every member's CRC-32 and length.
final class GzipInflater {
    enum Error: Swift.Error, CustomStringConvertible {
        case zlib(String)
        case io(String)

        var description: String {
            switch self {
            case .zlib(let why): return "gzip stream: \(why)"
            case .io(let why): return "gzip stream: read failed: \(why)"
            }
        }
    }

    private let fd: Int32
    private var stream = z_stream()
    private let capacity = 1 << 16
    private let input: UnsafeMutablePointer<UInt8>
    private var inputEnd = false
    private var memberEnded = false
    private var done = false

    init(path: String) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw Error.io(String(cString: strerror(errno))) }
        input = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        // 15 + 16: a gzip wrapper; zlib then checks the trailer's CRC-32 and ISIZE.
        let rc = inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard rc == Z_OK else {
            close(fd)
            input.deallocate()
            throw Error.zlib("inflateInit2 failed (\(rc))")
        }
    }

    deinit {
        inflateEnd(&stream)
        close(fd)
        input.deallocate()
    }

    private func refill() throws {
        guard stream.avail_in == 0, !inputEnd else { return }
        while true {
            let n = Glibc.read(fd, input, capacity)
            if n < 0 {
                if errno == EINTR { continue }
                throw Error.io(String(cString: strerror(errno)))
            }
            if n == 0 { inputEnd = true }
            stream.next_in = input
            stream.avail_in = uInt(n)
            return
        }
    }

    /// Inflates into `output`; returns the bytes produced, 0 at the verified end of the input.
    func read(into output: UnsafeMutableRawBufferPointer) throws -> Int {
        while !done {
            if memberEnded {
                // Another member follows, or trailing zeros (some tools pad); anything else is damage.
                if stream.avail_in == 0 {
                    if inputEnd {
                        done = true
                        break
                    }
                    try refill()
                    continue
                }
                let pending = UnsafeBufferPointer(start: stream.next_in, count: Int(stream.avail_in))
                if pending.allSatisfy({ $0 == 0 }) {
                    stream.avail_in = 0
                    continue
                }
                guard pending[0] == 0x1F else {
                    throw Error.zlib("unexpected data after the end of the compressed stream")
                }
                inflateReset(&stream)
                memberEnded = false
            }
            try refill()
            if stream.avail_in == 0, inputEnd {
                throw Error.zlib("the file ends inside the compressed stream (truncated)")
            }
            stream.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(output.count)
            let rc = inflate(&stream, Z_NO_FLUSH)
            let produced = output.count - Int(stream.avail_out)
            switch rc {
            case Z_OK, Z_BUF_ERROR:
                break
            case Z_STREAM_END:
                memberEnded = true
            default:
                let why = stream.msg.map { String(cString: $0) } ?? "error \(rc)"
                throw Error.zlib(why == "incorrect data check" ? "CRC-32 mismatch (incorrect data check)" : why)
            }
            if produced > 0 { return produced }
        }
        return 0
    }
}
