// SquashfsReader: an independent reader for squashfs 4.0 images (as written by SquashfsWriter or
// mksquashfs), used to verify images and by `inspect`. It decodes the metadata tables into memory
// and reads file data block by block.

import Foundation

/// Reads a squashfs 4.0 image from a byte range of an image file.
public struct SquashfsReader {
    public enum Error: Swift.Error, CustomStringConvertible {
        case corrupt(String)
        case unsupportedCompression(UInt16)
        case notFound(String)
        case notAFile(String)

        public var description: String {
            switch self {
            case .corrupt(let m): return "squashfs: \(m); the image is damaged or not squashfs 4.0"
            case .unsupportedCompression(let id):
                return "squashfs: compression id \(id) is not supported (only gzip=1 and zstd=6)"
            case .notFound(let p): return "\(p): no such path in the squashfs image"
            case .notAFile(let p): return "\(p): not a regular file in the squashfs image"
            }
        }
    }

    struct Inode {
        var entry: SquashfsEntry
        var xattrIndex = SquashfsFormat.invalidIndex
        var blocksStart: UInt64 = 0
        var blockSizes: [UInt32] = []
        var fragment = SquashfsFormat.invalidIndex
        var fragmentOffset: UInt32 = 0
        var listingBlock: UInt64 = 0
        var listingOffset = 0
    }

    /// A decoded metadata region: the uncompressed bytes and where each block starts in them.
    struct Region {
        var bytes: [UInt8] = []
        var blockMap: [UInt64: Int] = [:]
        func offset(block: UInt64, offset: Int, what: String) throws -> Int {
            guard let base = blockMap[block] else {
                throw Error.corrupt("\(what): no metadata block at \(block)")
            }
            return base + offset
        }
    }

    let image: ImageFile
    let range: ByteRange
    let superblock: SquashfsSuperblock
    let compressor: SquashfsCompressor
    private let inodes: Region
    private let directories: Region
    private let ids: [UInt32]
    let fragments: [(start: UInt64, size: UInt32)]
    private let xattrIDs: [(ref: UInt64, count: UInt32)]
    private let xattrData: Region

    /// Opens the squashfs at `range` of `image` and decodes its tables.
    public init(image: ImageFile, range: ByteRange) throws {
        self.image = image
        self.range = range
        let sb = try SquashfsSuperblock(
            decoding: try image.read(at: range.offset, count: SquashfsFormat.superblockSize),
            what: "\(image.path) at \(range.offset)")
        superblock = sb
        let compression: SquashfsCompression
        switch sb.compressionID {
        case 1: compression = .gzip
        case 6: compression = .zstd
        default: throw Error.unsupportedCompression(sb.compressionID)
        }
        compressor = SquashfsCompressor(compression, level: compression.defaultLevel)
        guard sb.bytesUsed <= UInt64(range.size), sb.blockSize == 1 << UInt32(sb.blockLog) else {
            throw Error.corrupt("superblock: bytes used \(sb.bytesUsed) or block size \(sb.blockSize) invalid")
        }

        let fragmentEntries = try Self.lookup(
            image: image, range: range, compressor: compressor, start: sb.fragmentTableStart,
            count: Int(sb.fragmentCount), entrySize: 16, what: "fragment table")
        let idEntries = try Self.lookup(
            image: image, range: range, compressor: compressor, start: sb.idTableStart, count: Int(sb.idCount),
            entrySize: 4, what: "id table")
        var fr = LEReader(fragmentEntries.bytes, what: "fragment table")
        var frags: [(UInt64, UInt32)] = []
        for _ in 0..<Int(sb.fragmentCount) {
            let start = try fr.u64()
            let size = try fr.u32()
            _ = try fr.u32()
            frags.append((start, size))
        }
        fragments = frags
        var ir = LEReader(idEntries.bytes, what: "id table")
        ids = try (0..<Int(sb.idCount)).map { _ in try ir.u32() }

        var xids: [(UInt64, UInt32)] = []
        var xdata = Region()
        if sb.xattrIDTableStart != SquashfsFormat.invalidBlock {
            var hr = LEReader(
                try image.read(at: range.offset + Int64(sb.xattrIDTableStart), count: 16), what: "xattr id table")
            let kvStart = try hr.u64()
            let count = Int(try hr.u32())
            let table = try Self.lookup(
                image: image, range: range, compressor: compressor, start: sb.xattrIDTableStart + 16, count: count,
                entrySize: 16, what: "xattr id table")
            var xr = LEReader(table.bytes, what: "xattr id table")
            for _ in 0..<count {
                let ref = try xr.u64()
                let n = try xr.u32()
                _ = try xr.u32()
                xids.append((ref, n))
            }
            xdata = try Self.region(
                image: image, range: range, compressor: compressor, from: kvStart, to: table.firstBlock ?? kvStart,
                what: "xattr data")
        }
        xattrIDs = xids
        xattrData = xdata

        inodes = try Self.region(
            image: image, range: range, compressor: compressor, from: sb.inodeTableStart, to: sb.directoryTableStart,
            what: "inode table")
        // The directory table ends where the next table's first metadata block starts.
        var exportFirst: UInt64?
        if sb.exportTableStart != SquashfsFormat.invalidBlock, sb.inodeCount > 0 {
            var er = LEReader(
                try image.read(at: range.offset + Int64(sb.exportTableStart), count: 8), what: "export table")
            exportFirst = try er.u64()
        }
        let dirEnd =
            [fragmentEntries.firstBlock, exportFirst, idEntries.firstBlock, sb.bytesUsed].compactMap { $0 }.filter {
                $0 >= sb.directoryTableStart
            }.min() ?? sb.bytesUsed
        directories = try Self.region(
            image: image, range: range, compressor: compressor, from: sb.directoryTableStart, to: dirEnd,
            what: "directory table")
    }

