// Pulling a registry image into the store for one architecture: resolve the tag (always asked
// of the registry unless --offline or the reference pins a digest already stored), fetch only the
// blobs the store lacks — in parallel, streamed, verified, resumable — then write its layout and
// hand it to the OCI layout resolver like any local image.

import Foundation
import IngotRegistry
import IngotSpec
import Logging

/// Pulls registry images into a content store.
public struct RegistryPuller: Sendable {
    /// What one pull did.
    public struct Outcome: Sendable {
        /// The image's layout directory in the store.
        public var directory: String
        /// The platform manifest's digest.
        public var manifestDigest: String
        /// Bytes received over the network (0 when everything was already stored).
        public var bytesReceived: Int64
        /// Bytes of config and layers the image has in all.
        public var bytesTotal: Int64
        /// Whether the registry was asked at all.
        public var contactedRegistry: Bool
    }

    public let store: ContentStore
    public let options: RegistryOptions
    let logger: Logger?

    /// Creates a puller.
    public init(store: ContentStore, options: RegistryOptions, logger: Logger? = nil) {
        self.store = store
        self.options = options
        self.logger = logger
    }

    /// Makes `reference` for `arch` present in the store.
    /// - Parameters:
    ///   - reference: the image.
    ///   - arch: the Debian architecture of the board (arm64 pulls linux/arm64/v8).
    /// - Returns: where its layout is and what was transferred.
    public func pull(_ reference: RegistryReference, arch: String) async throws -> Outcome {
        let images = ImageStore(store: store)
        let dir = images.directory(for: reference.description, arch: arch)
        let stored = images.entry(at: dir)
        if let stored, options.offline || reference.digest != nil {
            return Outcome(
                directory: dir, manifestDigest: stored.manifestDigest, bytesReceived: 0, bytesTotal: 0,
                contactedRegistry: false)
        }
        if options.offline { throw RegistryError.offline(reference: reference.familiar) }

        let client = try RegistryClient(options: options, logger: logger)
        do {
            let outcome = try await pull(reference, arch: arch, client: client, images: images, stored: stored)
            try await client.shutdown()
            return outcome
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    private func pull(
        _ reference: RegistryReference, arch: String, client: RegistryClient, images: ImageStore,
        stored: ImageStore.Entry?
    ) async throws -> Outcome {
        let platform = RegistryPlatform.linux(debianArch: arch)
        let pulled = try await client.resolve(reference, platform: platform)
        let total = pulled.blobs.reduce(Int64(0)) { $0 + $1.size }
        if let stored, stored.manifestDigest == pulled.descriptor.digest {
            logger?.debug("\(reference.familiar): \(arch) manifest \(stored.manifestDigest) already stored")
            return Outcome(
                directory: stored.directory, manifestDigest: stored.manifestDigest, bytesReceived: 0, bytesTotal: total,
                contactedRegistry: true)
        }
        let missing = try pulled.blobs.filter { !store.contains(try Digest(parsing: $0.digest)) }
        var seen = Set<String>()
        let unique = missing.filter { seen.insert($0.digest).inserted }
        let bytes = unique.reduce(Int64(0)) { $0 + $1.size }
        logger?.info(
            "\(reference.familiar): pulling \(unique.count) of \(pulled.blobs.count) blobs for \(platform) (\(bytes) bytes)"
        )
        try ContentStore.makeDirectory(images.partialRoot)
        let partialRoot = images.partialRoot
        let received = try await client.download(
            unique, of: reference,
            destination: { desc in "\(partialRoot)/\(desc.hex)" },
            completed: { desc, path in try images.adopt(partial: path, hex: desc.hex) })
        // Config and platform check before anything names the image.
        let configBytes = try store.bytes(of: try Digest(parsing: pulled.config.digest))
        try client.checkPlatform(
            of: pulled, configBytes: Array(configBytes), platform: platform, name: reference.familiar)
        // Documents last: a layout only ever names blobs that are all present.
        try store.put(bytes: pulled.manifest.bytes, expected: try Digest(parsing: pulled.manifest.digest))
        if let index = pulled.index { try store.put(bytes: index.bytes, expected: try Digest(parsing: index.digest)) }
        let dir = try images.write(pulled, reference: reference, arch: arch)
        return Outcome(
            directory: dir, manifestDigest: pulled.descriptor.digest, bytesReceived: received, bytesTotal: total,
            contactedRegistry: true)
    }
}

extension SourceResolver {
    /// `alpine:3.19`, `registry.example:5000/team/web:1.4`, `NAME@sha256:…`: pulled (or found in
    /// the store), then read like an OCI layout; the input record names the reference and digest.
    func registryImage(_ reference: RegistryReference) async throws -> ResolvedImage {
        let puller = RegistryPuller(store: store, options: registry, logger: logger)
        let outcome = try await puller.pull(reference, arch: arch.debian)
        var resolved = try OCIResolver(store: store, arch: arch, logger: logger).layout(at: outcome.directory, tag: nil)
        ImageStore(store: store).touch(outcome.directory)
        resolved.inputs = resolved.inputs.map { input in
            var record = input
            record.name = reference.familiar
            record.version = reference.tag
            record.origin = "docker://\(reference.description)@\(outcome.manifestDigest)"
            return record
        }
        return resolved
    }
}
