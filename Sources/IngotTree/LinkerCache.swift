// /etc/ld.so.cache in glibc's current format ("glibc-ld.so.cache1.1"), written without running
// ldconfig (which would need the target's root): a 48-byte header, one 24-byte entry per library
// sorted the way ld.so's binary search expects (descending by `_dl_cache_libcmp`), then the
// string table. Also the ELF reader that finds a shared object's DT_SONAME.

import Foundation

/// A linker cache for one architecture.
public struct LinkerCache: Sendable, Equatable {
    public enum Arch: Sendable { case x86_64, aarch64 }

    public struct Library: Sendable, Equatable {
        /// The name programs ask for (DT_NEEDED), e.g. `libfoo.so.1`.
        public var soname: String
        /// Where it lives in the image.
        public var path: String
        public init(soname: String, path: String) {
            self.soname = soname
            self.path = path
        }
    }

    public var arch: Arch
    public var libraries: [Library]

    public init(arch: Arch, libraries: [Library]) {
        self.arch = arch
        self.libraries = libraries
    }

    /// FLAG_ELF_LIBC6 with the architecture's FLAG_*_LIB64.
    var entryFlags: Int32 {
        switch arch {
        case .x86_64: return 0x0303
        case .aarch64: return 0x0a03
        }
    }

    /// glibc's `_dl_cache_libcmp`: digit runs compare by value.
    public static func libcmp(_ a: String, _ b: String) -> Int {
        let p1 = Array(a.utf8) + [0]
        let p2 = Array(b.utf8) + [0]
        var i = 0
        var j = 0
        func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }
        while p1[i] != 0 {
            if isDigit(p1[i]) {
                guard isDigit(p2[j]) else { return 1 }
                var v1 = 0
                var v2 = 0
                while isDigit(p1[i]) {
                    v1 = v1 * 10 + Int(p1[i] - 48)
                    i += 1
                }
                while isDigit(p2[j]) {
                    v2 = v2 * 10 + Int(p2[j] - 48)
                    j += 1
                }
                if v1 != v2 { return v1 - v2 }
            } else if isDigit(p2[j]) {
                return -1
            } else if p1[i] != p2[j] {
                return Int(p1[i]) - Int(p2[j])
            } else {
                i += 1
                j += 1
            }
        }
        return Int(p1[i]) - Int(p2[j])
    }

    /// The cache file's bytes.
    public func bytes() -> [UInt8] {
        // One entry per soname: the first directory listed wins, as ldconfig's scan order does.
        var seen = Set<String>()
        var libs: [Library] = []
        for l in libraries where seen.insert(l.soname).inserted { libs.append(l) }
        libs.sort { Self.libcmp($0.soname, $1.soname) > 0 }

        let headerSize = 48
        let entrySize = 24
        let stringsStart = headerSize + entrySize * libs.count
        var strings: [UInt8] = []
        var offsets: [String: UInt32] = [:]
        func intern(_ s: String) -> UInt32 {
            if let o = offsets[s] { return o }
            let o = UInt32(stringsStart + strings.count)
            strings += Array(s.utf8) + [0]
            offsets[s] = o
            return o
        }
        var entries: [(UInt32, UInt32)] = []
        for l in libs { entries.append((intern(l.soname), intern(l.path))) }

        var out: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        out += Array("glibc-ld.so.cache".utf8) + Array("1.1".utf8)
        u32(UInt32(libs.count))
        u32(UInt32(strings.count))
        out += [2, 0, 0, 0]  // flags: little endian; padding
        u32(0)  // extension_offset: none
        u32(0)
        u32(0)
        u32(0)
        for (key, value) in entries {
            u32(UInt32(bitPattern: entryFlags))
            u32(key)
            u32(value)
            u32(0)  // osversion (unused)
            u64(0)  // hwcap
        }
        out += strings
        return out
    }
}

/// Reads DT_SONAME out of a 64-bit little-endian ELF shared object.
public enum ELFSharedObject {
    public enum Error: Swift.Error { case notSharedObject }

    /// The shared object's SONAME.
    /// - Parameter read: reads `count` bytes at `offset` of the file (shorter at its end).
    public static func soname(read: (Int64, Int) throws -> [UInt8]) throws -> String {
        let h = try read(0, 64)
        guard h.count == 64, h[0] == 0x7F, h[1] == 0x45, h[2] == 0x4C, h[3] == 0x46, h[4] == 2, h[5] == 1,
            ModInfo.u16(h, 0x10) == 3
        else { throw Error.notSharedObject }
        let phoff = ModInfo.u64(h, 0x20)
        let phentsize = ModInfo.u16(h, 0x36)
        let phnum = ModInfo.u16(h, 0x38)
        guard phentsize >= 56, phnum > 0, phnum < 256 else { throw Error.notSharedObject }
        let ph = try read(Int64(phoff), phentsize * phnum)
        guard ph.count == phentsize * phnum else { throw Error.notSharedObject }
        var loads: [(vaddr: Int, offset: Int, size: Int)] = []
        var dynamic: (offset: Int, size: Int)?
        for i in 0..<phnum {
            let b = i * phentsize
            let type = ModInfo.u32(ph, b)
            let offset = ModInfo.u64(ph, b + 8)
            let vaddr = ModInfo.u64(ph, b + 16)
            let filesz = ModInfo.u64(ph, b + 32)
            if type == 1 { loads.append((vaddr, offset, filesz)) }
            if type == 2 { dynamic = (offset, filesz) }
        }
        guard let dynamic, dynamic.size > 0, dynamic.size < 1 << 20 else { throw Error.notSharedObject }
        let dyn = try read(Int64(dynamic.offset), dynamic.size)
        var strtab: Int?
        var sonameOffset: Int?
        var k = 0
        while k + 16 <= dyn.count {
            let tag = ModInfo.u64(dyn, k)
            let val = ModInfo.u64(dyn, k + 8)
            if tag == 0 { break }
            if tag == 5 { strtab = val }
            if tag == 14 { sonameOffset = val }
            k += 16
        }
        guard let strtab, let sonameOffset else { throw Error.notSharedObject }
        guard let seg = loads.first(where: { strtab >= $0.vaddr && strtab < $0.vaddr + $0.size }) else {
            throw Error.notSharedObject
        }
        let fileOffset = strtab - seg.vaddr + seg.offset + sonameOffset
        let bytes = try read(Int64(fileOffset), 256)
        guard let end = bytes.firstIndex(of: 0), end > 0 else { throw Error.notSharedObject }
        return String(decoding: bytes[..<end], as: UTF8.self)
    }
}
