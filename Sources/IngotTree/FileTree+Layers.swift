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
    case replacesDirectory(layer: String, entry: String, path: String, kind: String, children: Int)
    case tree(layer: String, why: String)

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
        case .tree(let layer, let why):
            return "\(layer): \(why)"
        case .replacesDirectory(let layer, let entry, let path, let kind, let children):
            return
                "\(layer): entry '\(entry)' replaces the directory \(path), which holds \(children) entries from earlier "
                + "layers, with \(kind); \(path) must stay a directory (Ingot's init and the system rely on it) — fix the layer"
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
        let reader: ArchiveReader
        do {
            reader = try ArchiveReader(path: path, formats: .all)
        } catch var error as ArchiveError {
            error.archive = name
            throw error
        }
        var base: Int64?
        // An uncompressed tar's file data is referenced in place rather than copied to the spool.
        let attach = { [spool] () throws -> Int64 in
            if let base { return base }
            let b = try spool.attachSource(path: path)
            base = b
            return b
        }
        var count = 0
        do {
            while let entry = try reader.next() {
                if let include, let clean = Self.sanitize(entry.path), !include(clean) {
                    try reader.skipData()
                    continue
                }
                try applyEntry(entry, reader: reader, layer: name, prefix: prefix, attach: attach)
                count += 1
            }
        } catch var error as ArchiveError {
            // Name the layer as the user knows it, not the store blob it was read from.
            error.archive = name
            throw error
        } catch let error as FileTree.Error {
            throw LayerError.tree(layer: name, why: "\(error)")
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
        guard let base = comps.last else { return }
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
        // A top-level system directory (/etc, /bin, /usr...) turned into a file breaks everything
        // after it; OCI allows it, but no appliance layer means it. (A symlink is allowed: merged
        // /usr layers turn /bin into `usr/bin`.)
        if entry.kind != .directory, entry.kind != .symlink, comps.count == 1, let existing = lookup(dest),
            existing.isDirectory, !existing.children.isEmpty
        {
            let kind: String
            switch entry.kind {
            case .hardlink: kind = "a hard link"
            case .file: kind = "a regular file"
            default: kind = "a special file"
            }
            throw LayerError.replacesDirectory(
                layer: layer, entry: entry.path, path: dest, kind: kind, children: existing.children.count)
        }
        switch entry.kind {
        case .directory:
            try insert(
                Node(
                    kind: .directory, permissions: entry.permissions, uid: entry.uid, gid: entry.gid,
                    mtime: entry.mtime, xattrs: entry.xattrs), at: dest)
        case .file:
            let content: Content
            if reader.currentEntryIsSparse {
                // Holes stay holes in the spool (zeros when read), and the apparent size is kept:
                // squashfs stores all-zero blocks as sparse, other outputs write the zeros.
                let w = spool.beginFile()
                let end = try reader.readBlocks { offset, bytes in try w.write(bytes, at: offset) }
                content = w.finish(size: max(end, entry.size))
            } else if entry.size <= Int64(ContentSpool.inlineLimit) {
                content = Content(bytes: try reader.readAll())
            } else if let stored = reader.storedDataRange(), stored.size == entry.size {
                content = Content(spoolOffset: try attach() + stored.offset, size: stored.size)
            } else {
                let w = spool.beginFile()
                try reader.readData { try w.write($0) }
                content = w.finish()
            }
            try insert(
                Node(
                    kind: .file(content), permissions: entry.permissions, uid: entry.uid, gid: entry.gid,
                    mtime: entry.mtime, xattrs: entry.xattrs), at: dest)
        case .symlink:
            let target = entry.linkTarget ?? ""
            if Self.symlinkEscapes(path: clean, target: target) {
                throw LayerError.escapesRoot(
                    layer: layer, entry: entry.path, what: "is a symlink to '\(target)', which points")
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
                Node(
                    kind: .characterDevice(major: entry.deviceMajor, minor: entry.deviceMinor),
                    permissions: entry.permissions, uid: entry.uid, gid: entry.gid, mtime: entry.mtime), at: dest)
        case .blockDevice:
            try insert(
                Node(
                    kind: .blockDevice(major: entry.deviceMajor, minor: entry.deviceMinor),
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
    public func applyDirectory(
        _ hostPath: String, label: String? = nil, under prefix: String = "/",
        owner: OwnerOverride = OwnerOverride()
    ) throws -> Int {
        let layer = label ?? hostPath
        var seen: [UInt64: Node] = [:]  // inode -> node, for hard links
        var count = 0
        func visit(_ host: String, _ treePath: String) throws {
            var st = stat()
            // The top is followed when it is a symlink (`dir: ./overlay` may be a link to the real
            // tree); links inside it are copied as links.
            let top = treePath == "/"
            guard (top ? stat(host, &st) : lstat(host, &st)) == 0 else {
                let why =
                    errno == ELOOP
                    ? "it is a symlink loop (a link that leads back to itself)" : String(cString: strerror(errno))
                throw LayerError.unreadable(layer: layer, path: host, why: why)
            }
            if top, st.st_mode & S_IFMT != S_IFDIR {
                throw LayerError.unreadable(
                    layer: layer, path: host,
                    why: "it is \(FileKind.describe(st.st_mode)), not a directory; use tar: for archives")
            }
            let perms = UInt32(st.st_mode) & 0o7777
            let mtime = Int64(st.st_mtim.tv_sec)
            switch UInt32(st.st_mode) & UInt32(S_IFMT) {
            case UInt32(S_IFDIR):
                if treePath != "/" || prefix != "/" {
                    try insert(
                        Node(kind: .directory, permissions: perms, uid: owner.uid, gid: owner.gid, mtime: mtime),
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
                    throw LayerError.escapesRoot(
                        layer: layer, entry: treePath, what: "is a symlink to '\(target)', which points")
                }
                try insert(
                    Node(kind: .symlink(target), permissions: 0o777, uid: owner.uid, gid: owner.gid, mtime: mtime),
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
                    why:
                        "special files (devices, fifos, sockets) are not taken from host directories; declare them in the spec"
                )
            }
            count += 1
        }
        try visit(hostPath, "/")
        return count
    }

    /// Reads a host file into the spool (or inline when small). Only a regular file is read
    /// (symlinks followed): a FIFO would block, a device such as /dev/zero would never end. It
    /// is read to exactly the size it had when opened; a file that grows or shrinks meanwhile
    /// is an error rather than a silently different image.
    /// - Parameter size: ignored (the size is taken from the open file); kept for callers.
    public func spoolHostFile(_ host: String, size: Int64 = 0, layer: String) throws -> Content {
        func fail(_ why: String) -> LayerError { .unreadable(layer: layer, path: host, why: why) }
        var st = stat()
        guard stat(host, &st) == 0 else {
            throw fail(
                errno == ELOOP
                    ? "it is a symlink loop (a link that leads back to itself)" : String(cString: strerror(errno)))
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw fail("it is \(FileKind.describe(st.st_mode)); only regular files are copied into an image")
        }
        let fd = open(host, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw fail(String(cString: strerror(errno))) }
        defer { close(fd) }
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw fail(
                "it changed into \(FileKind.describe(st.st_mode)) while being opened; only regular files are copied")
        }
        let expected = Int64(st.st_size)
        var buf = [UInt8](repeating: 0, count: 1 << 18)
        var total: Int64 = 0
        func next(_ limit: Int) throws -> Int {
            while true {
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, limit)) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw fail(String(cString: strerror(errno)))
                }
                return n
            }
        }
        func checkEnd() throws {
            guard total == expected else { throw fail("it shrank from \(expected) to \(total) bytes while being read") }
            if try next(1) > 0 { throw fail("it grew past its \(expected) bytes while being read") }
        }
        if expected <= Int64(ContentSpool.inlineLimit) {
            var out: [UInt8] = []
            while total < expected {
                let n = try next(Int(expected - total))
                if n == 0 { break }
                out.append(contentsOf: buf[0..<n])
                total += Int64(n)
            }
            try checkEnd()
            return Content(bytes: out)
        }
        let w = spool.beginFile()
        while total < expected {
            let n = try next(Int(min(Int64(buf.count), expected - total)))
            if n == 0 { break }
            try buf.withUnsafeBytes { try w.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            total += Int64(n)
        }
        try checkEnd()
        return w.finish()
    }

    /// Places a deep copy of `other`'s directories under `prefix` (replacing what was there),
    /// sharing its file nodes, so the same image used by several containers is stored once, as
    /// hard links. `other` must use this tree's spool.
    public func graft(_ other: FileTree, at prefix: String) throws {
        guard other.spool === spool else { throw Error.spool("graft needs trees that share one content spool") }
        func copyDir(_ d: Node) -> Node {
            let n = Node(
                kind: .directory, permissions: d.permissions, uid: d.uid, gid: d.gid, mtime: d.mtime, xattrs: d.xattrs)
            for (name, child) in d.children { n.children[name] = child.isDirectory ? copyDir(child) : child }
            return n
        }
        remove(prefix)
        try insert(copyDir(other.root), at: prefix)
    }
}
