// Public value types of the FAT writer and reader: the FAT flavour, the options a build passes
// in, the report a write hands back and the entries the reader lists.

import Foundation

/// The FAT flavour: width of one allocation-table entry.
public enum FATType: String, Sendable, CustomStringConvertible {
    case fat12, fat16, fat32

    /// Bits per allocation-table entry.
    var bits: Int {
        switch self {
        case .fat12: return 12
        case .fat16: return 16
        case .fat32: return 32
        }
    }

    /// Allowed data-cluster counts (kept a few clusters inside the limits, as mkfs.fat does, so
    /// every driver classifies the volume the same way).
    var clusterRange: ClosedRange<Int> {
        switch self {
        case .fat12: return 1...4084
        case .fat16: return 4087...65524
        case .fat32: return 65529...0x0FFF_FFF5
        }
    }

    /// End-of-chain marker written for the last cluster of a chain.
    var endOfChain: UInt32 {
        switch self {
        case .fat12: return 0xFFF
        case .fat16: return 0xFFFF
        case .fat32: return 0x0FFF_FFFF
        }
    }

    public var description: String { rawValue.uppercased() }
}

/// How `FATWriter` lays out a volume.
public struct FATOptions: Sendable {
    /// FAT flavour; nil chooses by size like mkfs.fat (FAT32 from ~520 MB, else FAT12 when the
    /// volume has few enough clusters, else FAT16). Raspberry Pi firmware reads only FAT16 and
    /// FAT32, and the UEFI spec asks for FAT32 on ESPs: boards should pass `.fat32` there.
    public var type: FATType?
    /// Volume label, up to 11 characters; stored uppercased. "NO NAME" means no label.
    public var volumeLabel: String
    /// Volume serial number (deterministic, derived by the caller from a seed).
    public var volumeID: UInt32
    /// Sectors (of 512 bytes) per cluster, a power of two 1...128; nil chooses.
    public var sectorsPerCluster: Int?
    /// Seconds since the epoch used for entries whose tree mtime is 0 (SOURCE_DATE_EPOCH).
    /// DOS dates are clamped to 1980-01-01...2107-12-31.
    public var timestamp: Int64
    /// Sectors before the volume on its disk (BPB "hidden sectors", read by BIOS boot code such
    /// as syslinux). nil: the range's offset in the image divided by 512.
    public var hiddenSectors: UInt32?

    /// - Parameters:
    ///   - type: FAT flavour, nil to choose by size.
    ///   - volumeLabel: up to 11 characters, "NO NAME" for none.
    ///   - volumeID: volume serial number.
    ///   - sectorsPerCluster: cluster size in 512-byte sectors, nil to choose.
    ///   - timestamp: SOURCE_DATE_EPOCH for entries with mtime 0.
    ///   - hiddenSectors: BPB hidden sectors, nil for the range offset / 512.
    public init(
        type: FATType? = nil, volumeLabel: String = "NO NAME", volumeID: UInt32 = 0,
        sectorsPerCluster: Int? = nil, timestamp: Int64 = 315_532_800, hiddenSectors: UInt32? = nil
    ) {
        self.type = type
        self.volumeLabel = volumeLabel
        self.volumeID = volumeID
        self.sectorsPerCluster = sectorsPerCluster
        self.timestamp = timestamp
        self.hiddenSectors = hiddenSectors
    }
}

/// What a write produced.
public struct FATReport: Sendable, Equatable {
    /// The FAT flavour written.
    public var type: FATType
    /// Bytes per cluster.
    public var clusterSize: Int
    /// Data clusters of the volume.
    public var clusters: Int
    /// Data clusters holding directories and file content.
    public var usedClusters: Int
}

/// One file or directory found by `FATReader`.
public struct FATEntry: Sendable, Equatable {
    /// Absolute path with long names restored, e.g. "/EFI/BOOT/BOOTX64.EFI".
    public var path: String
    /// The 8.3 name as stored ("BOOTX64.EFI", "LONGFI~1.TXT").
    public var shortName: String
    /// Whether the entry is a directory.
    public var isDirectory: Bool
    /// File size in bytes (0 for directories).
    public var size: Int64
    /// First data cluster (0 for empty files).
    public var firstCluster: UInt32
    /// DOS attribute byte (0x10 directory, 0x20 archive, 0x01 read-only, ...).
    public var attributes: UInt8
    /// Modification time in seconds since the epoch (UTC, 2-second resolution).
    public var mtime: Int64
}
