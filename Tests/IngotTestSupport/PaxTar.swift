// Tar archives written byte by byte, for inputs no tar tool writes: a regular file carrying PAX
// records such as an owner past 32 bits or an over-long path (the hostile-input tests of issue 12,
// in IngotTreeTests and IngotCommandsTests).

import Foundation

/// A ustar/PAX writer for one regular file with the PAX records a test asks for.
public enum PaxTar {
    /// One ustar header block with `typeflag`, checksummed.
    public static func header(name: String, mode: UInt32, size: Int, typeflag: UInt8) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, _ at: Int) { for (i, c) in text.utf8.enumerated() { h[at + i] = c } }
        put(String(name.prefix(99)), 0)
        put(String(format: "%07o", mode), 100)
        put("0000000", 108)
        put("0000000", 116)
        put(String(format: "%011o", size), 124)
        put(String(format: "%011o", 1_700_000_000), 136)
        h[156] = typeflag
        put("ustar", 257)
        put("00", 263)
        for i in 148..<156 { h[i] = 0x20 }
        let sum = h.reduce(0) { $0 + Int($1) }
        put(String(format: "%06o", sum), 148)
        h[154] = 0
        h[155] = 0x20
        return h
    }

    public static func padded(_ data: [UInt8]) -> [UInt8] {
        data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
    }

    /// A PAX record "LEN key=value\n" (LEN counts itself).
    public static func record(_ key: String, _ value: String) -> String {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while "\(length)".utf8.count + body.utf8.count != length { length += 1 }
        return "\(length)\(body)"
    }

    /// A tar with one regular file carrying PAX `records` (uid=..., path=...).
    public static func file(_ path: String, name: String, mode: UInt32, data: [UInt8], pax records: [(String, String)])
        throws
    {
        let pax = Array(records.map { record($0.0, $0.1) }.joined().utf8)
        var out = header(name: "PaxHeaders/x", mode: 0o644, size: pax.count, typeflag: UInt8(ascii: "x")) + padded(pax)
        out += header(name: name, mode: mode, size: data.count, typeflag: UInt8(ascii: "0")) + padded(data)
        out += [UInt8](repeating: 0, count: 1024)
        try Data(out).write(to: URL(fileURLWithPath: path))
    }
}
