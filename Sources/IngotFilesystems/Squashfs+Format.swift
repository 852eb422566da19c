// Squashfs 4.0 on-disk constants, the public option/report/entry types and the little-endian byte
// helpers shared by the writer and the reader. Layout follows the Linux kernel's squashfs_fs.h.

import Foundation

/// Compression used for every data block, fragment and metadata block of a squashfs image.
public enum SquashfsCompression: String, Sendable, CaseIterable {
    case gzip, zstd

    /// The superblock's compression id.
    var id: UInt16 {
        switch self {
        case .gzip: return 1
        case .zstd: return 6
        }
    }

    /// The level used when `SquashfsOptions.level` is nil.
    var defaultLevel: Int {
        switch self {
        case .gzip: return 9
        case .zstd: return 3
        }
    }
}

/// How `SquashfsWriter` lays out an image.
public struct SquashfsOptions: Sendable {
    /// Compressor for data and metadata.
    public var compression: SquashfsCompression = .zstd
    /// Compression level; nil means the compressor's default (zstd 3, gzip 9).
    public var level: Int?
    /// Data block size: a power of two between 4 KiB and 1 MiB.
    public var blockSize: Int = 131072
    /// The superblock's creation time (SOURCE_DATE_EPOCH), never the host clock.
    public var modificationTime: UInt32
    /// Whether extended attributes of the tree are stored.
    public var xattrs: Bool = true
    /// Worker threads compressing data blocks; nil means one per active processor.
    public var workers: Int?
    /// Files with identical content share their data blocks (as mksquashfs does by default).
    public var duplicates: Bool = true

    /// - Parameters:
    ///   - compression: compressor for data and metadata.
    ///   - level: compression level, nil for the compressor's default.
    ///   - blockSize: data block size (power of two, 4 KiB ... 1 MiB).
    ///   - modificationTime: superblock time, normally SOURCE_DATE_EPOCH.
    ///   - xattrs: store extended attributes.
    ///   - workers: compression threads, nil for one per processor.
    ///   - duplicates: share data blocks between files with identical content.
    public init(
        compression: SquashfsCompression = .zstd, level: Int? = nil, blockSize: Int = 131072,
        modificationTime: UInt32 = 0, xattrs: Bool = true, workers: Int? = nil, duplicates: Bool = true
    ) {
        self.duplicates = duplicates
        self.compression = compression
        self.level = level
        self.blockSize = blockSize
        self.modificationTime = modificationTime
        self.xattrs = xattrs
        self.workers = workers
    }
}

/// What a squashfs write produced.
public struct SquashfsReport: Sendable, Equatable {
    /// Bytes of the range used, padded to 4 KiB.
    public var bytesUsed: Int64
    /// Number of inodes (hard links count once).
    public var inodes: Int
    /// Full data blocks stored (sparse all-zero blocks included).
    public var dataBlocks: Int
    /// Fragment blocks holding packed file tails and small files.
    public var fragments: Int
}

/// One path of a squashfs image as read back by `SquashfsReader`.
public struct SquashfsEntry: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case directory, file, symlink, characterDevice, blockDevice, fifo, socket
    }
    public var kind: Kind
    /// Permission bits (`0o7777` mask).
    public var permissions: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var mtime: UInt32
    /// File size for regular files, target length for symlinks, listing size + 3 for directories.
    public var size: Int64
    /// Symlink target.
    public var linkTarget: String?
    /// Device major/minor for character and block devices.
    public var rdev: (major: UInt32, minor: UInt32)? {
        get { rdevPair.map { ($0[0], $0[1]) } }
        set { rdevPair = newValue.map { [$0.major, $0.minor] } }
    }
    var rdevPair: [UInt32]?
    /// Hard link count stored in the inode.
    public var nlink: UInt32
    /// Inode number (equal for hard links).
    public var inodeNumber: UInt32
    /// Extended attributes by full name.
    public var xattrs: [String: [UInt8]]

    /// Full `st_mode` (type bits | permissions).
    public var mode: UInt32 {
        let type: UInt32
        switch kind {
        case .directory: type = 0o040000
        case .file: type = 0o100000
        case .symlink: type = 0o120000
        case .characterDevice: type = 0o020000
        case .blockDevice: type = 0o060000
        case .fifo: type = 0o010000
        case .socket: type = 0o140000
        }
        return type | permissions
    }
}

/// On-disk constants of squashfs 4.0.
enum SquashfsFormat {
    static let magic: UInt32 = 0x7371_7368
    static let superblockSize = 96
    static let metadataSize = 8192
    static let invalidBlock: UInt64 = 0xFFFF_FFFF_FFFF_FFFF
    static let invalidIndex: UInt32 = 0xFFFF_FFFF
    static let metadataUncompressed: UInt16 = 0x8000
    static let dataUncompressed: UInt32 = 1 << 24

    // Superblock flags.
    static let flagAlwaysFragments: UInt16 = 0x0020
    static let flagDuplicates: UInt16 = 0x0040
    static let flagExportable: UInt16 = 0x0080
    static let flagNoXattrs: UInt16 = 0x0200

    // Inode types: basic 1...7, extended 8...14 (basic + 7).
    enum InodeType: UInt16 {
        case directory = 1, file, symlink, blockDevice, characterDevice, fifo, socket
        case extDirectory, extFile, extSymlink, extBlockDevice, extCharacterDevice, extFifo, extSocket

