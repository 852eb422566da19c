// Squashfs inode records (basic and extended forms of every type), directory listings with
// their headers and lookup index, and the deduplicated xattr key/value table.

import Foundation
import IngotTree

/// Fields common to every inode header.
struct SquashfsInodeHeader {
    var permissions: UInt16
    var uidIndex: UInt16
    var gidIndex: UInt16
    var mtime: UInt32
    var number: UInt32

    func encode(type: SquashfsFormat.InodeType, into w: inout LEWriter) {
        w.u16(type.rawValue)
        w.u16(permissions)
        w.u16(uidIndex)
        w.u16(gidIndex)
        w.u32(mtime)
        w.u32(number)
    }
}

/// A child as its parent's directory listing sees it.
struct SquashfsDirectoryChild {
    var name: [UInt8]
    var type: SquashfsFormat.InodeType
    var inodeBlock: UInt64
    var inodeOffset: Int
    var inodeNumber: UInt32
}

/// One directory index entry: lets the kernel skip to the right metadata block on lookup.
struct SquashfsDirectoryIndex {
    var listingOffset: UInt32
    var block: UInt32
    var name: [UInt8]
}

/// Where a directory's listing landed in the directory table.
struct SquashfsListing {
    var block: UInt64
    var offset: Int
    var size: Int
    var index: [SquashfsDirectoryIndex]
}

enum SquashfsInodes {
    /// Appends a directory's listing to the directory table. Headers are split where the kernel
    /// requires it (256 entries, a change of the children's inode block, inode numbers drifting
    /// beyond 16 bits) and before 8 KiB of listing pass without one, so every index entry can
    /// point at a header, as mksquashfs does.
    static func writeListing(_ children: [SquashfsDirectoryChild], to stream: SquashfsMetadataStream)
        -> SquashfsListing
    {
        let start = stream.position
        struct Group {
            var start: Int
            var end: Int
            var indexed: Bool
        }
        var groups: [Group] = []
        var length = 0
        var indexPoint = 0
        for (i, child) in children.enumerated() {
            let entrySize = 8 + child.name.count
            var needsHeader = true
            if let group = groups.last {
                let first = children[group.start]
                let drift = Int64(child.inodeNumber) - Int64(first.inodeNumber)
                needsHeader =
                    i - group.start == 256 || child.inodeBlock != first.inodeBlock || drift > 32767
                    || drift < -32768 || length + entrySize - indexPoint > SquashfsFormat.metadataSize
            }
            if needsHeader {
                var indexed = false
                if !groups.isEmpty, length + 12 + entrySize - indexPoint > SquashfsFormat.metadataSize {
                    indexed = true
                    indexPoint = length
                }
                groups.append(Group(start: i, end: i, indexed: indexed))
                length += 12
            }
            groups[groups.count - 1].end = i + 1
            length += entrySize
        }

        var index: [SquashfsDirectoryIndex] = []
        var written = 0
        for group in groups {
            let first = children[group.start]
            if group.indexed {
                index.append(
                    SquashfsDirectoryIndex(
                        listingOffset: UInt32(written), block: UInt32(stream.position.block), name: first.name))
            }
            var w = LEWriter()
            w.u32(UInt32(group.end - group.start - 1))
            w.u32(UInt32(first.inodeBlock))
            w.u32(first.inodeNumber)
            for child in children[group.start..<group.end] {
                w.u16(UInt16(child.inodeOffset))
                w.i16(Int16(Int64(child.inodeNumber) - Int64(first.inodeNumber)))
                w.u16(child.type.basic.rawValue)
                w.u16(UInt16(child.name.count - 1))
                w.append(child.name)
            }
            written += w.bytes.count
            stream.append(w.bytes)
        }
        return SquashfsListing(block: start.block, offset: start.offset, size: written, index: index)
    }

    static func directory(
        _ h: SquashfsInodeHeader, listing: SquashfsListing, nlink: UInt32, parent: UInt32, xattr: UInt32
    ) -> (SquashfsFormat.InodeType, [UInt8]) {
        var w = LEWriter()
        let fileSize = listing.size + 3
        if listing.index.isEmpty, fileSize <= 0xFFFF, xattr == SquashfsFormat.invalidIndex,
            listing.block <= UInt64(UInt32.max)
        {
            h.encode(type: .directory, into: &w)
            w.u32(UInt32(listing.block))
            w.u32(nlink)
            w.u16(UInt16(fileSize))
            w.u16(UInt16(listing.offset))
            w.u32(parent)
            return (.directory, w.bytes)
        }
        h.encode(type: .extDirectory, into: &w)
        w.u32(nlink)
        w.u32(UInt32(fileSize))
        w.u32(UInt32(truncatingIfNeeded: listing.block))
        w.u32(parent)
        w.u16(UInt16(listing.index.count))
        w.u16(UInt16(listing.offset))
        w.u32(xattr)
        for entry in listing.index {
            w.u32(entry.listingOffset)
            w.u32(entry.block)
            w.u32(UInt32(entry.name.count - 1))
            w.append(entry.name)
        }
        return (.extDirectory, w.bytes)
    }

