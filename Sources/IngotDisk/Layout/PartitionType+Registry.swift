// Partition types by name: each resolves to an MBR type byte and/or a GPT type GUID. Raw `0xNN`
// codes and GPT GUIDs are accepted too, so a board profile can name a type we do not list.

import Foundation

/// A partition type, named the way board profiles and specs name it.
public enum PartitionType: Sendable, Equatable {
    case named(String)

    public enum Error: Swift.Error, CustomStringConvertible {
        case unknown(String, partition: String?)

        public var description: String {
            switch self {
            case .unknown(let name, let partition):
                let known = PartitionType.known.map(\.name).joined(separator: ", ")
                let whose = partition.map { "partition '\($0)': " } ?? ""
                return "\(whose)unknown partition type '\(name)'; use one of \(known), "
                    + "a raw MBR code like 0x83, or a GPT type GUID"
            }
        }
    }

    /// One row of the registry.
    public struct Code: Sendable, Equatable {
        public var name: String
        public var mbr: UInt8?
        public var gpt: String?
    }

    static let basicData = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
    static let linuxData = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"

    /// Every named type, in the order error messages list them.
    public static let known: [Code] = [
        Code(name: "fat32-lba", mbr: 0x0c, gpt: basicData),
        Code(name: "fat32", mbr: 0x0b, gpt: basicData),
        Code(name: "fat16", mbr: 0x0e, gpt: basicData),
        Code(name: "fat12", mbr: 0x01, gpt: basicData),
        Code(name: "esp", mbr: 0xef, gpt: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
        Code(name: "xbootldr", mbr: 0xea, gpt: "BC13C2FF-59E6-4262-A352-B275FD6F7172"),
        Code(name: "bios-boot", mbr: nil, gpt: "21686148-6449-6E6F-744E-656564454649"),
        Code(name: "linux", mbr: 0x83, gpt: linuxData),
        Code(name: "linux-data", mbr: 0x83, gpt: linuxData),
        Code(name: "linux-root-x86-64", mbr: 0x83, gpt: "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"),
        Code(name: "linux-root-x86", mbr: 0x83, gpt: "44479540-F297-41B2-9AF7-D131D5F0458A"),
        Code(name: "linux-root-arm64", mbr: 0x83, gpt: "B921B045-1DF0-41C3-AF44-4C6F280D3FAE"),
        Code(name: "linux-root-arm", mbr: 0x83, gpt: "69DAD710-2CE4-4E3C-B16C-21A1D49ABED3"),
        Code(name: "linux-swap", mbr: 0x82, gpt: "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"),
        Code(name: "linux-home", mbr: 0x83, gpt: "933AC7E1-2EB4-4F13-B844-0E14E2AEF915"),
        Code(name: "linux-var", mbr: 0x83, gpt: "4D21B016-B534-45C2-A9FB-5C16E091FD2D"),
    ]

    /// The name this type was given.
    public var name: String {
        switch self {
        case .named(let n): return n
        }
    }

    /// Resolves the name to its codes.
    /// - Parameter partition: named in the error when the type is unknown.
    public func resolve(partition: String? = nil) throws -> Code {
        let raw = name.trimmingCharacters(in: .whitespaces)
        if let code = Self.known.first(where: { $0.name == raw.lowercased() }) { return code }
        if raw.lowercased().hasPrefix("0x"), raw.count <= 4, let byte = UInt8(raw.dropFirst(2), radix: 16) {
            // Raw MBR code: borrow the GPT GUID of a named type with the same byte, if one exists.
            let twin = Self.known.first { $0.mbr == byte }
            return Code(name: raw.lowercased(), mbr: byte, gpt: twin?.gpt)
        }
        if let guid = UUID(uuidString: raw) {
            let upper = guid.uuidString.uppercased()
            let twin = Self.known.first { $0.gpt == upper }
            return Code(name: raw, mbr: twin?.mbr, gpt: upper)
        }
        throw Error.unknown(name, partition: partition)
    }

    /// Whether two type names denote the same codes (`esp` and `0xef` do on MBR).
    static func same(_ a: String, _ b: String) -> Bool {
        guard let ca = try? PartitionType.named(a).resolve(), let cb = try? PartitionType.named(b).resolve()
        else { return a == b }
        return ca.name == cb.name || (ca.mbr == cb.mbr && ca.gpt == cb.gpt)
    }
}
