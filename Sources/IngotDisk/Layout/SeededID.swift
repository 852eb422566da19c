// Identifiers derived from a seed, so the same spec + board gives the same disk, byte for byte:
// SHA-256("seed|what") shaped as an RFC 4122 version-5-style UUID, or its first four bytes as
// an MBR disk signature.

import Crypto
import Foundation

/// Deterministic UUIDs and MBR signatures from a seed string.
public enum SeededID {
    static func digest(_ seed: String, _ what: String) -> [UInt8] {
        Array(SHA256.hash(data: Array("\(seed)|\(what)".utf8)))
    }

    /// An upper-case UUID for `what` under `seed` (version nibble 5, RFC 4122 variant).
    public static func uuid(seed: String, for what: String) -> String {
        var b = Array(digest(seed, what).prefix(16))
        b[6] = (b[6] & 0x0f) | 0x50
        b[8] = (b[8] & 0x3f) | 0x80
        let hex = b.map { String(format: "%02X", $0) }.joined()
        let c = Array(hex)
        func part(_ r: Range<Int>) -> String { String(c[r]) }
        return [part(0..<8), part(8..<12), part(12..<16), part(16..<20), part(20..<32)].joined(separator: "-")
    }

    /// A non-zero 32-bit MBR disk signature for `what` under `seed`.
    public static func mbrSignature(seed: String, for what: String) -> UInt32 {
        let b = digest(seed, what)
        let v = UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
        return v == 0 ? 0x1a2b_3c4d : v
    }

    /// `0x` + eight lower-case hex digits, the form sfdisk prints as `label-id`.
    public static func mbrIDString(_ v: UInt32) -> String { String(format: "0x%08x", v) }

    /// The PARTUUID Linux gives MBR partition `number` on a disk with signature `v`.
    public static func mbrPartUUID(_ v: UInt32, number: Int) -> String {
        String(format: "%08x-%02x", v, number)
    }
}
