// The appliance's software bill of materials as an SPDX 2.3 JSON document, written next to the
// manifest: one package per installed Debian package (name, version, sha256 of the .deb, its
// apt origin and a `pkg:deb` purl), the appliance as the described root that CONTAINS them, and
// DEPENDS_ON edges from each package's Depends/Pre-Depends. Times come from SOURCE_DATE_EPOCH and
// the namespace from the contents, so the same build writes the same bytes.

import Crypto
import Foundation
import IngotSources

/// An SPDX 2.3 document (the JSON serialisation's field names).
public struct SBOM: Codable, Equatable, Sendable {
    public struct CreationInfo: Codable, Equatable, Sendable {
        public var created: String
        public var creators: [String]
    }
    public struct Checksum: Codable, Equatable, Sendable {
        public var algorithm: String
        public var checksumValue: String
    }
    public struct ExternalRef: Codable, Equatable, Sendable {
        public var referenceCategory: String
        public var referenceType: String
        public var referenceLocator: String
    }
    public struct Package: Codable, Equatable, Sendable {
        public var SPDXID: String
        public var name: String
        public var versionInfo: String?
        public var supplier: String?
        public var originator: String?
        public var downloadLocation: String
        public var filesAnalyzed: Bool
        public var checksums: [Checksum]?
        public var homepage: String?
        public var sourceInfo: String?
        public var licenseConcluded: String
        public var licenseDeclared: String
        public var copyrightText: String
        public var comment: String?
        public var externalRefs: [ExternalRef]?
        public var primaryPackagePurpose: String?
    }
    public struct Relationship: Codable, Equatable, Sendable {
        public var spdxElementId: String
        public var relationshipType: String
        public var relatedSpdxElement: String
    }

    public var spdxVersion = "SPDX-2.3"
    public var dataLicense = "CC0-1.0"
    public var SPDXID = "SPDXRef-DOCUMENT"
    public var name: String
    public var documentNamespace: String
    public var creationInfo: CreationInfo
    public var packages: [Package]
    public var relationships: [Relationship]

    /// The SBOM of a build.
    /// - Parameters:
    ///   - name: the appliance name; `board` and `arch` say what it was built for.
    ///   - packages: the installed packages (the manifest's `packages`).
    ///   - epoch: SOURCE_DATE_EPOCH, the document's creation time.
    public init(name: String, board: String, arch: String, packages: [InstalledPackage], epoch: Int64) {
        let root = "SPDXRef-Appliance"
        self.name = "\(name)-\(board)"
        var ids: [String: String] = [:]
        var used = Set<String>()
        for p in packages {
            var id = "SPDXRef-Package-deb-" + Self.idText("\(p.name)-\(p.arch)-\(p.version)")
            if used.contains(id) { id += "-" + p.sha256.prefix(12) }
            used.insert(id)
            ids["\(p.name)|\(p.arch)|\(p.sha256)"] = id
        }
        var list: [Package] = [
            Package(
                SPDXID: root, name: name, versionInfo: nil, supplier: nil, originator: nil,
                downloadLocation: "NOASSERTION",
                filesAnalyzed: false, checksums: nil, homepage: nil, sourceInfo: nil, licenseConcluded: "NOASSERTION",
                licenseDeclared: "NOASSERTION", copyrightText: "NOASSERTION",
                comment: "Ingot appliance '\(name)' for board \(board) (\(arch))", externalRefs: nil,
                primaryPackagePurpose: "OPERATING-SYSTEM")
        ]
        var relationships = [
            Relationship(spdxElementId: "SPDXRef-DOCUMENT", relationshipType: "DESCRIBES", relatedSpdxElement: root)
        ]
        var byName: [String: String] = [:]
        for p in packages { byName[p.name] = byName[p.name] ?? ids["\(p.name)|\(p.arch)|\(p.sha256)"] }
        for p in packages {
            guard let id = ids["\(p.name)|\(p.arch)|\(p.sha256)"] else { continue }
            let fromMirror = p.origin.hasPrefix("http") || p.origin.hasPrefix("lock ") || p.origin.hasPrefix("apt ")
            list.append(
                Package(
                    SPDXID: id, name: p.name, versionInfo: p.version,
                    supplier: fromMirror ? "Organization: Debian" : nil,
                    originator: p.maintainer.map(Self.actor),
                    downloadLocation: p.origin.hasPrefix("http") ? p.origin : "NOASSERTION",
                    filesAnalyzed: false, checksums: [Checksum(algorithm: "SHA256", checksumValue: p.sha256)],
                    homepage: p.homepage.flatMap { $0.hasPrefix("http") ? $0 : nil },
                    sourceInfo: p.source.map { "built from the Debian source package \($0)" },
                    licenseConcluded: "NOASSERTION", licenseDeclared: "NOASSERTION", copyrightText: "NOASSERTION",
                    comment: "used by " + p.usedBy.joined(separator: ", ")
                        + (p.locked ? "" : "; not pinned by the lock"),
                    externalRefs: [
                        ExternalRef(
                            referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: Self.purl(p))
                    ], primaryPackagePurpose: p.name.hasPrefix("lib") ? "LIBRARY" : "APPLICATION"))
            relationships.append(
                Relationship(spdxElementId: root, relationshipType: "CONTAINS", relatedSpdxElement: id))
            for d in p.depends {
                if let target = byName[d], target != id {
                    relationships.append(
                        Relationship(spdxElementId: id, relationshipType: "DEPENDS_ON", relatedSpdxElement: target))
                }
            }
        }
        self.packages = list
        self.relationships = relationships
        let created = Date(timeIntervalSince1970: TimeInterval(epoch))
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        self.creationInfo = CreationInfo(
            created: f.string(from: created), creators: ["Tool: ingot-\(IngotVersion.current)"])
        var h = SHA256()
        h.update(data: Data("\(name)|\(board)|\(arch)".utf8))
        for p in packages { h.update(data: Data("|\(p.name) \(p.arch) \(p.version) \(p.sha256)".utf8)) }
        let digest = h.finalize().map { String(format: "%02x", $0) }.joined()
        self.documentNamespace = "https://ingot.invalid/spdx/\(Self.idText(name))-\(Self.idText(board))-\(digest)"
    }

    /// Sorted-key, pretty JSON with a trailing newline.
    public func encoded() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var d = try enc.encode(self)
        d.append(0x0A)
        return d
    }

    /// `[A-Za-z0-9.-]` only, as SPDX identifiers require.
    static func idText(_ s: String) -> String {
        String(s.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") ? $0 : "-" })
    }

    /// `Name <mail>` → `Organization: Name (mail)` (Debian maintainers are mostly teams).
    static func actor(_ maintainer: String) -> String {
        if let lt = maintainer.firstIndex(of: "<"), let gt = maintainer.lastIndex(of: ">"), lt < gt {
            let who = maintainer[..<lt].trimmingCharacters(in: .whitespaces)
            return "Organization: \(who) (\(maintainer[maintainer.index(after: lt)..<gt]))"
        }
        return "Organization: \(maintainer)"
    }

    /// `pkg:deb/debian/NAME@VERSION?arch=ARCH` with the version percent-encoded.
    static func purl(_ p: InstalledPackage) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: ".-_~")
        let v = p.version.addingPercentEncoding(withAllowedCharacters: allowed) ?? p.version
        let n = p.name.addingPercentEncoding(withAllowedCharacters: allowed) ?? p.name
        return "pkg:deb/debian/\(n)@\(v)?arch=\(p.arch)"
    }
}
