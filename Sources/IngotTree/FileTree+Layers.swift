// Applying image layers to a tree, in order, the way an OCI runtime would: whiteouts and opaque
// directories remove lower content, hard links and symlinks are kept, devices are kept, owners
// and modes come from the archive. Every path is sanitised first: an entry or hard link that
// would climb out of the root is refused, and nothing is ever written to the host filesystem.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public enum LayerError: Swift.Error, CustomStringConvertible {
    case escapesRoot(layer: String, entry: String, what: String)
    case danglingHardlink(layer: String, entry: String, target: String)
    case unreadable(layer: String, path: String, why: String)

    public var description: String {
        switch self {
        case .escapesRoot(let layer, let entry, let what):
            return "\(layer): entry '\(entry)' \(what) outside the image root. Ingot refuses layers whose "
                + "paths or links climb above '/'; rebuild the layer without '../' paths."
        case .danglingHardlink(let layer, let entry, let target):
            return "\(layer): hard link '\(entry)' points to '\(target)', which no earlier entry of the image "
                + "created; the layer is truncated or was built incorrectly."
        case .unreadable(let layer, let path, let why):
            return "\(layer): cannot read '\(path)': \(why)"
        }
    }
}

/// Ownership applied to directory layers, whose host owners must never leak into the image.
public struct OwnerOverride: Sendable {
    public var uid: UInt32
    public var gid: UInt32
    public init(uid: UInt32 = 0, gid: UInt32 = 0) {
        self.uid = uid
        self.gid = gid
    }
}

