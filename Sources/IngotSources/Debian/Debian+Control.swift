// Debian control data: the RFC 822-style stanzas of `DEBIAN/control` and `apt-cache show`, and
// reading a .deb (an `ar` archive) into its control fields plus its data.tar as a stored blob.

import Foundation
import IngotTree
import Logging

/// Debian package helpers: control parsing and .deb reading.
public enum Debian {
    /// .deb problems; each names the file and what to do.
    public enum Error: Swift.Error, CustomStringConvertible {
        case corrupt(path: String, underlying: String)
        case missingMember(path: String, member: String)
        case noControl(path: String)

        public var description: String {
            switch self {
            case .corrupt(let path, let underlying):
                return "\(path): not a readable Debian package: \(underlying)"
            case .missingMember(let path, let member):
                return "\(path): the .deb has no \(member) member; it is truncated or not a Debian package. "
                    + "Re-download it (or delete it from the cache and rerun)."
            case .noControl(let path):
                return
                    "\(path): control.tar has no 'control' file; the package is malformed. Rebuild or re-download it."
            }
        }
    }

    /// Parses control stanzas (`Field: value`, continuation lines start with a space or tab).
    /// Field names keep their case as written; the first occurrence wins.
    public static func parseStanzas(_ text: String) -> [[String: String]] {
        var stanzas: [[String: String]] = []
        var current: [String: String] = [:]
        var lastKey: String?
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) {
                if !current.isEmpty { stanzas.append(current) }
                current = [:]
                lastKey = nil
                continue
            }
            if line.first == " " || line.first == "\t" {
                if let k = lastKey { current[k, default: ""] += "\n" + line.dropFirst() }
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon])
            let value = line[line.index(after: colon)...].drop(while: { $0 == " " || $0 == "\t" })
            if current[key] == nil { current[key] = String(value) }
            lastKey = key
        }
        if !current.isEmpty { stanzas.append(current) }
        return stanzas
    }

    /// The package names of a `Depends:` value, first alternative of each clause, without
    /// version constraints or architecture qualifiers.
    public static func dependencyNames(_ depends: String) -> [String] {
        depends.split(separator: ",").compactMap { clause in
            let first = clause.split(separator: "|").first.map(String.init) ?? ""
            let name = first.trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init) ?? ""
            let bare = name.split(separator: ":").first.map(String.init) ?? ""
            return bare.isEmpty ? nil : bare
        }
    }

    /// What a .deb holds, once read: its control fields and its data.tar blob.
    public struct Contents: Codable, Sendable {
        /// The control file's fields.
        public var control: [String: String]
        /// The data.tar.* member, stored as-is (its compression kept).
        public var data: Digest
        /// The member name (`data.tar.xz`), telling its compression.
        public var dataMember: String
    }

    /// Reads a .deb already in the store, caching the result under `refs/deb/<hex>`.
    /// - Parameters:
    ///   - deb: the .deb blob.
    ///   - store: the content store (data.tar goes there).
    ///   - name: how to name the file in errors (the original path or the apt file name).
    static func contents(of deb: Digest, store: ContentStore, name: String) throws -> Contents {
        if let cached = store.record(Contents.self, kind: "deb", key: deb.hex), store.contains(cached.data) {
            return cached
        }
        let path = try store.path(for: deb)
        let contents = try read(debAt: path, store: store, name: name)
        _ = try store.putRecord(contents, kind: "deb", key: deb.hex)
        return contents
    }

    /// Reads a .deb file: control.tar.* → fields, data.tar.* → a blob in `store`.
    static func read(debAt path: String, store: ContentStore, name: String) throws -> Contents {
        var control: [String: String]?
        var data: (Digest, String)?
        try ArchiveProbe.check(path, as: .ar)
        do {
            let reader = try ArchiveReader(path: path, formats: .ar)
            while let entry = try reader.next() {
                let member = entry.path
                if member.hasPrefix("control.tar") {
                    let blob = try store.put(source: "\(name) (\(member))") { sink in
                        try reader.readData { try sink.write($0) }
                    }
                    control = try readControl(tarAt: try store.path(for: blob), name: name)
                } else if member.hasPrefix("data.tar") {
                    let blob = try store.put(source: "\(name) (\(member))") { sink in
                        try reader.readData { try sink.write($0) }
                    }
                    data = (blob, member)
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
        return Contents(control: control, data: data.0, dataMember: data.1)
    }

    private static func readControl(tarAt path: String, name: String) throws -> [String: String] {
        try ArchiveProbe.check(path, as: .tar)
        let reader = try ArchiveReader(path: path, formats: .tar)
        while let entry = try reader.next() {
            let p = entry.path.hasPrefix("./") ? String(entry.path.dropFirst(2)) : entry.path
            if p == "control" {
                let bytes = try reader.readAll(limit: 1 << 20)
                if let stanza = parseStanzas(String(decoding: bytes, as: UTF8.self)).first { return stanza }
                break
            }
            try reader.skipData()
        }
        throw Error.noControl(path: name)
    }
}