    // MARK: Public queries

    /// The image's compressor.
    public var compression: SquashfsCompression { compressor.compression }
    /// Data block size in bytes.
    public var blockSize: Int { Int(superblock.blockSize) }
    /// Number of inodes (hard links count once).
    public var inodeCount: Int { Int(superblock.inodeCount) }
    /// Bytes of the filesystem proper (before the 4 KiB padding).
    public var bytesUsed: Int64 { Int64(superblock.bytesUsed) }
    /// The superblock's creation time.
    public var modificationTime: UInt32 { superblock.modificationTime }

    /// Every path of the image ("/" included) with its metadata.
    public func list() throws -> [String: SquashfsEntry] {
        var out: [String: SquashfsEntry] = [:]
        let root = try inode(at: superblock.rootInode)
        out["/"] = root.entry
        try walk(root, path: "") { path, inode in out[path] = inode.entry }
        return out
    }

    /// The whole content of the regular file at `path`.
    public func read(_ path: String) throws -> [UInt8] {
        var current = try inode(at: superblock.rootInode)
        for component in path.split(separator: "/") where component != "." {
            guard current.entry.kind == .directory else { throw Error.notFound(path) }
            var found: Inode?
            try forEachChild(of: current) { name, child in
                if name == component { found = child }
            }
            guard let next = found else { throw Error.notFound(path) }
            current = next
        }
        guard current.entry.kind == .file else { throw Error.notAFile(path) }
        return try content(of: current, path: path)
    }

    // MARK: Walking

    private func walk(_ dir: Inode, path: String, _ body: (String, Inode) throws -> Void) throws {
        try forEachChild(of: dir) { name, child in
            let childPath = path + "/" + name
            try body(childPath, child)
            if child.entry.kind == .directory { try walk(child, path: childPath, body) }
        }
    }

    private func forEachChild(of dir: Inode, _ body: (String, Inode) throws -> Void) throws {
        let listingSize = Int(dir.entry.size) - 3
        guard listingSize > 0 else { return }
        let start = try directories.offset(block: dir.listingBlock, offset: dir.listingOffset, what: "directory")
        var r = LEReader(directories.bytes, at: start, what: "directory listing")
        while r.position < start + listingSize {
            let count = Int(try r.u32()) + 1
            let block = UInt64(try r.u32())
            let base = try r.u32()
            for _ in 0..<count {
                let offset = Int(try r.u16())
                let delta = try r.i16()
                _ = try r.u16()
                let nameSize = Int(try r.u16()) + 1
                let name = String(decoding: try r.take(nameSize), as: UTF8.self)
                let number = UInt32(truncatingIfNeeded: Int64(base) + Int64(delta))
                var child = try inode(at: (block << 16) | UInt64(offset))
                guard child.entry.inodeNumber == number else {
                    throw Error.corrupt(
                        "directory entry '\(name)': inode number \(number) != \(child.entry.inodeNumber)")
                }
                child.entry.xattrs = try xattrs(child.xattrIndex)
                try body(name, child)
            }
        }
    }

    // MARK: Inodes

