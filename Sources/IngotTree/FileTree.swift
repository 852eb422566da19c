// The in-memory root tree every output is written from: directories, files, links and devices
// with owners, modes, times and xattrs that come from archives or the spec, never from the host.
// File content is not held here: it lives in a `ContentSpool` (or inline for small generated
// files) and is streamed to writers on demand.

import Foundation

/// One inode of the tree. Hard links are the same `Node` object reachable under several paths;
/// directories are never shared.
public final class Node {
    public enum Kind {
        case directory
        case file(Content)
        case symlink(String)
        case characterDevice(major: UInt32, minor: UInt32)
        case blockDevice(major: UInt32, minor: UInt32)
        case fifo
        case socket
    }

    public var kind: Kind
    /// Permission bits including setuid/setgid/sticky (`0o7777` mask); the type lives in `kind`.
    public var permissions: UInt32
    public var uid: UInt32
    public var gid: UInt32
    /// Modification time in seconds since the epoch (normalised to SOURCE_DATE_EPOCH by builds).
    public var mtime: Int64
    /// Extended attributes, e.g. `security.capability`. Writers emit them sorted by name.
    public var xattrs: [String: [UInt8]]
    /// Children of a directory by name; empty for other kinds.
    public var children: [String: Node]

    public init(
        kind: Kind, permissions: UInt32, uid: UInt32 = 0, gid: UInt32 = 0, mtime: Int64 = 0,
        xattrs: [String: [UInt8]] = [:]
    ) {
        self.kind = kind
        self.permissions = permissions & 0o7777
        self.uid = uid
        self.gid = gid
        self.mtime = mtime
        self.xattrs = xattrs
        self.children = [:]
    }

    public var isDirectory: Bool {
        if case .directory = kind { return true }
        return false
    }

    /// The file's content, if this is a regular file.
    public var content: Content? {
        if case .file(let c) = kind { return c }
        return nil
    }

    /// POSIX file type bits (`S_IFREG`, `S_IFDIR`, ...).
    public var typeBits: UInt32 {
        switch kind {
        case .directory: return 0o040000
        case .file: return 0o100000
        case .symlink: return 0o120000
        case .characterDevice: return 0o020000
        case .blockDevice: return 0o060000
        case .fifo: return 0o010000
        case .socket: return 0o140000
        }
    }

    /// Full `st_mode`: type bits | permissions.
    public var mode: UInt32 { typeBits | permissions }

    /// Children sorted by name (byte order), the order every writer uses.
    public var sortedChildren: [(name: String, node: Node)] {
        children.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            .map { ($0, children[$0]!) }
    }
}

/// The bytes of a regular file: inline, or a range of the tree's spool file.
public struct Content: Hashable, Sendable {
    public enum Storage: Hashable, Sendable {
        case inline([UInt8])
        case spool(offset: Int64)
    }
    public let size: Int64
    public let storage: Storage

    public init(bytes: [UInt8]) {
        size = Int64(bytes.count)
        storage = .inline(bytes)
    }
    public init(spoolOffset: Int64, size: Int64) {
        self.size = size
        storage = .spool(offset: spoolOffset)
    }
}

/// A composed root filesystem. Paths are absolute POSIX paths inside the tree ("/etc/hostname").
public final class FileTree {
    public let root: Node
    /// Where spooled file content lives; shared by trees derived from this one.
    public let spool: ContentSpool

    public enum Error: Swift.Error, CustomStringConvertible {
        case notADirectory(String)
        case notFound(String)
        case invalidPath(String)
        case spool(String)
        case symlinkLoop(String)
        case badName(path: String, problem: String)

        public var description: String {
            switch self {
            case .notADirectory(let p):
                return
                    "\(p) is not a directory in the image (an earlier layer or 'files:' entry made it a file or a link), "
                    + "so nothing can be placed under it"
            case .notFound(let p): return "\(p): no such path in the tree"
            case .invalidPath(let p): return "\(p): path is empty or not representable in the tree"
            case .spool(let m): return "content spool: \(m)"
            case .symlinkLoop(let p):
                return "\(p): resolving this path follows symlinks in a loop (or more than 40 deep) inside the image"
            case .badName(let p, let problem): return "'\(p)': the name \(problem)"
            }
        }
    }

    /// The longest file name (path component) squashfs, ext4 and Linux accept, in bytes.
    public static let maxNameBytes = 255

