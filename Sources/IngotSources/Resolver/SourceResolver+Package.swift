// Debian packages for the board's architecture: locked packages come from the store when the
// pinned .deb is there, else from apt at the pinned version and are checked against the lock;
// unlocked ones resolve to apt's candidate (metapackages followed) and are marked unlocked.

import Foundation
import IngotRegistry
import IngotSpec
import Logging

#if canImport(Glibc)
    import Glibc
#endif

extension SourceResolver {
    /// Fetches a Debian package for the board's architecture (kernels, busybox, firmware).
    /// - Parameters:
    ///   - name: the package (a kernel metapackage resolves to the versioned package).
    ///   - version: an exact version, or nil for the lock's pin / apt's candidate.
    /// - Returns: the package with its .deb and data.tar stored and verified.
    public func package(_ name: String, version: String?) async throws -> ResolvedPackage {
        let arch = self.arch.debian
        if let entry = lock?.entry(name: name, arch: arch), version == nil || version == entry.version {
            return try await locked(entry)
        }
        let candidate: Apt.Candidate
        if let version {
            candidate = try await apt.show(name: name, arch: arch, version: version)
        } else {
            candidate = try await apt.resolveMetapackage(name: name, arch: arch)
        }
        let (uri, filename) = try await apt.uri(of: candidate)
        var deb: Digest
        if let sha = candidate.sha256, let d = try? Digest(parsing: sha), store.contains(d) {
            logger?.debug("\(candidate.spec) is cached as \(d)")
            deb = d
        } else {
            deb = try await download(candidate)
            if let sha = candidate.sha256, let expected = try? Digest(parsing: sha), expected != deb {
                throw ContentStore.Error.mismatch(source: uri, expected: expected, actual: deb)
            }
        }
        if lock != nil {
            logger?.warning("\(candidate.name) (\(arch)) is not in the lock; using apt's \(candidate.version)")
        }
        let p = try make(deb: deb, filename: filename, origin: uri, locked: false, requested: name).package
        ledger.add(p, usedBy: name)
        return p
    }

    /// A package from the lock: the store first, then apt at the pinned version.
    func locked(_ entry: LockFile.Entry) async throws -> ResolvedPackage {
        let expected = try Digest(parsing: entry.sha256)
        let origin = "lock \(entry.filename)"
        if !store.contains(expected) {
            let candidate = try await apt.show(name: entry.name, arch: entry.arch, version: entry.version)
            if let sha = candidate.sha256, sha.lowercased() != entry.sha256.lowercased() {
                throw LockFile.Error.mismatch(
                    name: entry.name, arch: entry.arch, version: entry.version, locked: entry.sha256, actual: sha,
                    source: "apt's package lists")
            }
            // The manifest's origin stays "lock <file>" whether or not the store had it, so
            // builds with a warm and a cold cache write the same manifest.
            let source = (try? await apt.uri(of: candidate).uri) ?? origin
            let got = try await download(candidate)
            guard got == expected else {
                throw LockFile.Error.mismatch(
                    name: entry.name, arch: entry.arch, version: entry.version, locked: entry.sha256, actual: got.hex,
                    source: source)
            }
        }
        let p = try make(deb: expected, filename: entry.filename, origin: origin, locked: true, requested: entry.name)
            .package
        ledger.add(p, usedBy: entry.resolvedFrom ?? entry.name)
        return p
    }

    /// Reads a local .deb (`deb-file:`).
    public func debFile(_ path: String) throws -> ResolvedPackage {
        guard FileManager.default.fileExists(atPath: path) else {
            throw SourceError.notFound(kind: ".deb file", path: path)
        }
        try ArchiveProbe.check(path, as: .ar)
        let deb = try store.put(fileAt: path)
        let p = try make(
            deb: deb, filename: (path as NSString).lastPathComponent, origin: path, locked: true, requested: path,
            source: "deb-file"
        ).package
        ledger.add(p, usedBy: "deb-file:\(path)")
        return p
    }

    private func download(_ candidate: Apt.Candidate) async throws -> Digest {
        if registry.offline { throw RegistryError.offlinePackage(name: candidate.spec) }
        // The PID in the name lets the next run remove the directory if this process dies.
        let dir = "\(store.root)/tmp/apt-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw ContentStore.spaceError(dir) ?? ContentStore.Error.io(path: dir, reason: error.localizedDescription)
        }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        logger?.info("downloading \(candidate.spec)")
        do {
            let file = try await apt.download(candidate, into: dir)
            return try store.put(fileAt: file)
        } catch {
            // apt's own message blames the network; a full cache is the store's problem.
            if let full = ContentStore.spaceError(dir) { throw full }
            throw error
        }
    }

    /// The package as a layer: its .deb unpacked once into an uncompressed tar in the store.
    func make(
        deb: Digest, filename: String, origin: String, locked: Bool, requested: String, source: String = "apt"
    ) throws -> (package: ResolvedPackage, unpacked: Debian.Unpacked) {
        let u = try Debian.unpacked(deb, store: store, name: source == "apt" ? filename : origin)
        // The origin is reported as given ("lock <file>" for pinned packages, the apt URI for
        // unpinned ones) and never from the cache's history, so manifests do not depend on
        // whether the store was warm.
        let name = u.control["Package"] ?? requested
        let version = u.control["Version"] ?? "unknown"
        let arch = u.control["Architecture"] ?? self.arch.debian
        let layer = Layer(
            source: .archive(path: try store.stampedPath(for: u.tar), digest: u.tar),
            origin: "\(name) \(version) \(arch) (\(source))")
        let p = ResolvedPackage(
            name: name, version: version, arch: arch, debPath: store.blobPath(deb), debDigest: deb,
            data: layer, control: u.control, filename: filename,
            input: InputRecord(
                name: name, version: version, arch: arch, sha256: deb.hex, origin: origin, locked: locked))
        return (p, u)
    }
}