    static func file(_ h: SquashfsInodeHeader, layout: SquashfsFileLayout, nlink: UInt32, xattr: UInt32)
        -> (SquashfsFormat.InodeType, [UInt8])
    {
        var w = LEWriter()
        if nlink == 1, xattr == SquashfsFormat.invalidIndex, layout.sparseBytes == 0,
            layout.blocksStart <= UInt64(UInt32.max), layout.size <= UInt64(UInt32.max)
        {
            h.encode(type: .file, into: &w)
            w.u32(UInt32(layout.blocksStart))
            w.u32(layout.fragment)
            w.u32(layout.fragmentOffset)
            w.u32(UInt32(layout.size))
            for s in layout.blockSizes { w.u32(s) }
            return (.file, w.bytes)
        }
        h.encode(type: .extFile, into: &w)
        w.u64(layout.blocksStart)
        w.u64(layout.size)
        w.u64(layout.sparseBytes)
        w.u32(nlink)
        w.u32(layout.fragment)
        w.u32(layout.fragmentOffset)
        w.u32(xattr)
        for s in layout.blockSizes { w.u32(s) }
        return (.extFile, w.bytes)
    }

    static func symlink(_ h: SquashfsInodeHeader, target: [UInt8], nlink: UInt32, xattr: UInt32)
        -> (SquashfsFormat.InodeType, [UInt8])
    {
        var w = LEWriter()
        let type: SquashfsFormat.InodeType = xattr == SquashfsFormat.invalidIndex ? .symlink : .extSymlink
        h.encode(type: type, into: &w)
        w.u32(nlink)
        w.u32(UInt32(target.count))
        w.append(target)
        if type == .extSymlink { w.u32(xattr) }
        return (type, w.bytes)
    }

    /// Character/block devices (with `rdev`) and fifos/sockets (`rdev` nil).
    static func special(
        _ h: SquashfsInodeHeader, basic: SquashfsFormat.InodeType, rdev: UInt32?, nlink: UInt32, xattr: UInt32
    ) -> (SquashfsFormat.InodeType, [UInt8]) {
        var w = LEWriter()
        let extended = xattr != SquashfsFormat.invalidIndex
        let type = extended ? SquashfsFormat.InodeType(rawValue: basic.rawValue + 7) ?? basic : basic
        h.encode(type: type, into: &w)
        w.u32(nlink)
        if let rdev { w.u32(rdev) }
        if extended { w.u32(xattr) }
        return (type, w.bytes)
    }
}

/// The xattr key/value metadata and the id table that inodes index into; identical sets share
/// one id.
final class SquashfsXattrTable {
    let kv: SquashfsMetadataStream
    private(set) var ids: [(ref: UInt64, count: UInt32, size: UInt32)] = []
    private var known: [[UInt8]: UInt32] = [:]

    init(compressor: SquashfsCompressor) {
        kv = SquashfsMetadataStream(compressor: compressor)
    }

    /// Returns the xattr id for a set, or `invalidIndex` for an empty one.
    func add(_ xattrs: [String: [UInt8]], path: String) throws -> UInt32 {
        guard !xattrs.isEmpty else { return SquashfsFormat.invalidIndex }
        let names = xattrs.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        var w = LEWriter()
        var size = 0
        for name in names {
            guard
                let (prefix, type) = SquashfsFormat.xattrPrefixes.first(where: {
                    name.hasPrefix($0.prefix) && name.utf8.count > $0.prefix.utf8.count
                })
            else { throw SquashfsWriter.Error.unsupportedXattr(path: path, name: name) }
            let suffix = Array(name.utf8.dropFirst(prefix.utf8.count))
            let value = xattrs[name] ?? []
            guard suffix.count <= 0xFFFF, value.count <= 0xFFFF else {
                throw SquashfsWriter.Error.unsupportedXattr(path: path, name: name)
            }
            w.u16(type)
            w.u16(UInt16(suffix.count))
            w.append(suffix)
            w.u32(UInt32(value.count))
            w.append(value)
            size += name.utf8.count + 1 + value.count
        }
        if let id = known[w.bytes] { return id }
        let pos = kv.position
        kv.append(w.bytes)
        let id = UInt32(ids.count)
        ids.append(((pos.block << 16) | UInt64(pos.offset), UInt32(names.count), UInt32(size)))
        known[w.bytes] = id
        return id
    }
}
