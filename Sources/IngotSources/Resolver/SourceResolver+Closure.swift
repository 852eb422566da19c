// `deb:` images are closures: apt's solver picks the packages (on a private empty status, for the
// board's architecture), the lock pins them, and each lands in the store once, unpacked once.
//
// With a lock that pins the closure, exactly the pinned packages are installed; apt is asked (at
// most once per state of the package lists) what it would pick now, and every difference is
// reported as drift. Without one, apt's answer is used and the packages are marked unlocked.

import Foundation
import IngotRegistry
import IngotTree
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A resolved `deb:` image: its packages in install order and the layer that stands in for
/// their maintainer scripts.
public struct DebianClosure: Sendable {
    public var request: DebianRequest
    /// Every package of the closure, sorted by name (the order their layers are applied in).
    public var packages: [ResolvedPackage]
    /// Files the maintainer scripts would have made (accounts, alternatives, CA bundle, ...).
    public var configuration: Layer?
    /// Drift against the lock and what the maintainer scripts did that the image does not have.
    public var warnings: [String]
}

/// Closure problems that are not apt's: files claimed by two packages.
public enum ClosureError: Swift.Error, CustomStringConvertible {
    case fileConflict(path: String, packages: [String], request: String)

    public var description: String {
        switch self {
        case .fileConflict(let path, let packages, let request):
            return "the closure of '\(request)' has two providers of \(path): \(packages.joined(separator: " and ")); "
                + "dpkg would refuse to install both (neither Replaces the other nor diverts the file). "
                + "Drop one of the packages from the image or pick versions that agree."
        }
    }
}

extension SourceResolver {
    /// The solver for this resolver's architecture, working in the store.
    var solver: AptSolver {
        AptSolver(
            arch: arch.debian, workDirectory: "\(store.root)/apt/\(arch.debian)", aptConfig: aptConfig, logger: logger)
    }

    /// Resolves, fetches and unpacks the closure of `request`.
    /// - Parameter request: the packages a `deb:` image names.
    /// - Returns: the packages (locked or not), the configuration layer and warnings.
    public func closure(_ request: DebianRequest) async throws -> DebianClosure {
        let debArch = arch.debian
        var warnings: [String] = []
        var pins: [(pin: AptPin, locked: Bool)] = []
        if let lock, let (_, entries) = lock.closure(request, arch: debArch) {
            pins = entries.map {
                (
                    AptPin(
                        name: $0.name, version: $0.version, arch: debArch, sha256: $0.sha256, size: -1, uri: "",
                        filename: $0.filename), true
                )
            }
            do {
                let now = try await aptClosure(request)
                warnings += Self.drift(pinned: entries, current: now, request: request, arch: debArch)
            } catch {
                warnings.append(
                    "cannot check the lock's closure of '\(request)' (\(debArch)) against the mirror: \(error)")
            }
        } else {
            let now = try await aptClosure(request)
            for p in now {
                if let e = lock?.entry(name: p.name, arch: debArch) {
                    if e.version != p.version {
                        warnings.append(
                            "\(p.name) drifted: the lock pins \(e.version), the mirror now has \(p.version) (\(debArch)); "
                                + "building the pinned version. Run `ingot lock` to move to the mirror's.")
                    }
                    pins.append(
                        (
                            AptPin(
                                name: e.name, version: e.version, arch: p.arch, sha256: e.sha256, size: -1, uri: p.uri,
                                filename: e.filename), true
                        ))
                } else {
                    pins.append((p, false))
                }
            }
            let unlocked = pins.filter { !$0.locked }.map(\.pin.name)
            if lock != nil, !unlocked.isEmpty {
                warnings.append(
                    "the lock does not pin the closure of '\(request)' (\(debArch)); apt's choice is used for "
                        + "\(unlocked.joined(separator: ", ")). Run `ingot lock --spec SPEC` to pin it.")
            }
        }
        try await fetch(pins.map(\.pin), locked: Set(pins.filter(\.locked).map(\.pin.name)))

        var packages: [ResolvedPackage] = []
        var unpacked: [Debian.Unpacked] = []
        for (pin, locked) in pins.sorted(by: { $0.pin.name < $1.pin.name }) {
            let deb = try Digest(parsing: pin.sha256)
            let origin = locked ? "lock \(pin.filename)" : (pin.uri.isEmpty ? "apt \(pin.filename)" : pin.uri)
            let (p, u) = try make(deb: deb, filename: pin.filename, origin: origin, locked: locked, requested: pin.name)
            packages.append(p)
            unpacked.append(u)
        }
        let configured = try DebianConfigurator(store: store, arch: arch, logger: logger).configure(
            request: request, packages: packages, unpacked: unpacked)
        warnings += configured.warnings
        for w in warnings { logger?.warning("deb:\(request): \(w)") }
        for p in packages { ledger.add(p, usedBy: "deb:\(request)") }
        return DebianClosure(request: request, packages: packages, configuration: configured.layer, warnings: warnings)
    }

