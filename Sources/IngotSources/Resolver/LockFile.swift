// The firmware lock (`firmware/lock.json`): every Debian package the boards and specs use, pinned
// by name, architecture, version and the sha256 of its .deb, plus the closures of `deb:` images
// (which pinned packages make up each one). Saved pretty, sorted and stable so a re-pin shows up
// as a small diff; a lock without closures is written exactly as before.

import Foundation
import IngotSpec
import Logging

/// Pins Debian packages to exact .deb files.
public struct LockFile: Codable, Sendable, Equatable {
    /// Lock problems, naming the package, both digests and the fix.
    public enum Error: Swift.Error, CustomStringConvertible {
        case unreadable(path: String, reason: String)
        case mismatch(name: String, arch: String, version: String, locked: String, actual: String, source: String)

        public var description: String {
            switch self {
            case .unreadable(let path, let reason):
                return "\(path): cannot read the lock: \(reason). Regenerate it with `ingot lock`."
            case .mismatch(let name, let arch, let version, let locked, let actual, let source):
                return "\(name) \(version) (\(arch)) from \(source) has sha256 \(actual), but the lock pins sha256 "
                    + "\(locked). The archive changed the package or the download is corrupt; if the change is "
                    + "intended run `ingot lock` to re-pin it, otherwise investigate before building."
            }
        }
    }

    /// One pinned package.
    public struct Entry: Codable, Sendable, Equatable, Comparable {
        /// The real package name (a metapackage is pinned as the package it resolved to).
        public var name: String
        /// The board architecture the package is used for (`amd64`, `arm64`).
        public var arch: String
        public var version: String
        /// sha256 of the .deb, 64 hex digits.
        public var sha256: String
        /// The archive's file name (`pool/...` basename).
        public var filename: String
        /// The name asked for when it was a metapackage (`linux-image-arm64`).
        public var resolvedFrom: String?

        public init(
            name: String, arch: String, version: String, sha256: String, filename: String, resolvedFrom: String? = nil
        ) {
            self.name = name
            self.arch = arch
            self.version = version
            self.sha256 = sha256
            self.filename = filename
            self.resolvedFrom = resolvedFrom
        }

        public static func < (a: Entry, b: Entry) -> Bool { (a.name, a.arch) < (b.name, b.arch) }
    }

    /// The packages apt chose for one `deb:` request on one architecture.
    public struct Closure: Codable, Sendable, Equatable, Comparable {
        /// The request as written after `deb:` (`nginx-light`, `curl?recommends`).
        public var request: String
        /// The board architecture.
        public var arch: String
        /// Names of the pinned packages (each has an entry for `arch`), sorted.
        public var packages: [String]

        public init(request: String, arch: String, packages: [String]) {
            self.request = request
            self.arch = arch
            self.packages = packages.sorted()
        }

        public static func < (a: Closure, b: Closure) -> Bool { (a.request, a.arch) < (b.request, b.arch) }
    }

    /// Format version of the file.
    public var version: Int
    /// Entries, kept sorted by name then arch.
    public var packages: [Entry] {
        didSet { packages.sort() }
    }
    /// Closures of spec images, sorted by request then arch; absent when there are none.
    public var closures: [Closure]? {
        didSet { closures = closures.flatMap { $0.isEmpty ? nil : $0.sorted() } }
    }

    /// Creates a lock from entries and closures (sorted on the way in).
    public init(packages: [Entry], closures: [Closure] = []) {
        self.version = 1
        self.packages = packages.sorted()
        self.closures = closures.isEmpty ? nil : closures.sorted()
    }

    /// The pinned closure of `request` on `arch`, when every package it names is pinned.
    public func closure(_ request: DebianRequest, arch: String) -> (Closure, [Entry])? {
        guard let c = closures?.first(where: { $0.request == request.description && $0.arch == arch }) else {
            return nil
        }
        var entries: [Entry] = []
        for name in c.packages {
            guard let e = packages.first(where: { $0.name == name && $0.arch == arch }) else { return nil }
            entries.append(e)
        }
        return (c, entries)
    }

    /// The entry for `name` (or the metapackage it was resolved from) on `arch`.
    public func entry(name: String, arch: String) -> Entry? {
        packages.first { $0.arch == arch && $0.name == name }
            ?? packages.first { $0.arch == arch && $0.resolvedFrom == name }
    }

    /// Reads a lock file.
    public static func load(path: String) throws -> LockFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Error.unreadable(path: path, reason: "no such file or not readable")
        }
        do {
            var lock = try JSONDecoder().decode(LockFile.self, from: data)
            lock.packages.sort()
            if let c = lock.closures { lock.closures = c }
            return lock
        } catch {
            throw Error.unreadable(path: path, reason: "\(error)")
        }
    }

    /// The lock as written to disk: pretty-printed, sorted keys, trailing newline.
    public func encoded() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try enc.encode(self)
        data.append(0x0A)
        return data
    }

    /// Writes the lock atomically.
    public func save(path: String) throws {
        try encoded().write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Downloads each package for its architecture (following metapackages) and pins it, and
    /// resolves each closure with apt and pins every package of it. Used by `ingot lock`.
    /// - Parameters:
    ///   - packages: single packages with the board architecture they are used for.
    ///   - closures: `deb:` requests of specs with the board architecture.
    ///   - store: where the .debs are kept.
    ///   - logger: optional logger.
    public static func refresh(
        packages: [(name: String, arch: Architecture)],
        closures requests: [(request: DebianRequest, arch: Architecture)] = [],
        store: ContentStore, logger: Logger?
    ) async throws -> LockFile {
        var entries: [Entry] = []
        var closures: [Closure] = []
        for (request, arch) in requests {
            try Task.checkCancellation()
            let resolver = SourceResolver(store: store, lock: nil, arch: arch, logger: logger)
            let pins = try await resolver.fetchClosure(request)
            for p in pins {
                entries.removeAll { $0.name == p.name && $0.arch == arch.debian }
                entries.append(
                    Entry(name: p.name, arch: arch.debian, version: p.version, sha256: p.sha256, filename: p.filename))
            }
            closures.removeAll { $0.request == request.description && $0.arch == arch.debian }
            closures.append(Closure(request: request.description, arch: arch.debian, packages: pins.map(\.name)))
            logger?.info("locked the closure of \(request) (\(arch.debian)): \(pins.count) packages")
        }
        for (name, arch) in packages {
            try Task.checkCancellation()
            let resolver = SourceResolver(store: store, lock: nil, arch: arch, logger: logger)
            let p = try await resolver.package(name, version: nil)
            let entry = Entry(
                name: p.name, arch: arch.debian, version: p.version, sha256: p.debDigest.hex,
                filename: p.filename, resolvedFrom: p.name == name ? nil : name)
            logger?.info("locked \(entry.name) \(entry.version) \(entry.arch) sha256:\(entry.sha256)")
            entries.removeAll { $0.name == entry.name && $0.arch == entry.arch }
            entries.append(entry)
        }
        return LockFile(packages: entries, closures: closures)
    }
}