    func inode(at ref: UInt64) throws -> Inode {
        let start = try inodes.offset(block: ref >> 16, offset: Int(ref & 0xFFFF), what: "inode \(ref)")
        var r = LEReader(inodes.bytes, at: start, what: "inode at \(ref >> 16):\(ref & 0xFFFF)")
        guard let type = SquashfsFormat.InodeType(rawValue: try r.u16()) else {
            throw Error.corrupt("inode at \(ref >> 16):\(ref & 0xFFFF): unknown type")
        }
        let permissions = UInt32(try r.u16())
        let uid = try id(Int(try r.u16()))
        let gid = try id(Int(try r.u16()))
        let mtime = try r.u32()
        let number = try r.u32()
        var e = SquashfsEntry(
            kind: .file, permissions: permissions, uid: uid, gid: gid, mtime: mtime, size: 0, linkTarget: nil,
            rdevPair: nil, nlink: 1, inodeNumber: number, xattrs: [:])
        var inode = Inode(entry: e)
        let blockCount = { (size: UInt64, fragment: UInt32) -> Int in
            let bs = UInt64(self.superblock.blockSize)
            return Int(fragment == SquashfsFormat.invalidIndex ? (size + bs - 1) / bs : size / bs)
        }
        switch type {
        case .directory:
            e.kind = .directory
            inode.listingBlock = UInt64(try r.u32())
            e.nlink = try r.u32()
            e.size = Int64(try r.u16())
            inode.listingOffset = Int(try r.u16())
            _ = try r.u32()
        case .extDirectory:
            e.kind = .directory
            e.nlink = try r.u32()
            e.size = Int64(try r.u32())
            inode.listingBlock = UInt64(try r.u32())
            _ = try r.u32()
            _ = try r.u16()
            inode.listingOffset = Int(try r.u16())
            inode.xattrIndex = try r.u32()
        case .file:
            inode.blocksStart = UInt64(try r.u32())
            inode.fragment = try r.u32()
            inode.fragmentOffset = try r.u32()
            e.size = Int64(try r.u32())
            inode.blockSizes = try (0..<blockCount(UInt64(e.size), inode.fragment)).map { _ in try r.u32() }
        case .extFile:
            inode.blocksStart = try r.u64()
            e.size = Int64(try r.u64())
            _ = try r.u64()
            e.nlink = try r.u32()
            inode.fragment = try r.u32()
            inode.fragmentOffset = try r.u32()
            inode.xattrIndex = try r.u32()
            inode.blockSizes = try (0..<blockCount(UInt64(e.size), inode.fragment)).map { _ in try r.u32() }
        case .symlink, .extSymlink:
            e.kind = .symlink
            e.nlink = try r.u32()
            let n = Int(try r.u32())
            e.linkTarget = String(decoding: try r.take(n), as: UTF8.self)
            e.size = Int64(n)
            if type == .extSymlink { inode.xattrIndex = try r.u32() }
        case .blockDevice, .characterDevice, .extBlockDevice, .extCharacterDevice:
            e.kind = type.basic == .blockDevice ? .blockDevice : .characterDevice
            e.nlink = try r.u32()
            e.rdev = SquashfsFormat.decodeDevice(try r.u32())
            if type.rawValue > 7 { inode.xattrIndex = try r.u32() }
        case .fifo, .socket, .extFifo, .extSocket:
            e.kind = type.basic == .fifo ? .fifo : .socket
            e.nlink = try r.u32()
            if type.rawValue > 7 { inode.xattrIndex = try r.u32() }
        }
        inode.entry = e
        return inode
    }

    private func id(_ index: Int) throws -> UInt32 {
        guard index < ids.count else { throw Error.corrupt("id index \(index) beyond the id table (\(ids.count))") }
        return ids[index]
    }

    private func xattrs(_ index: UInt32) throws -> [String: [UInt8]] {
        guard index != SquashfsFormat.invalidIndex else { return [:] }
        guard Int(index) < xattrIDs.count else { throw Error.corrupt("xattr id \(index) beyond the table") }
        let id = xattrIDs[Int(index)]
        let start = try xattrData.offset(block: id.ref >> 16, offset: Int(id.ref & 0xFFFF), what: "xattr \(index)")
        var r = LEReader(xattrData.bytes, at: start, what: "xattr \(index)")
        var out: [String: [UInt8]] = [:]
        for _ in 0..<id.count {
            let type = try r.u16()
            let nameSize = Int(try r.u16())
            let suffix = String(decoding: try r.take(nameSize), as: UTF8.self)
            guard let prefix = SquashfsFormat.xattrPrefixes.first(where: { $0.type == type & 0xFF })?.prefix,
                type & 0x100 == 0
            else { throw Error.corrupt("xattr \(index): unsupported type \(type)") }
            let size = Int(try r.u32())
            out[prefix + suffix] = Array(try r.take(size))
        }
        return out
    }
}
