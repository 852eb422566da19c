// `SourceResolver`: turns an `image:` of the spec into layers for the board's architecture,
// dispatching on the reference kind (deb, deb-file, OCI layout/archive, docker archive, tar, dir).
// Errors are prefixed with the spec location (file:line:column) of the image.

import Foundation
import IngotRegistry
import IngotSpec
import IngotTree
import Logging

/// Resolves spec images and Debian packages into content-store blobs.
public struct SourceResolver: Sendable {
    /// A resolution failure tied to the spec line that asked for it.
    public struct Error: Swift.Error, CustomStringConvertible {
        public var location: SourceLocation
        public var image: String
        public var underlying: Swift.Error

        public var description: String { "\(location): error: image '\(image)': \(underlying)" }
    }

    /// Problems with `tar:` and `dir:` sources.
    public enum SourceError: Swift.Error, CustomStringConvertible {
        case notFound(kind: String, path: String)
        case notDirectory(path: String)
        case unreadableArchive(path: String, detail: String)

        public var description: String {
            switch self {
            case .notFound(let kind, let path):
                return "\(kind) \(path) does not exist; check the path (relative paths are relative to the spec file)"
            case .notDirectory(let path):
                return "\(path) is not a directory; use tar: for archives"
            case .unreadableArchive(let path, let detail):
                return "\(path): cannot read the archive: \(detail)"
            }
        }
    }

    public let store: ContentStore
    public let lock: LockFile?
    public let arch: Architecture
    let logger: Logger?
    let apt: Apt
    /// How registry images are pulled (`--offline`, plain-HTTP hosts, mirrors, CA file).
    public var registry = RegistryOptions()
    /// Every Debian package this resolver fetched, for the manifest and the SBOM.
    public let ledger = PackageLedger()
    /// An apt configuration file for closures (as `APT_CONFIG`); nil uses the environment's.
    public var aptConfig: String?

    /// - Parameters:
    ///   - store: the content store.
    ///   - lock: the firmware lock; packages in it must match its sha256.
    ///   - arch: the board's architecture (which manifest / .deb to pick).
    ///   - logger: optional logger.
    public init(store: ContentStore, lock: LockFile?, arch: Architecture, logger: Logger?) {
        self.store = store
        self.lock = lock
        self.arch = arch
        self.logger = logger
        self.apt = Apt(logger: logger)
    }

    /// Resolves one spec image into ordered layers (plus config for OCI/docker images).
    public func resolve(_ image: ImageSpec) async throws -> ResolvedImage {
        do {
            return try await resolve(ref: image.ref)
        } catch {
            throw Error(location: image.location, image: image.raw, underlying: error)
        }
    }

    /// Resolves a reference without a spec location (tests, `ingot inspect`).
    public func resolve(ref: ImageRef) async throws -> ResolvedImage {
        switch ref {
        case .deb(let name, let version, let recommends):
            let request = DebianRequest(packages: [version.map { "\(name)=\($0)" } ?? name], recommends: recommends)
            let c = try await closure(request)
            return ResolvedImage(
                layers: c.packages.map(\.data) + (c.configuration.map { [$0] } ?? []), config: nil,
                inputs: c.packages.map(\.input))
        case .debFile(let path):
            let p = try debFile(path)
            return ResolvedImage(layers: [p.data], config: nil, inputs: [p.input])
        case .ociLayout(let path, let tag):
            return try OCIResolver(store: store, arch: arch, logger: logger).layout(at: path, tag: tag)
        case .ociArchive(let path):
            return try OCIResolver(store: store, arch: arch, logger: logger).ociArchive(at: path)
        case .dockerArchive(let path):
            return try OCIResolver(store: store, arch: arch, logger: logger).dockerArchive(at: path)
        case .tar(let path):
            return try tar(path)
        case .directory(let path):
            return try directory(path)
        case .registry(let reference):
            return try await registryImage(reference)
        }
    }

    func tar(_ path: String) throws -> ResolvedImage {
        guard FileManager.default.fileExists(atPath: path) else {
            throw SourceError.notFound(kind: "tar archive", path: path)
        }
        // Reject unreadable archives now, with the user's file name, instead of at compose time.
        try ArchiveProbe.check(path, as: .tar)
        let digest = try store.put(fileAt: path)
        let blob = try store.path(for: digest)
        let name = (path as NSString).lastPathComponent
        return ResolvedImage(
            layers: [Layer(source: .archive(path: blob, digest: digest), origin: "tar \(path)")], config: nil,
            inputs: [InputRecord(name: name, version: nil, arch: nil, sha256: digest.hex, origin: path)])
    }

    func directory(_ path: String) throws -> ResolvedImage {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw SourceError.notFound(kind: "directory", path: path)
        }
        guard isDir.boolValue else { throw SourceError.notDirectory(path: path) }
        let digest = try DirectoryDigest.compute(path)
        let name = (path as NSString).lastPathComponent
        return ResolvedImage(
            layers: [Layer(source: .directory(path: path), origin: "dir \(path)")], config: nil,
            inputs: [InputRecord(name: name, version: nil, arch: nil, sha256: digest.hex, origin: path)])
    }
}
