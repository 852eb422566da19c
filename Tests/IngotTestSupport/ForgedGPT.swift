// A GPT written by hand with one partition at any LBA (huge ones included) and every CRC valid,
// so libfdisk accepts it as a table: the hostile input for `inspect` (issue 12, case 8), shared by
// IngotDiskTests and IngotCommandsTests.

import Foundation

/// A GPT with one partition at any LBA and valid CRCs (libfdisk accepts it as a table).
public enum ForgedGPT {
    /// CRC-32 (IEEE), as GPT headers and entry arrays carry it.
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
        }
        return ~crc
    }

    /// A 4 MiB GPT image with one partition at `start` of `count` sectors, CRCs all valid.
    public static func write(_ path: String, start: UInt64, count: UInt64) throws {
        let size = 4 << 20
        var img = [UInt8](repeating: 0, count: size)
        func put<T: FixedWidthInteger>(_ v: T, _ at: Int, in buf: inout [UInt8]) {
            withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { buf[at + i] = b } }
        }
        let last = UInt64(size / 512 - 1)
        img[446 + 4] = 0xEE
        put(UInt32(1), 446 + 8, in: &img)
        put(UInt32(last), 446 + 12, in: &img)
        img[510] = 0x55
        img[511] = 0xAA
        var entries = [UInt8](repeating: 0, count: 128 * 128)
        let type: [UInt8] = [
            0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4,
        ]
        for i in 0..<16 {
            entries[i] = type[i]
            entries[16 + i] = UInt8(i + 1)
        }
        put(start, 32, in: &entries)
        put(start &+ count &- 1, 40, in: &entries)
        let entriesCRC = crc32(entries)
        func header(my: UInt64, alt: UInt64, entriesLBA: UInt64) -> [UInt8] {
            var h = [UInt8](repeating: 0, count: 92)
            for (i, c) in "EFI PART".utf8.enumerated() { h[i] = c }
            put(UInt32(0x0001_0000), 8, in: &h)
            put(UInt32(92), 12, in: &h)
            put(my, 24, in: &h)
            put(alt, 32, in: &h)
            put(UInt64(34), 40, in: &h)
            put(last - 33, 48, in: &h)
            for i in 0..<16 { h[56 + i] = UInt8(100 + i) }
            put(entriesLBA, 72, in: &h)
            put(UInt32(128), 80, in: &h)
            put(UInt32(128), 84, in: &h)
            put(entriesCRC, 88, in: &h)
            put(crc32(h), 16, in: &h)
            return h
        }
        img.replaceSubrange(512..<(512 + 92), with: header(my: 1, alt: last, entriesLBA: 2))
        img.replaceSubrange(1024..<(1024 + entries.count), with: entries)
        let backup = Int(last - 32) * 512
        img.replaceSubrange(backup..<(backup + entries.count), with: entries)
        img.replaceSubrange(
            Int(last) * 512..<(Int(last) * 512 + 92), with: header(my: last, alt: 1, entriesLBA: last - 32))
        try Data(img).write(to: URL(fileURLWithPath: path))
    }
}
