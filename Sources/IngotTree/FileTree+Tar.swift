// A tree as an uncompressed POSIX tar: owners, modes, times, hard links (every later path of a
// node is a link to its first), symlinks, devices and xattrs. The build's `tar` output and the
// closure benchmark write through this one function.

import Foundation

extension FileTree {
    /// Writes the tree (without "/") to `path` as a pax tar; returns the number of entries.
    @discardableResult
    public func writeTar(to path: String) throws -> Int64 {
        let w = try ArchiveWriter(path: path, format: .paxRestricted, compression: .none)
        var firstPath: [ObjectIdentifier: String] = [:]
        var entries: Int64 = 0
        try walk { p, node in
            guard p != "/" else { return }
            let name = String(p.dropFirst())
            let id = ObjectIdentifier(node)
            entries += 1
            if !node.isDirectory, let first = firstPath[id] {
                try w.writeHeader(
                    path: name, mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime, hardlink: first)
                return
            }
            if !node.isDirectory { firstPath[id] = name }
            switch node.kind {
            case .file(let c):
                try w.writeHeader(
                    path: name, mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime, size: c.size,
                    xattrs: node.xattrs)
                try readChunks(of: c) { try w.writeData($0) }
            case .symlink(let target):
                try w.writeHeader(
                    path: name, mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime, symlink: target)
            case .characterDevice(let major, let minor), .blockDevice(let major, let minor):
                try w.writeHeader(
                    path: name, mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime, rdev: (major, minor))
            case .directory, .fifo, .socket:
                try w.writeHeader(
                    path: name, mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime, xattrs: node.xattrs)
            }
        }
        try w.close()
        return entries
    }
}