    /// Resolves `request` with apt and stores every package of it (for `ingot lock`).
    func fetchClosure(_ request: DebianRequest) async throws -> [AptPin] {
        let pins = try await aptClosure(request)
        try await fetch(pins, locked: [])
        return pins.sorted { $0.name < $1.name }
    }

    /// apt's closure of `request` now, reused while the package lists stay the same.
    func aptClosure(_ request: DebianRequest) async throws -> [AptPin] {
        let fingerprint = try await solver.fingerprint()
        let key = Digest.of(Array("closure-v1|\(arch.debian)|\(request)|\(fingerprint)".utf8)).hex
        if let cached = store.record([AptPin].self, kind: "apt-closure", key: key) { return cached }
        logger?.info("resolving deb:\(request) for \(arch.debian) with apt")
        let pins = try await solver.resolve(request)
        _ = try store.putRecord(pins, kind: "apt-closure", key: key)
        return pins
    }

    /// Downloads the pins missing from the store in one apt call and checks each digest.
    func fetch(_ pins: [AptPin], locked: Set<String>) async throws {
        var missing: [AptPin] = []
        for p in pins {
            let d = try Digest(parsing: p.sha256)
            if !store.contains(d) { missing.append(p) }
        }
        guard !missing.isEmpty else { return }
        if registry.offline { throw RegistryError.offlinePackage(name: missing.map(\.name).joined(separator: ", ")) }
        let dir = "\(store.root)/tmp/apt-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        logger?.info(
            "downloading \(missing.count) package(s) for \(arch.debian): \(missing.map(\.name).joined(separator: " "))")
        let files = try await solver.download(missing, into: dir)
        for p in missing {
            guard let file = files[p.name] else { continue }
            let expected = try Digest(parsing: p.sha256)
            let got = try Digest.of(fileAt: file)
            guard got == expected else {
                if locked.contains(p.name) {
                    throw LockFile.Error.mismatch(
                        name: p.name, arch: arch.debian, version: p.version, locked: expected.hex, actual: got.hex,
                        source: p.uri.isEmpty ? "the mirror" : p.uri)
                }
                throw ContentStore.Error.mismatch(source: p.uri, expected: expected, actual: got)
            }
            try store.put(fileAt: file, expected: expected)
        }
    }

    /// What changed between the lock's closure and apt's current one.
    static func drift(pinned: [LockFile.Entry], current: [AptPin], request: DebianRequest, arch: String) -> [String] {
        var out: [String] = []
        let now = Dictionary(current.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let then = Dictionary(pinned.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for e in pinned.sorted(by: { $0.name < $1.name }) {
            if let c = now[e.name] {
                if c.version != e.version {
                    out.append(
                        "\(e.name) drifted: the lock pins \(e.version), the mirror now has \(c.version) (\(arch)); "
                            + "building the pinned version. Run `ingot lock` to move to the mirror's.")
                } else if c.sha256 != e.sha256 {
                    out.append(
                        "\(e.name) \(e.version) (\(arch)) changed on the mirror: the lock pins sha256 \(e.sha256), the "
                            + "mirror lists \(c.sha256); building the pinned file if it is cached.")
                }
            } else {
                out.append(
                    "\(e.name) drifted: the lock pins it in the closure of '\(request)', apt no longer picks it (\(arch))."
                )
            }
        }
        for c in current.sorted(by: { $0.name < $1.name }) where then[c.name] == nil {
            out.append(
                "\(c.name) drifted: apt now adds \(c.version) to the closure of '\(request)' (\(arch)); the lock does not have it. Run `ingot lock` to pin it."
            )
        }
        return out
    }
}
