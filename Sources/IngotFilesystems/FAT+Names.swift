// FAT names and times: 8.3 short names with unique `~N` tails, VFAT long-name (LFN) entries with
// their checksum, and DOS date/time encoding. Pure functions, shared by the writer and reader.

import Foundation

enum FATNames {
    /// Characters a long name may not contain (besides control characters).
    static let invalidLong: Set<Character> = ["\"", "*", "/", ":", "<", ">", "?", "\\", "|"]
    /// ASCII characters allowed in a short name besides A-Z and 0-9.
    static let shortSpecials: Set<UInt8> = Set("$%'-_@~`!(){}^#&".utf8)

    /// Why a name cannot be stored, or nil when it can.
    static func longNameProblem(_ name: String) -> String? {
        if name.isEmpty || name == "." || name == ".." { return "the name is empty or a dot entry" }
        if let c = name.first(where: { invalidLong.contains($0) || ($0.asciiValue.map { $0 < 0x20 } ?? false) }) {
            return "the character \(c.debugDescription) is not allowed in FAT names"
        }
        if name.hasSuffix(".") || name.hasSuffix(" ") {
            return "FAT names cannot end with a dot or a space"
        }
        if name.utf16.count > 255 { return "the name is longer than 255 UTF-16 units" }
        return nil
    }

    /// The 11-byte short name when `name` is already a valid upper-case 8.3 name, else nil.
    static func exactShortName(_ name: String) -> [UInt8]? {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 12, bytes.first != UInt8(ascii: ".") else { return nil }
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return nil }
        let base = Array(parts[0])
        let ext = parts.count == 2 ? Array(parts[1]) : []
        guard (1...8).contains(base.count), ext.count <= 3, parts.count == 1 || !ext.isEmpty else { return nil }
        guard (base + ext).allSatisfy(isShortChar) else { return nil }
        return pad(base, 8) + pad(ext, 3)
    }

    static func isShortChar(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) || shortSpecials.contains(b)
    }

    static func pad(_ b: [UInt8], _ n: Int) -> [UInt8] {
        Array(b.prefix(n)) + [UInt8](repeating: 0x20, count: max(0, n - b.count))
    }

    /// Maps a long name to an upper-case short-name basis (base up to 8, extension up to 3) and
    /// whether information was lost on the way (so a `~N` tail is required).
    static func basis(_ name: String) -> (base: [UInt8], ext: [UInt8], lossy: Bool) {
        var lossy = false
        func convert<S: Sequence>(_ chars: S) -> [UInt8] where S.Element == Character {
            var out: [UInt8] = []
            for ch in chars {
                if ch == " " || ch == "." {
                    lossy = true
                    continue
                }
                guard let a = ch.asciiValue else {
                    out.append(UInt8(ascii: "_"))
                    lossy = true
                    continue
                }
                var b = a
                if b >= 0x61 && b <= 0x7A { b -= 0x20 }
                if !isShortChar(b) {
                    b = UInt8(ascii: "_")
                    lossy = true
                }
                out.append(b)
            }
            return out
        }
        let chars = Array(name)
        var baseChars = chars[...]
        var extChars: ArraySlice<Character> = []
        if let dot = chars.lastIndex(of: "."), dot > 0 {
            baseChars = chars[..<dot]
            extChars = chars[(dot + 1)...]
        }
        if baseChars.first == "." { lossy = true }
        var base = convert(baseChars)
        var ext = convert(extChars)
        if base.count > 8 {
            base = Array(base.prefix(8))
            lossy = true
        }
        if ext.count > 3 {
            ext = Array(ext.prefix(3))
            lossy = true
        }
        if base.isEmpty {
            base = Array("_".utf8)
            lossy = true
        }
        return (base, ext, lossy)
    }

    /// Picks a unique short name for `name` in a directory whose taken names are `used`.
    /// Returns nil when no `~N` tail up to 999999 is free.
    /// `nextTail` remembers, per basis, where the search for a free tail resumes, so a directory
    /// of thousands of similar names stays linear.
    static func shortName(for name: String, used: Set<[UInt8]>, nextTail: inout [[UInt8]: Int]) -> [UInt8]? {
        let (base, ext, lossy) = basis(name)
        let plain = pad(base, 8) + pad(ext, 3)
        if !lossy && !used.contains(plain) { return plain }
        let start = nextTail[plain] ?? 1
        guard start <= 999_999 else { return nil }
        for n in start...999_999 {
            let tail = Array("~\(n)".utf8)
            let candidate = pad(Array(base.prefix(8 - tail.count)) + tail, 8) + pad(ext, 3)
            if !used.contains(candidate) {
                nextTail[plain] = n + 1
                return candidate
            }
        }
        return nil
    }

    static func shortName(for name: String, used: Set<[UInt8]>) -> [UInt8]? {
        var next: [[UInt8]: Int] = [:]
        return shortName(for: name, used: used, nextTail: &next)
    }

    /// The LFN checksum of an 11-byte short name.
    static func checksum(_ short: [UInt8]) -> UInt8 {
        var sum: UInt8 = 0
        for b in short { sum = ((sum & 1) << 7) &+ (sum >> 1) &+ b }
        return sum
    }

    /// Byte offsets of the 13 UTF-16 units inside one LFN entry.
    static let lfnOffsets: [Int] = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30]

    /// The LFN entries for `name` in on-disk order (highest ordinal first), 32 bytes each.
    static func lfnEntries(_ name: String, checksum sum: UInt8) -> [[UInt8]] {
        var units = Array(name.utf16)
        let count = (units.count + 12) / 13
        if units.count % 13 != 0 {
            units.append(0)
            while units.count % 13 != 0 { units.append(0xFFFF) }
        }
        var entries: [[UInt8]] = []
        for seq in stride(from: count, through: 1, by: -1) {
            var e = [UInt8](repeating: 0, count: 32)
            e[0] = UInt8(seq) | (seq == count ? 0x40 : 0)
            e[11] = 0x0F
            e[13] = sum
            for (i, off) in lfnOffsets.enumerated() {
                let u = units[(seq - 1) * 13 + i]
                e[off] = UInt8(u & 0xFF)
                e[off + 1] = UInt8(u >> 8)
            }
            entries.append(e)
        }
        return entries
    }

    /// "NAME    EXT" bytes → "NAME.EXT".
    static func display(_ short: [UInt8]) -> String {
        var s = short
        if s.first == 0x05 { s[0] = 0xE5 }
        let base = String(decoding: s.prefix(8), as: UTF8.self).replacingOccurrences(
            of: " +$", with: "", options: .regularExpression)
        let ext = String(decoding: s.dropFirst(8).prefix(3), as: UTF8.self).replacingOccurrences(
            of: " +$", with: "", options: .regularExpression)
        return ext.isEmpty ? base : base + "." + ext
    }

    /// Checks and pads a volume label (upper-cased, 11 bytes).
    static func label(_ label: String) -> [UInt8]? {
        let up = label.uppercased()
        let bytes = Array(up.utf8)
        guard !bytes.isEmpty, bytes.count <= 11, bytes.first != 0x20 else { return nil }
        guard bytes.allSatisfy({ isShortChar($0) || $0 == 0x20 }) else { return nil }
        return pad(bytes, 11)
    }
}

