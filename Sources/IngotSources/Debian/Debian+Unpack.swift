// Every .deb is inflated once: its data.tar.{xz,zst,gz} becomes an uncompressed tar in the store
// (whose file bytes a tree references in place, never copied), its control fields and
// maintainer scripts a small record, and its entries a listing. All three are keyed by the
// .deb's digest (`refs/deb-unpacked/<hex>`), so a warm build reads no compressed data at all.

import Foundation
import IngotTree
import Logging

#if canImport(Glibc)
    import Glibc
#endif

extension Debian {
    /// A .deb as unpacked into the store.
    public struct Unpacked: Codable, Sendable {
        /// Bumped when the record's meaning changes; older records are unpacked again.
        static let format = 1
        public var format: Int
        /// The control file's fields.
        public var control: [String: String]
        /// `preinst`, `postinst`, `prerm`, `postrm`, `config`, `triggers`, `conffiles` (those present).
        public var scripts: [String: String]
        /// The data member's name (`data.tar.xz`).
        public var dataMember: String
        /// The data as an uncompressed tar blob.
        public var tar: Digest
        /// `Entry` lines of the data tar, as text (see `Entry.parse`).
        public var listing: Digest
        public var entryCount: Int
    }

    /// One entry of a package's data: its cleaned absolute path, kind and link target.
    public struct Entry: Sendable, Hashable {
        public enum Kind: Character, Sendable {
            case file = "f", directory = "d", symlink = "l", hardlink = "h", other = "o"
        }
        public var path: String
        public var kind: Kind
        public var target: String?

        var line: String { "\(kind.rawValue)\t\(path)" + (target.map { "\t" + $0 } ?? "") }

        static func parse(_ text: String) -> [Entry] {
            text.split(separator: "\n").compactMap { line in
                let cols = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
                guard cols.count >= 2, let k = cols[0].first, let kind = Kind(rawValue: k) else { return nil }
                return Entry(path: String(cols[1]), kind: kind, target: cols.count == 3 ? String(cols[2]) : nil)
            }
        }
    }

    /// The unpacked form of a stored .deb, unpacking it on first use.
    /// - Parameters:
    ///   - deb: the .deb blob (already verified against apt or the lock).
    ///   - store: the content store.
    ///   - name: how errors name the package (its file name or path).
    static func unpacked(_ deb: Digest, store: ContentStore, name: String) throws -> Unpacked {
        if let u = store.record(Unpacked.self, kind: "deb-unpacked", key: deb.hex), u.format == Unpacked.format,
            store.contains(u.tar), store.contains(u.listing)
        {
            return u
        }
        let u = try unpack(debAt: try store.path(for: deb), store: store, name: name)
        _ = try store.putRecord(u, kind: "deb-unpacked", key: deb.hex)
        return u
    }

    /// The entries of an unpacked package.
    static func entries(of u: Unpacked, store: ContentStore) throws -> [Entry] {
        Entry.parse(String(decoding: try store.bytes(of: u.listing), as: UTF8.self))
    }

    /// Reads a .deb file: control.tar.* → fields and scripts, data.tar.* → an uncompressed tar blob.
    static func unpack(debAt path: String, store: ContentStore, name: String) throws -> Unpacked {
        var control: [String: String]?
        var scripts: [String: String] = [:]
        var data: (Digest, String)?
        try ArchiveProbe.check(path, as: .ar)
        let scratch = "\(store.root)/tmp/member-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        defer { unlink(scratch) }
        do {
            let reader = try ArchiveReader(path: path, formats: .ar)
            while let entry = try reader.next() {
                let member = entry.path
                if member.hasPrefix("control.tar") || member.hasPrefix("data.tar") {
                    try spool(reader, to: scratch)
                    if member.hasPrefix("control.tar") {
                        (control, scripts) = try readControl(tarAt: scratch, name: name)
                    } else {
                        data = (try inflate(scratch, store: store, name: "\(name) (\(member))"), member)
                    }
                    unlink(scratch)
                } else {
                    try reader.skipData()
                }
            }
        } catch let error as ArchiveError {
            // The reader names the store blob; the user knows the package by `name`.
            let member = error.entry.map { " (member '\($0)')" } ?? ""
            throw Error.corrupt(
                path: name,
                underlying: "\(error.message)\(member); the .deb is corrupt or truncated. Re-download or rebuild it")
        }
        guard let control else { throw Error.missingMember(path: name, member: "control.tar.*") }
        guard let data else { throw Error.missingMember(path: name, member: "data.tar.*") }
        let tarPath = try store.path(for: data.0)
        var lines: [String] = []
        do {
            let reader = try ArchiveReader(path: tarPath, formats: .tar)
            while let e = try reader.next() {
                try reader.skipData()
                guard let clean = FileTree.sanitize(e.path), clean != "/" else { continue }
                let kind: Entry.Kind
                switch e.kind {
                case .file: kind = .file
                case .directory: kind = .directory
                case .symlink: kind = .symlink
                case .hardlink: kind = .hardlink
                default: kind = .other
                }
                let target =
                    kind == .hardlink
                    ? e.linkTarget.flatMap(FileTree.sanitize) : (kind == .symlink ? e.linkTarget : nil)
                lines.append(Entry(path: clean, kind: kind, target: target).line)
            }
        } catch let error as ArchiveError {
            throw Error.corrupt(path: name, underlying: "\(error.message) in its data.tar; re-download or rebuild it")
        }
        let listing = try store.put(bytes: Array((lines.joined(separator: "\n") + "\n").utf8))
        return Unpacked(
            format: Unpacked.format, control: control, scripts: scripts, dataMember: data.1, tar: data.0,
            listing: listing,
            entryCount: lines.count)
    }

    /// Copies the current archive member to `path`.
    private static func spool(_ reader: ArchiveReader, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ContentStore.Error.io(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        try reader.readData { buf in
            var off = 0
            while off < buf.count {
                let n = write(fd, buf.baseAddress! + off, buf.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ContentStore.Error.io(path: path, reason: String(cString: strerror(errno)))
                }
                off += n
            }
        }
    }

    /// Decompresses a (possibly compressed) tar member into an uncompressed tar blob.
    private static func inflate(_ path: String, store: ContentStore, name: String) throws -> Digest {
        let reader = try ArchiveReader(path: path, formats: .raw)
        guard try reader.next() != nil else { throw Error.missingMember(path: name, member: "data.tar.*") }
        return try store.put(source: name) { sink in try reader.readData { try sink.write($0) } }
    }

    /// Control fields and the maintainer scripts of a control.tar.
    private static func readControl(tarAt path: String, name: String) throws -> ([String: String], [String: String]) {
        try ArchiveProbe.check(path, as: .tar)
        let reader = try ArchiveReader(path: path, formats: .tar)
        var control: [String: String]?
        var scripts: [String: String] = [:]
        let wanted: Set<String> = ["preinst", "postinst", "prerm", "postrm", "config", "triggers", "conffiles"]
        while let entry = try reader.next() {
            let p = entry.path.hasPrefix("./") ? String(entry.path.dropFirst(2)) : entry.path
            if p == "control" {
                let bytes = try reader.readAll(limit: 1 << 20)
                control = parseStanzas(String(decoding: bytes, as: UTF8.self)).first
            } else if wanted.contains(p), entry.kind == .file {
                scripts[p] = String(decoding: try reader.readAll(limit: 1 << 20), as: UTF8.self)
            } else {
                try reader.skipData()
            }
        }
        guard let control else { throw Error.noControl(path: name) }
        return (control, scripts)
    }
}
