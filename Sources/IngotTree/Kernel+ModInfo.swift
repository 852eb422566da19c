// Reading a kernel module's `.modinfo` section (name, depends, softdep) straight from the ELF
// file, so the module closure works on Debian kernel packages, which ship no modules.dep
// (depmod runs at install time, which an image build never does).

import Foundation

public enum ModInfo {
    public enum Error: Swift.Error, CustomStringConvertible {
        case notELF(String)
        public var description: String {
            switch self {
            case .notELF(let path): return "\(path): not a 64-bit little-endian ELF kernel module"
            }
        }
    }

    static func u16(_ b: [UInt8], _ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
    static func u32(_ b: [UInt8], _ o: Int) -> Int { u16(b, o) | u16(b, o + 2) << 16 }
    static func u64(_ b: [UInt8], _ o: Int) -> Int { u32(b, o) | u32(b, o + 4) << 32 }

    /// The `.modinfo` key/value pairs of a module (keys may repeat, e.g. `alias`).
    /// - Parameter read: reads `count` bytes at `offset` of the module file.
    public static func fields(path: String, read: (Int64, Int) throws -> [UInt8]) throws -> [(String, String)] {
        let eh = try read(0, 64)
        guard eh.count == 64, eh[0] == 0x7F, eh[1] == 0x45, eh[2] == 0x4C, eh[3] == 0x46, eh[4] == 2, eh[5] == 1 else {
            throw Error.notELF(path)
        }
        let shoff = u64(eh, 0x28)
        let shentsize = u16(eh, 0x3A)
        let shnum = u16(eh, 0x3C)
        let shstrndx = u16(eh, 0x3E)
        guard shentsize >= 64, shnum > 0, shstrndx < shnum else { throw Error.notELF(path) }
        let sh = try read(Int64(shoff), shentsize * shnum)
        guard sh.count == shentsize * shnum else { throw Error.notELF(path) }
        func section(_ i: Int) -> (name: Int, offset: Int, size: Int) {
            let o = i * shentsize
            return (u32(sh, o), u64(sh, o + 0x18), u64(sh, o + 0x20))
        }
        let strtab = section(shstrndx)
        let names = try read(Int64(strtab.offset), strtab.size)
        for i in 0..<shnum {
            let s = section(i)
            guard s.name < names.count else { continue }
            let end = names[s.name...].firstIndex(of: 0) ?? names.count
            guard String(decoding: names[s.name..<end], as: UTF8.self) == ".modinfo" else { continue }
            let data = try read(Int64(s.offset), s.size)
            return data.split(separator: 0).compactMap { entry in
                guard let eq = entry.firstIndex(of: UInt8(ascii: "=")) else { return nil }
                return (
                    String(decoding: entry[entry.startIndex..<eq], as: UTF8.self),
                    String(decoding: entry[(eq + 1)...], as: UTF8.self)
                )
            }
        }
        return []
    }
}
