// Every Debian package a build resolved (kernel, bootloader, firmware and each `deb:` closure),
// with what used it: the appliance's package inventory, listed in the manifest and written as
// its SBOM. Shared by the tasks of one build, hence a lock.

import Foundation
import Synchronization

/// One package installed into (or used to boot) the appliance.
public struct InstalledPackage: Codable, Sendable, Equatable {
    public var name: String
    public var version: String
    /// The package's own architecture (`arm64`, `amd64`, `all`).
    public var arch: String
    /// sha256 of the .deb.
    public var sha256: String
    /// The apt URI or lock entry it came from.
    public var origin: String
    public var locked: Bool
    /// `Source:` package (name without version), when it differs from the name.
    public var source: String?
    public var maintainer: String?
    public var homepage: String?
    /// Names this package `Depends`/`Pre-Depends` on (first alternatives).
    public var depends: [String]
    /// The images (`deb:nginx-light`) or board parts (`linux-image-amd64`) that use it.
    public var usedBy: [String]
}

/// Collects the packages of one build.
public final class PackageLedger: Sendable {
    private let byKey = Mutex<[String: InstalledPackage]>([:])

    public init() {}

    /// Records `p` as used by `user`.
    public func add(_ p: ResolvedPackage, usedBy user: String) {
        let key = "\(p.name)|\(p.arch)|\(p.debDigest.hex)"
        byKey.withLock { byKey in
            if var existing = byKey[key] {
                if !existing.usedBy.contains(user) { existing.usedBy.append(user) }
                existing.usedBy.sort()
                byKey[key] = existing
                return
            }
            let source = p.control["Source"].flatMap { $0.split(separator: " ").first.map(String.init) }
            let depends = Debian.dependencyNames(
                [p.control["Pre-Depends"], p.control["Depends"]].compactMap { $0 }.joined(separator: ", "))
            byKey[key] = InstalledPackage(
                name: p.name, version: p.version, arch: p.arch, sha256: p.debDigest.hex, origin: p.input.origin,
                locked: p.input.locked, source: source == p.name ? nil : source, maintainer: p.control["Maintainer"],
                homepage: p.control["Homepage"], depends: Array(Set(depends)).sorted(), usedBy: [user])
        }
    }

    /// The packages, sorted by name, architecture and version.
    public var packages: [InstalledPackage] {
        byKey.withLock { byKey in
            byKey.values.sorted { ($0.name, $0.arch, $0.version) < ($1.name, $1.arch, $1.version) }
        }
    }
}
