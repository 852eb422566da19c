// SquashfsWriter: turns a FileTree into a squashfs 4.0 image inside a byte range of an image
// file. Order on disk: superblock, data blocks and fragments, inode table, directory table,
// fragment table, export table, id table, xattr tables — the order the kernel's sanity checks
// expect (each lookup array must end where the next table starts).

import Foundation
import IngotTree

/// Writes squashfs 4.0 (little-endian, as the Linux kernel reads it) from a `FileTree`.
public struct SquashfsWriter {
    public enum Error: Swift.Error, CustomStringConvertible {
        case doesNotFit(image: String, range: ByteRange, needed: Int64)
        case invalidBlockSize(Int)
        case invalidLevel(SquashfsCompression, Int)
        case unsupportedXattr(path: String, name: String)
        case deviceNumber(path: String, major: UInt32, minor: UInt32)
        case invalidName(path: String)
        case tooManyIDs(Int)
        case contentChanged(expected: Int64)
        case tooManyInodes(Int)

        public var description: String {
            switch self {
            case .doesNotFit(let image, let range, let needed):
                return
                    "\(image): squashfs needs \(needed) bytes but its partition \(range) holds only \(range.size); "
                    + "enlarge the root partition to at least \(needed) bytes"
            case .invalidBlockSize(let n):
                return "squashfs block size \(n) is invalid: use a power of two from 4096 to 1048576"
            case .invalidLevel(let c, let l):
                return "squashfs \(c.rawValue) level \(l) is invalid: use \(c == .zstd ? "1...22" : "1...9")"
            case .unsupportedXattr(let path, let name):
                return
                    "\(path): xattr '\(name)' cannot be stored in squashfs (only user., trusted. and security. "
                    + "names with values under 64 KiB); drop it from the tree or disable xattrs"
            case .deviceNumber(let path, let major, let minor):
                return "\(path): device \(major):\(minor) does not fit squashfs's 12-bit major / 20-bit minor"
            case .invalidName(let path):
                return "\(path): name is empty or longer than 256 bytes; squashfs cannot store it"
            case .tooManyIDs(let n):
                return "the tree uses \(n) distinct uid/gid values; squashfs holds at most 65536"
            case .contentChanged(let expected):
                return "a file's content no longer has its recorded size \(expected); the content spool changed"
            case .tooManyInodes(let n):
                return "the tree has \(n) inodes; squashfs holds at most \(UInt32.max - 1)"
            }
        }
    }

