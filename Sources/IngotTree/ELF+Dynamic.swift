// What a dynamically linked ELF program needs to run: its interpreter (PT_INTERP) and the shared
// libraries it names (DT_NEEDED), read straight from the file, so stage 1 can carry a Debian
// binary for the target architecture with exactly its library closure.

import Foundation

/// The dynamic-linking facts of one 64-bit little-endian ELF file.
public struct ELFDynamic: Sendable, Equatable {
    /// Why a file could not be read as an ELF object.
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case notELF(String)
        case truncated(String)

        public var description: String {
            switch self {
            case .notELF(let path): return "\(path): not a 64-bit little-endian ELF file"
            case .truncated(let path): return "\(path): the ELF headers point past the end of the file"
            }
        }
    }

    /// The program interpreter (`/lib64/ld-linux-x86-64.so.2`), nil for libraries and static programs.
    public var interpreter: String?
    /// The sonames it needs, in order (`libc.so.6`).
    public var needed: [String]
    /// The ELF machine (`e_machine`: 62 x86-64, 183 AArch64).
    public var machine: Int

    /// Reads `bytes` (a whole ELF file).
    /// - Parameter path: the file's name, for errors.
    public init(bytes: [UInt8], path: String) throws {
        guard bytes.count >= 64, bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46, bytes[4] == 2,
            bytes[5] == 1
        else { throw Error.notELF(path) }
        func u16(_ o: Int) throws -> Int {
            guard o >= 0, o + 2 <= bytes.count else { throw Error.truncated(path) }
            return Int(bytes[o]) | Int(bytes[o + 1]) << 8
        }
        func u32(_ o: Int) throws -> Int { try u16(o) | (try u16(o + 2)) << 16 }
        func u64(_ o: Int) throws -> Int { try u32(o) | (try u32(o + 4)) << 32 }
        func cString(_ o: Int) throws -> String {
            guard o >= 0, o < bytes.count else { throw Error.truncated(path) }
            let end = bytes[o...].firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[o..<end], as: UTF8.self)
        }
        machine = try u16(0x12)

        let phoff = try u64(0x20), phentsize = try u16(0x36), phnum = try u16(0x38)
        var interpreter: String?
        for index in 0..<phnum {
            let header = phoff + index * phentsize
            if try u32(header) == 3 {  // PT_INTERP
                interpreter = try cString(try u64(header + 0x08))
            }
        }
        self.interpreter = interpreter

        let shoff = try u64(0x28), shentsize = try u16(0x3A), shnum = try u16(0x3C)
        var needed: [String] = []
        for index in 0..<shnum {
            let section = shoff + index * shentsize
            guard try u32(section + 0x04) == 6 else { continue }  // SHT_DYNAMIC
            let offset = try u64(section + 0x18), size = try u64(section + 0x20)
            let link = try u32(section + 0x28)
            let strings = try u64(shoff + link * shentsize + 0x18)
            var entry = offset
            while entry + 16 <= offset + size {
                let tag = try u64(entry)
                if tag == 0 { break }
                if tag == 1 { needed.append(try cString(strings + (try u64(entry + 8)))) }  // DT_NEEDED
                entry += 16
            }
        }
        self.needed = needed
    }
}
