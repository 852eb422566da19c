// The compressors behind squashfs blocks: zstd (libzstd) and gzip (zlib streams, as the kernel's
// zlib wrapper expects). One `SquashfsCompressor` per thread; blocks that do not shrink are kept
// uncompressed by the callers.

import CZlib
import CZstd
import Foundation

/// A compression context owned by one thread at a time.
final class SquashfsCompressor {
    let compression: SquashfsCompression
    let level: Int
    private var cctx: OpaquePointer?
    private var dctx: OpaquePointer?

    init(_ compression: SquashfsCompression, level: Int) {
        self.compression = compression
        self.level = level
    }

    deinit {
        if let cctx { ZSTD_freeCCtx(cctx) }
        if let dctx { ZSTD_freeDCtx(dctx) }
    }

    /// Compresses `input`; returns nil when the result would not be smaller than the input.
    func compress(_ input: UnsafeRawBufferPointer) -> [UInt8]? {
        guard input.count > 0, let base = input.baseAddress else { return nil }
        // Only a strictly smaller result is worth storing, so the output buffer is capped there.
        let capacity = input.count - 1
        guard capacity > 0 else { return nil }
        var out = [UInt8](repeating: 0, count: capacity)
        var produced = 0
        switch compression {
        case .zstd:
            if cctx == nil { cctx = ZSTD_createCCtx() }
            guard let cctx else { return nil }
            let n = out.withUnsafeMutableBytes {
                ZSTD_compressCCtx(cctx, $0.baseAddress, capacity, base, input.count, Int32(level))
            }
            if ZSTD_isError(n) != 0 { return nil }
            produced = n
        case .gzip:
            var destLen = uLongf(capacity)
            let rc = out.withUnsafeMutableBytes {
                compress2(
                    $0.baseAddress!.assumingMemoryBound(to: Bytef.self), &destLen,
                    base.assumingMemoryBound(to: Bytef.self), uLong(input.count), Int32(level))
            }
            if rc != Z_OK { return nil }
            produced = Int(destLen)
        }
        guard produced < input.count else { return nil }
        out.removeSubrange(produced...)
        return out
    }

    func compress(_ input: [UInt8]) -> [UInt8]? {
        input.withUnsafeBytes { compress($0) }
    }

    /// Decompresses a block whose uncompressed size is at most `limit`.
    func decompress(_ input: ArraySlice<UInt8>, limit: Int, what: String) throws -> [UInt8] {
        guard !input.isEmpty else { throw SquashfsReader.Error.corrupt("\(what): empty compressed block") }
        var out = [UInt8](repeating: 0, count: max(limit, 1))
        var produced = 0
        switch compression {
        case .zstd:
            if dctx == nil { dctx = ZSTD_createDCtx() }
            guard let dctx else { throw SquashfsReader.Error.corrupt("\(what): cannot create a zstd context") }
            let n = input.withUnsafeBytes { src in
                out.withUnsafeMutableBytes {
                    ZSTD_decompressDCtx(dctx, $0.baseAddress, limit, src.baseAddress, src.count)
                }
            }
            if ZSTD_isError(n) != 0 {
                throw SquashfsReader.Error.corrupt("\(what): zstd: \(String(cString: ZSTD_getErrorName(n)))")
            }
            produced = n
        case .gzip:
            var destLen = uLongf(limit)
            let rc = input.withUnsafeBytes { src in
                out.withUnsafeMutableBytes {
                    uncompress(
                        $0.baseAddress!.assumingMemoryBound(to: Bytef.self), &destLen,
                        src.baseAddress!.assumingMemoryBound(to: Bytef.self), uLong(src.count))
                }
            }
            guard rc == Z_OK else { throw SquashfsReader.Error.corrupt("\(what): zlib error \(rc)") }
            produced = Int(destLen)
        }
        out.removeSubrange(produced...)
        return out
    }
}