    /// Writes `tree` as squashfs into `range` of `image` (starting at `range.offset`).
    /// - Parameters:
    ///   - tree: the root tree; owners, modes, times and xattrs come from it, never the host.
    ///   - image: the image file, whose range must still be a hole (all-zero blocks are skipped).
    ///   - range: the partition's bytes.
    ///   - options: compression, block size and superblock time.
    /// - Returns: the bytes used (padded to 4 KiB) and counts.
    /// - Throws: `Error.doesNotFit` naming both sizes when the image is larger than the range.
    public static func write(tree: FileTree, to image: ImageFile, range: ByteRange, options: SquashfsOptions)
        throws -> SquashfsReport
    {
        let blockSize = options.blockSize
        guard blockSize >= 4096, blockSize <= 1 << 20, blockSize & (blockSize - 1) == 0 else {
            throw Error.invalidBlockSize(blockSize)
        }
        let level = options.level ?? options.compression.defaultLevel
        let levels = options.compression == .zstd ? 1...22 : 1...9
        guard levels.contains(level) else { throw Error.invalidLevel(options.compression, level) }
        let workers = max(1, min(64, options.workers ?? ProcessInfo.processInfo.activeProcessorCount))
        let compressors = (0..<workers).map { _ in SquashfsCompressor(options.compression, level: level) }
        let metaCompressor = SquashfsCompressor(options.compression, level: level)

        // 1. Inode numbers: children before their directory, the root last (as mksquashfs).
        let plan = try SquashfsPlan(tree: tree)
        try plan.validate(xattrs: options.xattrs)

        // 2. File data, in walk order so a directory's files sit together.
        let sink = SquashfsSink(image: image, range: range, start: Int64(SquashfsFormat.superblockSize))
        let data = SquashfsDataWriter(sink: sink, blockSize: blockSize, compressors: compressors)
        var files: [Node] = []
        var seen = Set<ObjectIdentifier>()
        tree.walk { _, node in
            if node.content != nil, seen.insert(ObjectIdentifier(node)).inserted { files.append(node) }
        }
        let duplicateOf = options.duplicates ? try SquashfsDuplicates.find(in: tree, files: files) : [:]
        var layoutOf: [ObjectIdentifier: Int] = [:]
        for node in files {
            guard let content = node.content else { continue }
            if let original = duplicateOf[ObjectIdentifier(node)], let index = layoutOf[ObjectIdentifier(original)] {
                layoutOf[ObjectIdentifier(node)] = index
            } else {
                layoutOf[ObjectIdentifier(node)] = try data.add(content, from: tree)
            }
        }
        try data.finish()

        // 3. uid/gid table, sorted so equal trees give equal bytes.
        let ids = Set(plan.inodes.flatMap { [$0.node.uid, $0.node.gid] }).sorted()
        guard ids.count <= 65536 else { throw Error.tooManyIDs(ids.count) }
        var idIndex: [UInt32: UInt16] = [:]
        for (i, id) in ids.enumerated() { idIndex[id] = UInt16(i) }

        // 4. Inodes and directory listings, in inode number order.
        let inodeStream = SquashfsMetadataStream(compressor: metaCompressor)
        let dirStream = SquashfsMetadataStream(compressor: metaCompressor)
        let xattrTable = SquashfsXattrTable(compressor: metaCompressor)
        var refs: [ObjectIdentifier: (block: UInt64, offset: Int, type: SquashfsFormat.InodeType)] = [:]
        var exportRefs: [UInt64] = []
        exportRefs.reserveCapacity(plan.inodes.count)
        for inode in plan.inodes {
            let node = inode.node
            let header = SquashfsInodeHeader(
                permissions: UInt16(node.permissions & 0o7777), uidIndex: idIndex[node.uid] ?? 0,
                gidIndex: idIndex[node.gid] ?? 0, mtime: UInt32(clamping: node.mtime), number: inode.number)
            let xattr = options.xattrs ? try xattrTable.add(node.xattrs, path: inode.path) : SquashfsFormat.invalidIndex
            let nlink = UInt32(clamping: plan.linkCounts[ObjectIdentifier(node)] ?? 1)
            let record: (SquashfsFormat.InodeType, [UInt8])
            switch node.kind {
            case .directory:
                var children: [SquashfsDirectoryChild] = []
                var subdirectories: UInt32 = 0
                for (name, child) in node.sortedChildren {
                    guard let ref = refs[ObjectIdentifier(child)], let number = plan.numbers[ObjectIdentifier(child)]
                    else { continue }
                    if child.isDirectory { subdirectories += 1 }
                    children.append(
                        SquashfsDirectoryChild(
                            name: Array(name.utf8), type: ref.type, inodeBlock: ref.block, inodeOffset: ref.offset,
                            inodeNumber: number))
                }
                let listing = SquashfsInodes.writeListing(children, to: dirStream)
                record = SquashfsInodes.directory(
                    header, listing: listing, nlink: 2 + subdirectories, parent: inode.parent, xattr: xattr)
            case .file:
                let layout = layoutOf[ObjectIdentifier(node)].map { data.files[$0] } ?? SquashfsFileLayout(size: 0)
                record = SquashfsInodes.file(header, layout: layout, nlink: nlink, xattr: xattr)
            case .symlink(let target):
                record = SquashfsInodes.symlink(header, target: Array(target.utf8), nlink: nlink, xattr: xattr)
            case .characterDevice(let major, let minor), .blockDevice(let major, let minor):
                guard let rdev = SquashfsFormat.encodeDevice(major: major, minor: minor) else {
                    throw Error.deviceNumber(path: inode.path, major: major, minor: minor)
                }
                let isChar: Bool
                if case .characterDevice = node.kind { isChar = true } else { isChar = false }
                record = SquashfsInodes.special(
                    header, basic: isChar ? .characterDevice : .blockDevice, rdev: rdev, nlink: nlink, xattr: xattr)
            case .fifo:
                record = SquashfsInodes.special(header, basic: .fifo, rdev: nil, nlink: nlink, xattr: xattr)
            case .socket:
                record = SquashfsInodes.special(header, basic: .socket, rdev: nil, nlink: nlink, xattr: xattr)
            }
            let pos = inodeStream.position
            inodeStream.append(record.1)
            refs[ObjectIdentifier(node)] = (pos.block, pos.offset, record.0)
            exportRefs.append((pos.block << 16) | UInt64(pos.offset))
        }
        let rootRef = exportRefs.last ?? 0

        // 5. Tables, each lookup array ending where the next table starts.
        var sb = SquashfsSuperblock()
        sb.inodeTableStart = UInt64(sink.position)
        try sink.write(inodeStream.finish())
        sb.directoryTableStart = UInt64(sink.position)
        try sink.write(dirStream.finish())

        var fragments = LEWriter()
        for entry in data.fragmentEntries {
            fragments.u64(entry.start)
            fragments.u32(entry.size)
            fragments.u32(0)
        }
        sb.fragmentTableStart = try writeLookup(fragments.bytes, sink: sink, compressor: metaCompressor)

        var export = LEWriter()
        for ref in exportRefs { export.u64(ref) }
        sb.exportTableStart = try writeLookup(export.bytes, sink: sink, compressor: metaCompressor)

        var idBytes = LEWriter()
        for id in ids { idBytes.u32(id) }
        sb.idTableStart = try writeLookup(idBytes.bytes, sink: sink, compressor: metaCompressor)

        if !xattrTable.ids.isEmpty {
            let kvStart = UInt64(sink.position)
            try sink.write(xattrTable.kv.finish())
            var idEntries = LEWriter()
            for id in xattrTable.ids {
                idEntries.u64(id.ref)
                idEntries.u32(id.count)
                idEntries.u32(id.size)
            }
            let table = SquashfsMetadataStream.lookupTable(
                idEntries.bytes, compressor: metaCompressor, base: sink.position)
            try sink.write(Array(table.bytes[0..<Int(table.arrayOffset)]))
            sb.xattrIDTableStart = UInt64(sink.position)
            var header = LEWriter()
            header.u64(kvStart)
            header.u32(UInt32(xattrTable.ids.count))
            header.u32(0)
            try sink.write(header.bytes)
            try sink.write(Array(table.bytes[Int(table.arrayOffset)...]))
        }

        sb.bytesUsed = UInt64(sink.position)
        try sink.flush()
        let padded = (sink.position + 4095) / 4096 * 4096
        guard !sink.overflowed, padded <= range.size else {
            throw Error.doesNotFit(image: image.path, range: range, needed: padded)
        }

        sb.inodeCount = UInt32(plan.inodes.count)
        sb.modificationTime = options.modificationTime
        sb.blockSize = UInt32(blockSize)
        sb.blockLog = UInt16(blockSize.trailingZeroBitCount)
        sb.fragmentCount = UInt32(data.fragmentEntries.count)
        sb.compressionID = options.compression.id
        sb.flags = SquashfsFormat.flagAlwaysFragments | SquashfsFormat.flagExportable
        if !options.xattrs { sb.flags |= SquashfsFormat.flagNoXattrs }
        if options.duplicates { sb.flags |= SquashfsFormat.flagDuplicates }
        sb.idCount = UInt16(truncatingIfNeeded: ids.count)
        sb.rootInode = rootRef
        try sink.patch(sb.encoded(), at: 0)

        return SquashfsReport(
            bytesUsed: padded, inodes: plan.inodes.count, dataBlocks: data.dataBlocks,
            fragments: data.fragmentEntries.count)
    }

