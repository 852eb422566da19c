// Debian control data: the RFC 822-style stanzas of `DEBIAN/control` and `apt-cache show`, the
// dependency fields, and the errors of reading a .deb (Debian+Unpack.swift reads them).

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

    /// Every package name a relation field mentions (`Replaces`, `Conflicts`, `Provides`), all
    /// alternatives included, without versions or architecture qualifiers.
    public static func relationNames(_ field: String) -> [String] {
        field.split(whereSeparator: { $0 == "," || $0 == "|" }).compactMap { clause in
            let name =
                clause.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").first.map(String.init)
                ?? ""
            let bare = name.split(separator: ":").first.map(String.init) ?? ""
            return bare.isEmpty ? nil : bare
        }
    }
}
