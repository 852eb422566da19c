// The byte ranges of an image that carry data, each with the sha256 it must hash to: the bmap's
// mapped ranges (with their checksums), or, without a bmap, the whole image (with the manifest's
// digest when a manifest is beside it). Writing, zeroing and verifying all walk this one list.

import Crypto
import Foundation

/// `[start, end)` of the image, and the digest it should have.
struct ImageRange: Sendable, Equatable {
    var start: Int64
    var end: Int64
    /// Lower-case hex sha256 the bytes must hash to, when known in advance.
    var expected: String?
    var length: Int64 { end - start }
}

extension FlashImage {
    /// The data ranges, in order.
    var ranges: [ImageRange] {
        guard let bmap else { return [ImageRange(start: 0, end: size, expected: manifestDigest)] }
        let bs = Int64(bmap.blockSize)
        return bmap.ranges.compactMap { r in
            let start = r.first * bs
            let end = min((r.last + 1) * bs, size)
            return start < end ? ImageRange(start: start, end: end, expected: r.sha256) : nil
        }
    }

    /// The gaps between data ranges, up to the image size (what `--zero-unmapped` zeroes).
    var gaps: [ImageRange] {
        var out: [ImageRange] = []
        var at: Int64 = 0
        for r in ranges {
            if r.start > at { out.append(ImageRange(start: at, end: r.start)) }
            at = max(at, r.end)
        }
        if at < size { out.append(ImageRange(start: at, end: size)) }
        return out
    }

    /// What the range digests come from, for errors.
    var reference: String {
        if let bmapPath { return "its bmap \(bmapPath)" }
        if let manifestPath { return "its manifest \(manifestPath)" }
        return "the digest taken while writing"
    }
}

/// Lower-case hex.
func hexDigest<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in digest {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}