extension FileTree {
    /// Cleans an archive entry path ("./usr/bin/x", "usr//bin/../bin/x") to an absolute tree path.
    /// Returns nil when the path climbs above the root.
    public static func sanitize(_ raw: String) -> String? {
        var out: [Substring] = []
        for part in raw.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if out.isEmpty { return nil }
                out.removeLast()
                continue
            }
            out.append(part)
        }
        return "/" + out.joined(separator: "/")
    }

    /// Whether a symlink at `path` with a relative `target` climbs above the root.
    static func symlinkEscapes(path: String, target: String) -> Bool {
        if target.hasPrefix("/") { return false }
        var depth = components(path).count - 1  // the link's directory depth
        for part in target.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                depth -= 1
                if depth < 0 { return true }
            } else {
                depth += 1
            }
        }
        return false
    }

    /// Applies one archive layer (tar in any compression) on top of the tree.
    /// - Parameters:
    ///   - path: the layer file.
    ///   - label: how errors name the layer (e.g. "busybox-static 1.35 (arm64)").
    ///   - under: a directory of the tree the layer is rooted at (default "/").
    ///   - include: when given, only entries whose sanitised path it accepts are applied (the
    ///     rest are skipped without reading their data), e.g. to take a kernel out of its package.
    @discardableResult
    public func applyLayer(
        archive path: String, label: String? = nil, under prefix: String = "/", include: ((String) -> Bool)? = nil
    ) throws -> Int {
        let name = label ?? path
        let reader = try ArchiveReader(path: path, formats: .all)
        var base: Int64?
        // An uncompressed tar's file data is referenced in place rather than copied to the spool.
        let attach = { [spool] () throws -> Int64 in
            if let base { return base }
            let b = try spool.attachSource(path: path)
            base = b
            return b
        }
        var count = 0
        while let entry = try reader.next() {
            if let include, let clean = Self.sanitize(entry.path), !include(clean) {
                try reader.skipData()
                continue
            }
            try applyEntry(entry, reader: reader, layer: name, prefix: prefix, attach: attach)
            count += 1
        }
        return count
    }

    private func join(_ prefix: String, _ path: String) -> String {
        prefix == "/" ? path : prefix + path
    }

    private func applyEntry(
        _ entry: ArchiveEntry, reader: ArchiveReader, layer: String, prefix: String, attach: () throws -> Int64
    ) throws {
        guard let clean = Self.sanitize(entry.path) else {
            throw LayerError.escapesRoot(layer: layer, entry: entry.path, what: "has a path that lands")
        }
        if clean == "/" {
            if entry.kind == .directory {
                let target = lookup(prefix) ?? root
                target.permissions = entry.permissions
                target.uid = entry.uid
                target.gid = entry.gid
                target.mtime = entry.mtime
            }
            return
        }
        let comps = Self.components(clean)
        let base = comps.last!
        let dir = "/" + comps.dropLast().joined(separator: "/")

        // OCI whiteouts.
        if base == ".wh..wh..opq" {
            if let d = lookup(join(prefix, dir)), d.isDirectory { d.children.removeAll() }
            return
        }
        if base.hasPrefix(".wh.") {
            let victim = dir == "/" ? "/" + base.dropFirst(4) : dir + "/" + base.dropFirst(4)
            remove(join(prefix, victim))
            return
        }

        let dest = join(prefix, clean)
        switch entry.kind {
        case .directory:
            try insert(
                Node(kind: .directory, permissions: entry.permissions, uid: entry.uid, gid: entry.gid,
                     mtime: entry.mtime, xattrs: entry.xattrs), at: dest)
        case .file:
            let content: Content
            if entry.size <= Int64(ContentSpool.inlineLimit) {
                content = Content(bytes: try reader.readAll())
            } else if let stored = reader.storedDataRange(), stored.size == entry.size {
                content = Content(spoolOffset: try attach() + stored.offset, size: stored.size)
            } else {
                let w = spool.beginFile()
                try reader.readData { try w.write($0) }
                content = w.finish()
            }
            try insert(
                Node(kind: .file(content), permissions: entry.permissions, uid: entry.uid, gid: entry.gid,
                     mtime: entry.mtime, xattrs: entry.xattrs), at: dest)
        case .symlink:
            let target = entry.linkTarget ?? ""
            if Self.symlinkEscapes(path: clean, target: target) {
                throw LayerError.escapesRoot(layer: layer, entry: entry.path, what: "is a symlink to '\(target)', which points")
            }
            try insert(
                Node(kind: .symlink(target), permissions: 0o777, uid: entry.uid, gid: entry.gid, mtime: entry.mtime),
                at: dest)
        case .hardlink:
            guard let rawTarget = entry.linkTarget, let t = Self.sanitize(rawTarget) else {
                throw LayerError.escapesRoot(layer: layer, entry: entry.path, what: "is a hard link that points")
            }
            guard let node = lookup(join(prefix, t)), !node.isDirectory else {
                throw LayerError.danglingHardlink(layer: layer, entry: entry.path, target: rawTarget)
            }
            try insert(node, at: dest)
        case .characterDevice:
            try insert(
                Node(kind: .characterDevice(major: entry.deviceMajor, minor: entry.deviceMinor),
                     permissions: entry.permissions, uid: entry.uid, gid: entry.gid, mtime: entry.mtime), at: dest)
        case .blockDevice:
            try insert(
                Node(kind: .blockDevice(major: entry.deviceMajor, minor: entry.deviceMinor),
                     permissions: entry.permissions, uid: entry.uid, gid: entry.gid, mtime: entry.mtime), at: dest)
        case .fifo:
            try insert(
                Node(kind: .fifo, permissions: entry.permissions, uid: entry.uid, gid: entry.gid, mtime: entry.mtime),
                at: dest)
        case .socket:
            try insert(
                Node(kind: .socket, permissions: entry.permissions, uid: entry.uid, gid: entry.gid, mtime: entry.mtime),
                at: dest)
        }
    }

    /// Copies a host directory into the tree under `prefix`. Modes and link targets come from the
    /// host; owners come from `owner` (never the host's); hard links are preserved.
    @discardableResult
    public func applyDirectory(_ hostPath: String, label: String? = nil, under prefix: String = "/",
                               owner: OwnerOverride = OwnerOverride()) throws -> Int
    {
        let layer = label ?? hostPath
        var seen: [UInt64: Node] = [:]  // inode -> node, for hard links
        var count = 0
        func visit(_ host: String, _ treePath: String) throws {
            var st = stat()
            guard lstat(host, &st) == 0 else {
                throw LayerError.unreadable(layer: layer, path: host, why: String(cString: strerror(errno)))
            }
            let perms = UInt32(st.st_mode) & 0o7777
            let mtime = Int64(st.st_mtim.tv_sec)
            switch UInt32(st.st_mode) & UInt32(S_IFMT) {
            case UInt32(S_IFDIR):
                if treePath != "/" || prefix != "/" {
                    try insert(Node(kind: .directory, permissions: perms, uid: owner.uid, gid: owner.gid, mtime: mtime),
                               at: join(prefix, treePath))
                }
                let names = try FileManager.default.contentsOfDirectory(atPath: host).sorted()
                for n in names { try visit(host + "/" + n, (treePath == "/" ? "" : treePath) + "/" + n) }
            case UInt32(S_IFLNK):
                var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlink(host, &buf, buf.count - 1)
                guard n >= 0 else {
                    throw LayerError.unreadable(layer: layer, path: host, why: String(cString: strerror(errno)))
                }
                let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if Self.symlinkEscapes(path: treePath, target: target) {
                    throw LayerError.escapesRoot(layer: layer, entry: treePath, what: "is a symlink to '\(target)', which points")
                }
                try insert(Node(kind: .symlink(target), permissions: 0o777, uid: owner.uid, gid: owner.gid, mtime: mtime),
                           at: join(prefix, treePath))
            case UInt32(S_IFREG):
                let ino = UInt64(st.st_ino)
                if st.st_nlink > 1, let existing = seen[ino] {
                    try insert(existing, at: join(prefix, treePath))
                } else {
                    let content = try spoolHostFile(host, size: Int64(st.st_size), layer: layer)
                    let node = try insert(
                        Node(kind: .file(content), permissions: perms, uid: owner.uid, gid: owner.gid, mtime: mtime),
                        at: join(prefix, treePath))
                    if st.st_nlink > 1 { seen[ino] = node }
                }
            default:
                // Devices, fifos and sockets in a host directory would carry host state: refuse.
                throw LayerError.unreadable(
                    layer: layer, path: host,
                    why: "special files (devices, fifos, sockets) are not taken from host directories; declare them in the spec")
            }
            count += 1
        }
        try visit(hostPath, "/")
        return count
    }

    /// Reads a host file into the spool (or inline when small).
    public func spoolHostFile(_ host: String, size: Int64, layer: String) throws -> Content {
        let fd = open(host, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LayerError.unreadable(layer: layer, path: host, why: String(cString: strerror(errno))) }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 1 << 18)
        if size <= Int64(ContentSpool.inlineLimit) {
            var out: [UInt8] = []
            while true {
                let n = read(fd, &buf, buf.count)
                if n < 0 { throw LayerError.unreadable(layer: layer, path: host, why: String(cString: strerror(errno))) }
                if n == 0 { break }
                out.append(contentsOf: buf[0..<n])
            }
            return Content(bytes: out)
        }
        let w = spool.beginFile()
        while true {
            let n = read(fd, &buf, buf.count)
            if n < 0 { throw LayerError.unreadable(layer: layer, path: host, why: String(cString: strerror(errno))) }
            if n == 0 { break }
            try buf.withUnsafeBytes { try w.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        return w.finish()
    }

    /// Places a deep copy of `other`'s directories under `prefix` (replacing what was there),
    /// sharing its file nodes, so the same image used by several containers is stored once, as
    /// hard links. `other` must use this tree's spool.
    public func graft(_ other: FileTree, at prefix: String) throws {
        guard other.spool === spool else { throw Error.spool("graft needs trees that share one content spool") }
        func copyDir(_ d: Node) -> Node {
            let n = Node(kind: .directory, permissions: d.permissions, uid: d.uid, gid: d.gid, mtime: d.mtime, xattrs: d.xattrs)
            for (name, child) in d.children { n.children[name] = child.isDirectory ? copyDir(child) : child }
            return n
        }
        remove(prefix)
        try insert(copyDir(other.root), at: prefix)
    }
}
