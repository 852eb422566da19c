// Writing a tree as an initramfs: cpio (newc) through libarchive, compressed, deterministic
// (sorted paths, fixed inode numbers, times from the tree, owners from the tree). Hard links
// follow the kernel's unpacker: the first name carries the data, later names are size 0 with
// the same inode number, which the kernel turns into links.

import Foundation

public struct InitramfsWriter {
    public struct Report: Sendable {
        public var entries: Int
        public var contentBytes: Int64
    }

    /// Writes `tree` as a cpio newc archive to `path`.
    /// - Parameters:
    ///   - compression: gzip is understood by every kernel config; zstd/xz when the kernel has them.
    ///   - level: compressor level (nil: libarchive default).
    @discardableResult
    public static func write(
        tree: FileTree, to path: String, compression: ArchiveWriter.Compression = .gzip, level: Int? = nil
    ) throws -> Report {
        let writer = try ArchiveWriter(path: path, format: .cpioNewc, compression: compression, level: level)
        let links = tree.linkCounts()
        var inodes: [ObjectIdentifier: Int64] = [:]
        var nextInode: Int64 = 1
        var entries = 0
        var bytes: Int64 = 0
        try tree.walk { path, node in
            let name = path == "/" ? "." : String(path.dropFirst())
            let id = ObjectIdentifier(node)
            let nlink = UInt32(node.isDirectory ? 2 : (links[id] ?? 1))
            let firstSight = inodes[id] == nil
            if firstSight {
                inodes[id] = nextInode
                nextInode += 1
            }
            let ino = inodes[id]!
            switch node.kind {
            case .file(let content):
                let size = firstSight ? content.size : 0
                try writer.writeHeader(
                    path: name, mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime, size: size,
                    nlink: nlink, inode: ino)
                if firstSight {
                    try tree.readChunks(of: content) { try writer.writeData($0) }
                    bytes += content.size
                }
            case .symlink(let target):
                try writer.writeHeader(
                    path: name, mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime,
                    size: Int64(target.utf8.count), symlink: target, nlink: nlink, inode: ino)
            case .characterDevice(let major, let minor), .blockDevice(let major, let minor):
                try writer.writeHeader(
                    path: name, mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime,
                    rdev: (major, minor), nlink: nlink, inode: ino)
            case .directory, .fifo, .socket:
                try writer.writeHeader(
                    path: name, mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime, nlink: nlink,
                    inode: ino)
            }
            entries += 1
        }
        try writer.close()
        return Report(entries: entries, contentBytes: bytes)
    }
}