        var basic: InodeType { rawValue > 7 ? InodeType(rawValue: rawValue - 7) ?? self : self }
    }

    /// The kernel's `new_encode_dev` for the 32-bit rdev field.
    static func encodeDevice(major: UInt32, minor: UInt32) -> UInt32? {
        guard major <= 0xFFF, minor <= 0xFFFFF else { return nil }
        return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)
    }

    static func decodeDevice(_ dev: UInt32) -> (major: UInt32, minor: UInt32) {
        ((dev & 0xFFF00) >> 8, (dev & 0xFF) | ((dev >> 12) & 0xFFF00))
    }

    /// xattr name prefixes squashfs can store, by type id.
    static let xattrPrefixes: [(prefix: String, type: UInt16)] = [
        ("user.", 0), ("trusted.", 1), ("security.", 2),
    ]
}

/// Appends little-endian integers to a byte array.
struct LEWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
    }
    mutating func u32(_ v: UInt32) {
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
    }
    mutating func u64(_ v: UInt64) {
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }
    mutating func i16(_ v: Int16) { u16(UInt16(bitPattern: v)) }
    mutating func append(_ b: [UInt8]) { bytes.append(contentsOf: b) }
}

/// Reads little-endian integers from a byte array, throwing instead of trapping on short input.
struct LEReader {
    let bytes: [UInt8]
    var position: Int
    let what: String

    init(_ bytes: [UInt8], at position: Int = 0, what: String) {
        self.bytes = bytes
        self.position = position
        self.what = what
    }

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, position + n <= bytes.count else {
            throw SquashfsReader.Error.corrupt("\(what): truncated at byte \(position) (need \(n) more)")
        }
        defer { position += n }
        return bytes[position..<(position + n)]
    }
    mutating func u16() throws -> UInt16 {
        let s = try take(2)
        return UInt16(s[s.startIndex]) | UInt16(s[s.startIndex + 1]) << 8
    }
    mutating func u32() throws -> UInt32 {
        let s = try take(4)
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(s[s.startIndex + i]) << (8 * UInt32(i)) }
        return v
    }
    mutating func u64() throws -> UInt64 {
        let s = try take(8)
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(s[s.startIndex + i]) << (8 * UInt64(i)) }
        return v
    }
    mutating func i16() throws -> Int16 { Int16(bitPattern: try u16()) }
}

/// The 96-byte squashfs superblock.
struct SquashfsSuperblock: Equatable {
    var inodeCount: UInt32 = 0
    var modificationTime: UInt32 = 0
    var blockSize: UInt32 = 131072
    var fragmentCount: UInt32 = 0
    var compressionID: UInt16 = 6
    var blockLog: UInt16 = 17
    var flags: UInt16 = 0
    var idCount: UInt16 = 0
    var versionMajor: UInt16 = 4
    var versionMinor: UInt16 = 0
    var rootInode: UInt64 = 0
    var bytesUsed: UInt64 = 0
    var idTableStart: UInt64 = 0
    var xattrIDTableStart: UInt64 = SquashfsFormat.invalidBlock
    var inodeTableStart: UInt64 = 0
    var directoryTableStart: UInt64 = 0
    var fragmentTableStart: UInt64 = 0
    var exportTableStart: UInt64 = SquashfsFormat.invalidBlock

    func encoded() -> [UInt8] {
        var w = LEWriter()
        w.u32(SquashfsFormat.magic)
        w.u32(inodeCount)
        w.u32(modificationTime)
        w.u32(blockSize)
        w.u32(fragmentCount)
        w.u16(compressionID)
        w.u16(blockLog)
        w.u16(flags)
        w.u16(idCount)
        w.u16(versionMajor)
        w.u16(versionMinor)
        for v in [
            rootInode, bytesUsed, idTableStart, xattrIDTableStart, inodeTableStart, directoryTableStart,
            fragmentTableStart, exportTableStart,
        ] { w.u64(v) }
        return w.bytes
    }

    init() {}

    init(decoding bytes: [UInt8], what: String) throws {
        var r = LEReader(bytes, what: what)
        guard try r.u32() == SquashfsFormat.magic else {
            throw SquashfsReader.Error.corrupt("\(what): no squashfs magic 'hsqs' at the start")
        }
        inodeCount = try r.u32()
        modificationTime = try r.u32()
        blockSize = try r.u32()
        fragmentCount = try r.u32()
        compressionID = try r.u16()
        blockLog = try r.u16()
        flags = try r.u16()
        idCount = try r.u16()
        versionMajor = try r.u16()
        versionMinor = try r.u16()
        rootInode = try r.u64()
        bytesUsed = try r.u64()
        idTableStart = try r.u64()
        xattrIDTableStart = try r.u64()
        inodeTableStart = try r.u64()
        directoryTableStart = try r.u64()
        fragmentTableStart = try r.u64()
        exportTableStart = try r.u64()
        guard versionMajor == 4, versionMinor == 0 else {
            throw SquashfsReader.Error.corrupt(
                "\(what): squashfs \(versionMajor).\(versionMinor), only 4.0 is supported")
        }
    }
}
