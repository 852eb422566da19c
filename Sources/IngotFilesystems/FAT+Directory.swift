// The FAT directory plan: every directory of the tree with its entries' short names, long-name
// slots and sizes (independent of the volume geometry), then cluster assignment in a fixed
// depth-first order, and the 32-byte directory records written for each entry.

import Foundation
import IngotTree

/// One directory of the volume being written.
final class FATDirectory {
    let path: String
    let mtime: Int64
    let isRoot: Bool
    var items: [FATItem] = []
    /// 32-byte slots used: dot entries, volume label, LFN and short entries.
    var slots = 0
    var firstCluster = 0
    var clusterCount = 0
    var parentCluster = 0

    init(path: String, mtime: Int64, isRoot: Bool) {
        self.path = path
        self.mtime = mtime
        self.isRoot = isRoot
    }
}

/// One entry (file or subdirectory) of a `FATDirectory`.
final class FATItem {
    let name: String
    let path: String
    let short: [UInt8]
    let needsLFN: Bool
    let node: Node
    let content: Content?
    let directory: FATDirectory?
    var firstCluster = 0
    var clusterCount = 0

    init(
        name: String, path: String, short: [UInt8], needsLFN: Bool, node: Node, content: Content?,
        directory: FATDirectory?
    ) {
        self.name = name
        self.path = path
        self.short = short
        self.needsLFN = needsLFN
        self.node = node
        self.content = content
        self.directory = directory
    }

    var size: Int64 { content?.size ?? 0 }
    var slots: Int { 1 + (needsLFN ? (name.utf16.count + 12) / 13 : 0) }
}

/// All directories of a tree in depth-first pre-order (root first).
struct FATPlan {
    static let maxDirectorySlots = 65_536
    static let maxFileSize: Int64 = 0xFFFF_FFFF

    var directories: [FATDirectory] = []
    var root: FATDirectory { directories[0] }
    let label: [UInt8]?

    /// Builds the plan, refusing what FAT cannot hold (links, devices, bad or colliding names,
    /// files of 4 GiB and more).
    init(tree: FileTree, label: [UInt8]?, defaultTime: Int64) throws {
        self.label = label
        let root = FATDirectory(path: "/", mtime: Self.time(tree.root, defaultTime), isRoot: true)
        root.slots = label == nil ? 0 : 1
        directories.append(root)
        try fill(root, node: tree.root, defaultTime: defaultTime)
    }

    static func time(_ node: Node, _ fallback: Int64) -> Int64 { node.mtime != 0 ? node.mtime : fallback }

    private mutating func fill(_ dir: FATDirectory, node: Node, defaultTime: Int64) throws {
        if !dir.isRoot { dir.slots = 2 }
        let children = node.sortedChildren
        var used: Set<[UInt8]> = [Array(".          ".utf8), Array("..         ".utf8)]
        var folded: [String: String] = [:]
        var exact: [[UInt8]?] = []
        for (name, child) in children {
            let path = dir.isRoot ? "/" + name : dir.path + "/" + name
            if let why = FATNames.longNameProblem(name) { throw FATWriter.Error.invalidName(path, why) }
            switch child.kind {
            case .directory, .file: break
            case .symlink(let target): throw FATWriter.Error.unsupportedNode(path, "a symbolic link to \(target)")
            case .characterDevice, .blockDevice: throw FATWriter.Error.unsupportedNode(path, "a device node")
            case .fifo: throw FATWriter.Error.unsupportedNode(path, "a FIFO")
            case .socket: throw FATWriter.Error.unsupportedNode(path, "a socket")
            }
            let key = name.uppercased()
            if let other = folded[key] { throw FATWriter.Error.nameCollision(path, other) }
            folded[key] = name
            let e = FATNames.exactShortName(name)
            if let e { used.insert(e) }
            exact.append(e)
        }
        var subdirs: [(FATDirectory, Node)] = []
        var nextTail: [[UInt8]: Int] = [:]
        for (i, (name, child)) in children.enumerated() {
            let path = dir.isRoot ? "/" + name : dir.path + "/" + name
            var short: [UInt8]
            var lfn = false
            if let e = exact[i] {
                short = e
            } else {
                guard let s = FATNames.shortName(for: name, used: used, nextTail: &nextTail) else {
                    throw FATWriter.Error.shortNamesExhausted(path)
                }
                short = s
                lfn = true
                used.insert(s)
            }
            if short[0] == 0xE5 { short[0] = 0x05 }
            var sub: FATDirectory?
            if child.isDirectory {
                let d = FATDirectory(path: path, mtime: Self.time(child, defaultTime), isRoot: false)
                sub = d
                subdirs.append((d, child))
            } else if let c = child.content, c.size > Self.maxFileSize {
                throw FATWriter.Error.fileTooLarge(path, c.size)
            }
            let item = FATItem(
                name: name, path: path, short: short, needsLFN: lfn, node: child, content: child.content, directory: sub
            )
            dir.items.append(item)
            dir.slots += item.slots
        }
        if dir.slots > Self.maxDirectorySlots {
            throw FATWriter.Error.directoryTooLarge(dir.path, dir.slots)
        }
        for (d, child) in subdirs {
            directories.append(d)
            try fill(d, node: child, defaultTime: defaultTime)
        }
    }

