// The value types of a disk layout: what a board/spec asks for (`PartitionPlan`, `SizeSpec`,
// `LayoutConstraints`) and what the planner resolves it to (`DiskLayout`, `ResolvedPartition`).
// A `DiskLayout` is a plain value: it prints for `--dry-run` and is tested without writing a byte.

import Foundation
import IngotFilesystems

/// The kind of partition table to write.
public enum TableKind: String, Sendable, Codable, CaseIterable {
    /// A DOS/MBR table with up to four primary partitions.
    case mbr
    /// A GUID partition table with a protective MBR.
    case gpt
    /// A GUID partition table whose MBR also lists up to three partitions (for firmware that
    /// only reads MBR, e.g. BIOS + EFI on one stick).
    case hybrid
}

/// What a partition is for; the lead maps board profiles onto these roles.
public enum PartitionRole: String, Sendable, Codable, CaseIterable {
    case boot, esp
    case rootA = "root-a"
    case rootB = "root-b"
    case data, firmware, other
}

/// How big a partition should be.
public enum SizeSpec: Sendable, Equatable {
    /// Exactly this many bytes (rounded up to the alignment).
    case fixed(Int64)
    /// Large enough for its content plus `headroomPercent`, and at least `minimum` bytes.
    case content(minimum: Int64, headroomPercent: Int)
    /// The rest of the disk; only the last partition may fill.
    case fill
}

/// One requested partition, before offsets are known.
public struct PartitionPlan: Sendable {
    /// Unique name in the layout (`boot`, `root-a`, ...); also the seed for its UUID and the GPT
    /// partition name when `label` is nil.
    public var name: String
    public var role: PartitionRole
    /// A partition type name from `PartitionType.known` (`fat32-lba`, `esp`, `linux-data`, ...),
    /// or a raw `0xNN` MBR code, or a GPT type GUID.
    public var type: String
    public var size: SizeSpec
    /// The MBR active flag (ignored by GPT; on hybrid it marks the MBR entry).
    public var bootable: Bool
    /// The label: written as the GPT partition name (PARTLABEL); filesystem writers should use
    /// the same string as the filesystem label.
    public var label: String?

    public init(
        name: String, role: PartitionRole, type: String, size: SizeSpec, bootable: Bool = false,
        label: String? = nil
    ) {
        self.name = name
        self.role = role
        self.type = type
        self.size = size
        self.bootable = bootable
        self.label = label
    }
}

/// Rules a board imposes on any layout written for it.
public struct LayoutConstraints: Sendable {
    /// The table the board's firmware can read, if it only reads one kind.
    public var requireTable: TableKind?
    /// The role the first partition must have (RPi: `.boot`).
    public var firstPartitionRole: PartitionRole?
    /// Types the first partition may have (RPi: `["fat32-lba", "fat16"]`).
    public var allowedFirstTypes: [String]?
    /// Types no partition may have (RPi: `["esp"]`).
    public var forbidTypes: [String]
    /// Whether an EFI system partition must exist (EFI boards).
    public var requireESP: Bool
    /// The board's name, used in error messages.
    public var boardName: String

    public init(
        requireTable: TableKind? = nil, firstPartitionRole: PartitionRole? = nil,
        allowedFirstTypes: [String]? = nil, forbidTypes: [String] = [], requireESP: Bool = false,
        boardName: String
    ) {
        self.requireTable = requireTable
        self.firstPartitionRole = firstPartitionRole
        self.allowedFirstTypes = allowedFirstTypes
        self.forbidTypes = forbidTypes
        self.requireESP = requireESP
        self.boardName = boardName
    }

    /// No constraints at all (tests, generic images).
    public static func none(boardName: String = "generic") -> LayoutConstraints {
        LayoutConstraints(boardName: boardName)
    }
}

/// A partition with its final place on the disk and every identifier it will carry.
public struct ResolvedPartition: Sendable, Equatable {
    /// 1-based partition number (as Linux names it: sda1, mmcblk0p1).
    public var number: Int
    public var name: String
    public var role: PartitionRole
    /// Absolute byte range on the disk.
    public var range: ByteRange
    /// The type name from the plan.
    public var typeName: String
    /// MBR type byte, if the type has one.
    public var mbrType: UInt8?
    /// GPT type GUID (upper case), if the type has one.
    public var gptType: String?
    /// GPT PARTUUID (upper case), or for MBR the `xxxxxxxx-NN` form Linux shows as PARTUUID.
    public var uuid: String
    public var bootable: Bool
    public var label: String?

    public init(
        number: Int, name: String, role: PartitionRole, range: ByteRange, typeName: String,
        mbrType: UInt8?, gptType: String?, uuid: String, bootable: Bool, label: String?
    ) {
        self.number = number
        self.name = name
        self.role = role
        self.range = range
        self.typeName = typeName
        self.mbrType = mbrType
        self.gptType = gptType
        self.uuid = uuid
        self.bootable = bootable
        self.label = label
    }
}

/// The resolved plan: every partition's absolute offset and size, type code, UUID and label.
public struct DiskLayout: Sendable, Equatable, CustomStringConvertible {
    public var table: TableKind
    /// Total image size in bytes (a multiple of 512).
    public var diskSize: Int64
    /// GPT disk GUID (upper case) or MBR disk signature as `0xxxxxxxxx`.
    public var diskID: String
    /// MBR disk signature used for `.mbr` and for the MBR half of `.hybrid` (`0xxxxxxxxx`).
    public var mbrDiskID: String
    public var partitions: [ResolvedPartition]

    public init(
        table: TableKind, diskSize: Int64, diskID: String, mbrDiskID: String,
        partitions: [ResolvedPartition]
    ) {
        self.table = table
        self.diskSize = diskSize
        self.diskID = diskID
        self.mbrDiskID = mbrDiskID
        self.partitions = partitions
    }

    /// The partition with this name, if any.
    public func partition(named name: String) -> ResolvedPartition? {
        partitions.first { $0.name == name }
    }

    /// The first partition with this role, if any.
    public func partition(role: PartitionRole) -> ResolvedPartition? {
        partitions.first { $0.role == role }
    }

    /// A human-readable table, one line per partition (used by `--dry-run`).
    public var description: String {
        var lines = ["\(table.rawValue) disk \(diskID), \(diskSize) bytes (\(Self.human(diskSize)))"]
        lines.append("  #  name          role      start(B)      size(B)       type                     uuid")
        for p in partitions {
            let code = p.gptType ?? p.mbrType.map { String(format: "0x%02x", $0) } ?? "-"
            let type = "\(p.typeName) (\(code))"
            lines.append(
                "  \(p.number)  \(Self.pad(p.name, 13)) \(Self.pad(p.role.rawValue, 9)) "
                    + "\(Self.pad(String(p.range.offset), 13)) \(Self.pad(String(p.range.size), 13)) "
                    + "\(Self.pad(type, 24)) \(p.uuid)"
                    + (p.bootable ? " *boot" : "") + (p.label.map { " label=\($0)" } ?? ""))
        }
        return lines.joined(separator: "\n")
    }

    static func pad(_ s: String, _ n: Int) -> String {
        s.count >= n ? s : s + String(repeating: " ", count: n - s.count)
    }

    /// A size in binary units for messages ("1.5 GiB").
    public static func human(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(bytes)
        var i = 0
        while v >= 1024, i < units.count - 1 {
            v /= 1024
            i += 1
        }
        return i == 0 ? "\(bytes) B" : String(format: "%.1f", v) + " " + units[i]
    }
}