    /// - Parameters:
    ///   - spool: the content spool; a fresh one in the temporary directory when nil.
    ///   - rootPermissions: mode bits of `/`.
    public init(spool: ContentSpool? = nil, rootPermissions: UInt32 = 0o755) throws {
        self.spool = try spool ?? ContentSpool()
        root = Node(kind: .directory, permissions: rootPermissions)
    }

    /// Splits "/a/b/../c" into clean components, refusing nothing: `..` never climbs above `/`.
    public static func components(_ path: String) -> [String] {
        var out: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if !out.isEmpty { out.removeLast() }
                continue
            }
            out.append(String(part))
        }
        return out
    }

    public static func normalize(_ path: String) -> String {
        "/" + components(path).joined(separator: "/")
    }

    /// Looks a path up without following symlinks in the last component (intermediate symlinks
    /// are followed inside the tree).
    public func lookup(_ path: String) -> Node? {
        guard let (parent, name) = try? resolveParent(Self.components(path), create: false) else {
            return components(path).isEmpty ? root : nil
        }
        guard let name else { return parent }
        return parent.children[name]
    }

    private func components(_ path: String) -> [String] { Self.components(path) }

    /// Resolves all but the last component, following symlinks inside the tree (never outside
    /// it) and optionally creating missing directories with `parentPermissions`.
    func resolveParent(
        _ comps: [String], create: Bool, parentPermissions: UInt32 = 0o755, depth: Int = 0
    ) throws -> (Node, String?) {
        guard let last = comps.last else { return (root, nil) }
        var dir = root
        var walked: [String] = []
        for comp in comps.dropLast() {
            if let next = dir.children[comp] {
                switch next.kind {
                case .directory:
                    dir = next
                    walked.append(comp)
                case .symlink(let target):
                    guard depth < 40 else { throw Error.symlinkLoop("/" + comps.joined(separator: "/")) }
                    let base = target.hasPrefix("/") ? [] : walked
                    let resolved = Self.components((base + [target]).joined(separator: "/"))
                    let (p, n) = try resolveParent(
                        resolved + ["_"], create: create, parentPermissions: parentPermissions, depth: depth + 1)
                    _ = n
                    dir = p
                    walked = resolved
                default:
                    throw Error.notADirectory("/" + (walked + [comp]).joined(separator: "/"))
                }
            } else if create {
                try Self.checkName(comp, in: comps)
                let d = Node(kind: .directory, permissions: parentPermissions)
                dir.children[comp] = d
                dir = d
                walked.append(comp)
            } else {
                throw Error.notFound("/" + comps.joined(separator: "/"))
            }
        }
        return (dir, last)
    }

    /// Places `node` at `path`, creating parent directories (0755 root:root) as needed and
    /// replacing whatever was there. Replacing a directory with a directory keeps its children.
    @discardableResult
    public func insert(_ node: Node, at path: String) throws -> Node {
        let comps = components(path)
        guard !comps.isEmpty else {
            guard node.isDirectory else { throw Error.invalidPath(path) }
            root.permissions = node.permissions
            root.uid = node.uid
            root.gid = node.gid
            root.mtime = node.mtime
            root.xattrs = node.xattrs
            return root
        }
        let (parent, name) = try resolveParent(comps, create: true)
        guard let name_ = name else { throw Error.invalidPath(path) }
        try Self.checkName(name_, in: comps)
        if let existing = parent.children[name_], existing.isDirectory, node.isDirectory {
            existing.permissions = node.permissions
            existing.uid = node.uid
            existing.gid = node.gid
            existing.mtime = node.mtime
            existing.xattrs = node.xattrs
            return existing
        }
        parent.children[name_] = node
        return node
    }

    /// Refuses names no image format can hold: NUL (C strings cut there) and over 255 bytes.
    static func checkName(_ name: String, in comps: [String]) throws {
        if name.utf8.contains(0) {
            throw Error.badName(path: "/" + comps.joined(separator: "/"), problem: "contains a NUL character")
        }
        if name.utf8.count > maxNameBytes {
            throw Error.badName(
                path: "/" + comps.joined(separator: "/"),
                problem: "has a component of \(name.utf8.count) bytes; file names are limited to \(maxNameBytes) bytes")
        }
    }

    /// Removes the entry at `path` (and everything below it). Returns whether anything was there.
    @discardableResult
    public func remove(_ path: String) -> Bool {
        let comps = components(path)
        guard !comps.isEmpty, let (parent, name) = try? resolveParent(comps, create: false), let name
        else { return false }
        return parent.children.removeValue(forKey: name) != nil
    }

    // MARK: Convenience builders (used by the spec's `files`, the init generator and tests)

    @discardableResult
    public func addDirectory(
        _ path: String, permissions: UInt32 = 0o755, uid: UInt32 = 0, gid: UInt32 = 0, mtime: Int64 = 0
    ) throws -> Node {
        try insert(Node(kind: .directory, permissions: permissions, uid: uid, gid: gid, mtime: mtime), at: path)
    }

    @discardableResult
    public func addFile(
        _ path: String, bytes: [UInt8], permissions: UInt32 = 0o644, uid: UInt32 = 0, gid: UInt32 = 0,
        mtime: Int64 = 0
    ) throws -> Node {
        let content = bytes.count <= ContentSpool.inlineLimit ? Content(bytes: bytes) : try spool.append(bytes)
        return try insert(
            Node(kind: .file(content), permissions: permissions, uid: uid, gid: gid, mtime: mtime), at: path)
    }

    @discardableResult
    public func addFile(
        _ path: String, text: String, permissions: UInt32 = 0o644, uid: UInt32 = 0, gid: UInt32 = 0,
        mtime: Int64 = 0
    ) throws -> Node {
        try addFile(path, bytes: Array(text.utf8), permissions: permissions, uid: uid, gid: gid, mtime: mtime)
    }

    @discardableResult
    public func addSymlink(_ path: String, target: String, uid: UInt32 = 0, gid: UInt32 = 0, mtime: Int64 = 0)
        throws -> Node
    {
        try insert(Node(kind: .symlink(target), permissions: 0o777, uid: uid, gid: gid, mtime: mtime), at: path)
    }

    /// Makes `path` another name for the existing non-directory at `target`.
    @discardableResult
    public func addHardlink(_ path: String, target: String) throws -> Node {
        guard let node = lookup(target) else { throw Error.notFound(target) }
        guard !node.isDirectory else { throw Error.invalidPath(target) }
        return try insert(node, at: path)
    }

    // MARK: Walking

    /// Visits every entry depth-first in sorted order, parents before children. `/` is visited
    /// first with path "/".
    public func walk(_ body: (_ path: String, _ node: Node) throws -> Void) rethrows {
        try body("/", root)
        try walk(root, prefix: "", body)
    }

    private func walk(_ dir: Node, prefix: String, _ body: (String, Node) throws -> Void) rethrows {
        for (name, child) in dir.sortedChildren {
            let path = prefix + "/" + name
            try body(path, child)
            if child.isDirectory { try walk(child, prefix: path, body) }
        }
    }

    /// Number of paths naming each non-directory node (hard link count).
    public func linkCounts() -> [ObjectIdentifier: Int] {
        var counts: [ObjectIdentifier: Int] = [:]
        walk { _, node in
            if !node.isDirectory { counts[ObjectIdentifier(node), default: 0] += 1 }
        }
        return counts
    }

    /// Sets every node's mtime (reproducible builds).
    public func clampTimes(to epoch: Int64) {
        walk { _, node in node.mtime = epoch }
    }

    // MARK: Content

    /// Reads a file's whole content (for small files and tests).
    public func bytes(of content: Content) throws -> [UInt8] {
        switch content.storage {
        case .inline(let b): return b
        case .spool(let off): return try spool.read(offset: off, count: Int(content.size))
        }
    }

    /// Reads `count` bytes at `offset` within a file's content (clamped to its size).
    public func bytes(of content: Content, offset: Int64, count: Int) throws -> [UInt8] {
        let start = max(0, min(offset, content.size))
        let n = Int(min(Int64(count), content.size - start))
        guard n > 0 else { return [] }
        switch content.storage {
        case .inline(let b): return Array(b[Int(start)..<(Int(start) + n)])
        case .spool(let off): return try spool.read(offset: off + start, count: n)
        }
    }

    /// Streams a file's content in chunks of at most `chunkSize` bytes.
    public func readChunks(
        of content: Content, chunkSize: Int = 1 << 20, _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        switch content.storage {
        case .inline(let b):
            try b.withUnsafeBytes { try body($0) }
        case .spool(let off):
            var done: Int64 = 0
            var buf = [UInt8](repeating: 0, count: min(chunkSize, max(1, Int(content.size))))
            while done < content.size {
                let n = Int(min(Int64(buf.count), content.size - done))
                try spool.read(offset: off + done, into: &buf, count: n)
                try buf.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                done += Int64(n)
            }
        }
    }
}