    /// Writes a lookup table (metadata blocks, then the array of their positions); returns the
    /// array's position, which is what the superblock records.
    private static func writeLookup(_ entries: [UInt8], sink: SquashfsSink, compressor: SquashfsCompressor) throws
        -> UInt64
    {
        let table = SquashfsMetadataStream.lookupTable(entries, compressor: compressor, base: sink.position)
        let start = UInt64(sink.position) + UInt64(table.arrayOffset)
        try sink.write(table.bytes)
        return start
    }
}

/// Inode numbering of a tree: every distinct node once, children before their directory.
struct SquashfsPlan {
    struct Inode {
        let node: Node
        let path: String
        let number: UInt32
        /// Parent directory's inode number (directories only; the root's is count + 1).
        var parent: UInt32
    }
    private(set) var inodes: [Inode] = []
    private(set) var numbers: [ObjectIdentifier: UInt32] = [:]
    let linkCounts: [ObjectIdentifier: Int]

    init(tree: FileTree) throws {
        linkCounts = tree.linkCounts()
        try visit(tree.root, path: "/")
        guard inodes.count < Int(UInt32.max) - 1 else { throw SquashfsWriter.Error.tooManyInodes(inodes.count) }
        if !inodes.isEmpty { inodes[inodes.count - 1].parent = UInt32(inodes.count + 1) }
    }

    /// Refuses what squashfs cannot store before any data is compressed.
    func validate(xattrs: Bool) throws {
        for inode in inodes {
            switch inode.node.kind {
            case .characterDevice(let major, let minor), .blockDevice(let major, let minor):
                guard SquashfsFormat.encodeDevice(major: major, minor: minor) != nil else {
                    throw SquashfsWriter.Error.deviceNumber(path: inode.path, major: major, minor: minor)
                }
            default: break
            }
            guard xattrs else { continue }
            for (name, value) in inode.node.xattrs {
                let storable = SquashfsFormat.xattrPrefixes.contains {
                    name.hasPrefix($0.prefix) && name.utf8.count > $0.prefix.utf8.count
                }
                guard storable, name.utf8.count <= 0xFFFF, value.count <= 0xFFFF else {
                    throw SquashfsWriter.Error.unsupportedXattr(path: inode.path, name: name)
                }
            }
        }
    }

    private mutating func visit(_ dir: Node, path: String) throws {
        var subdirectories: [Int] = []
        for (name, child) in dir.sortedChildren {
            let childPath = path == "/" ? "/" + name : path + "/" + name
            guard !name.isEmpty, name.utf8.count <= 256, !name.contains("/") else {
                throw SquashfsWriter.Error.invalidName(path: childPath)
            }
            if child.isDirectory {
                try visit(child, path: childPath)
                subdirectories.append(inodes.count - 1)
            } else if numbers[ObjectIdentifier(child)] == nil {
                add(child, path: childPath)
            }
        }
        add(dir, path: path)
        let number = UInt32(inodes.count)
        for i in subdirectories { inodes[i].parent = number }
    }

    private mutating func add(_ node: Node, path: String) {
        let number = UInt32(inodes.count + 1)
        numbers[ObjectIdentifier(node)] = number
        inodes.append(Inode(node: node, path: path, number: number, parent: 0))
    }
}