/// DOS date/time (UTC, 2-second resolution, 1980...2107).
enum DOSTime {
    static let minEpoch: Int64 = 315_532_800  // 1980-01-01 00:00:00 UTC
    static let maxEpoch: Int64 = 4_354_819_198  // 2107-12-31 23:59:58 UTC

    /// (time, date) words for seconds since the epoch, clamped to the DOS range.
    static func encode(_ epoch: Int64) -> (time: UInt16, date: UInt16) {
        let t = min(max(epoch, minEpoch), maxEpoch)
        let days = t / 86_400
        let secs = t % 86_400
        let (y, m, d) = civil(fromDays: days)
        let time = UInt16(secs / 3600) << 11 | UInt16((secs % 3600) / 60) << 5 | UInt16((secs % 60) / 2)
        let date = UInt16(y - 1980) << 9 | UInt16(m) << 5 | UInt16(d)
        return (time, date)
    }

    /// Seconds since the epoch for DOS (time, date) words.
    static func decode(time: UInt16, date: UInt16) -> Int64 {
        let y = Int64(date >> 9) + 1980
        let m = Int64((date >> 5) & 0xF)
        let d = Int64(date & 0x1F)
        let days = daysFromCivil(y, max(1, m), max(1, d))
        return days * 86_400 + Int64(time >> 11) * 3600 + Int64((time >> 5) & 0x3F) * 60 + Int64(time & 0x1F) * 2
    }

    // Howard Hinnant's civil-calendar algorithms (proleptic Gregorian, UTC).
    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
