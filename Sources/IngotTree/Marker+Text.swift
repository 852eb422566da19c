// Marker lines written at build time (not by the init's shell function): stage 1's `stage=init`
// line for a root's own init and the ready line of the systemd unit Ingot adds to such a root.
// Same protocol as the init's `mark()` (see Init+Plan.swift): `@@INGOT <payload> <crc32>@@`.

/// Builds framed, checksummed marker lines.
public enum MarkerText {
    private static let table: [UInt32] = (0..<256).map { index -> UInt32 in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        return crc
    }

    /// The CRC-32 (zlib/IEEE) of the UTF-8 bytes of `text`, as 8 lowercase hex digits — what
    /// `printf '%s' "$payload" | busybox crc32` prints.
    public static func crc32Hex(_ text: String) -> String {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in text.utf8 { crc = (crc >> 8) ^ table[Int((crc ^ UInt32(byte)) & 0xFF)] }
        let hex = String(~crc, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// The whole line for `payload` (`v1 stage=... seq=... k=v`).
    public static func line(payload: String) -> String {
        "@@INGOT \(payload) \(crc32Hex(payload))@@"
    }
}