    /// Root directory entries for a FAT12/16 fixed root area: 512, or more when the root needs it.
    var rootEntries: Int { max(512, (root.slots + 15) / 16 * 16) }

    /// Data clusters needed with clusters of `clusterSize` bytes.
    func clustersNeeded(clusterSize: Int, type: FATType) -> Int {
        var n = 0
        for d in directories {
            if !(d.isRoot && type != .fat32) { n += max(1, (d.slots * 32 + clusterSize - 1) / clusterSize) }
            for item in d.items where item.directory == nil {
                n += Int((item.size + Int64(clusterSize) - 1) / Int64(clusterSize))
            }
        }
        return n
    }

    /// Assigns contiguous cluster runs in depth-first order: a directory, its files, then its
    /// subdirectories. Returns the runs (first cluster, count) in allocation order.
    func allocate(geometry g: FATGeometry) -> [(start: Int, count: Int)] {
        var runs: [(start: Int, count: Int)] = []
        var next = 2
        func visit(_ d: FATDirectory, parent: Int) {
            d.parentCluster = parent
            if d.isRoot && g.type != .fat32 {
                d.firstCluster = 0
            } else {
                d.clusterCount = max(1, (d.slots * 32 + g.clusterSize - 1) / g.clusterSize)
                d.firstCluster = next
                runs.append((next, d.clusterCount))
                next += d.clusterCount
            }
            for item in d.items where item.directory == nil {
                item.clusterCount = Int((item.size + Int64(g.clusterSize) - 1) / Int64(g.clusterSize))
                item.firstCluster = item.clusterCount > 0 ? next : 0
                if item.clusterCount > 0 { runs.append((next, item.clusterCount)) }
                next += item.clusterCount
            }
            // ".." of a directory in the root names cluster 0, also on FAT32.
            let mine = d.isRoot ? 0 : d.firstCluster
            for item in d.items {
                if let sub = item.directory {
                    visit(sub, parent: mine)
                    item.firstCluster = sub.firstCluster
                }
            }
        }
        visit(root, parent: 0)
        return runs
    }

    // MARK: Records

    /// The bytes of a directory: all its records, zero-padded to `size`.
    func records(of d: FATDirectory, size: Int, defaultTime: Int64) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(size)
        if d.isRoot, let label {
            out += Self.record(short: label, attributes: 0x08, cluster: 0, size: 0, mtime: d.mtime)
        }
        if !d.isRoot {
            out += Self.record(
                short: Array(".          ".utf8), attributes: 0x10, cluster: d.firstCluster, size: 0, mtime: d.mtime)
            out += Self.record(
                short: Array("..         ".utf8), attributes: 0x10, cluster: d.parentCluster, size: 0, mtime: d.mtime)
        }
        for item in d.items {
            if item.needsLFN {
                for e in FATNames.lfnEntries(item.name, checksum: FATNames.checksum(item.short)) { out += e }
            }
            let isDir = item.directory != nil
            var attributes: UInt8 = isDir ? 0x10 : 0x20
            if item.node.permissions & 0o222 == 0 { attributes |= 0x01 }
            out += Self.record(
                short: item.short, attributes: attributes, cluster: item.firstCluster,
                size: isDir ? 0 : UInt32(item.size), mtime: Self.time(item.node, defaultTime))
        }
        if out.count < size { out += [UInt8](repeating: 0, count: size - out.count) }
        return out
    }

    /// One 32-byte short-name record.
    static func record(short: [UInt8], attributes: UInt8, cluster: Int, size: UInt32, mtime: Int64) -> [UInt8] {
        var e = [UInt8](repeating: 0, count: 32)
        e.fatReplace(0, short)
        e[11] = attributes
        let (time, date) = DOSTime.encode(mtime)
        e.fatPut16(14, time)  // creation time
        e.fatPut16(16, date)  // creation date
        e.fatPut16(18, date)  // access date
        e.fatPut16(20, UInt16((cluster >> 16) & 0xFFFF))
        e.fatPut16(22, time)
        e.fatPut16(24, date)
        e.fatPut16(26, UInt16(cluster & 0xFFFF))
        e.fatPut32(28, size)
        return e
    }
}
