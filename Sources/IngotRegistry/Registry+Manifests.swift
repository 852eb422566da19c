// The JSON documents of the distribution API that Ingot reads: descriptors, indexes (OCI image
// index and Docker manifest list) and manifests (OCI and Docker v2 schema 2), plus picking the
// board's platform out of an index.

import Foundation

/// Media types of the distribution API.
public enum RegistryMediaType {
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let dockerList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerSchema1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"

    /// The index media types (OCI index, Docker manifest list).
    public static let indexes: Set<String> = [ociIndex, dockerList]
    /// The single-platform manifest media types.
    public static let manifests: Set<String> = [ociManifest, dockerManifest]
    /// What a manifest GET accepts, best first.
    static let accept = [ociIndex, dockerList, ociManifest, dockerManifest].joined(separator: ", ")
}

/// A content descriptor (media type, digest, size, optional platform).
public struct RegistryDescriptor: Codable, Sendable, Hashable {
    public struct Platform: Codable, Sendable, Hashable {
        public var architecture: String
        public var os: String
        public var variant: String?

        /// Creates a platform.
        public init(architecture: String, os: String, variant: String? = nil) {
            self.architecture = architecture
            self.os = os
            self.variant = variant
        }
    }
    public var mediaType: String?
    public var digest: String
    public var size: Int64
    public var platform: Platform?
    public var annotations: [String: String]?

    /// Creates a descriptor.
    public init(
        mediaType: String?, digest: String, size: Int64, platform: Platform? = nil, annotations: [String: String]? = nil
    ) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.platform = platform
        self.annotations = annotations
    }

    /// The 64 hex digits of a `sha256:` digest (checked when the document is read).
    public var hex: String { String(digest.dropFirst(7)) }
}

/// An image index or manifest list.
struct RegistryIndex: Codable {
    var schemaVersion: Int?
    var mediaType: String?
    var manifests: [RegistryDescriptor]
}

/// One platform's image manifest.
struct RegistryManifest: Codable {
    var schemaVersion: Int?
    var mediaType: String?
    var config: RegistryDescriptor
    var layers: [RegistryDescriptor]
}

/// The platform fields of an image config.
struct RegistryConfigPlatform: Codable {
    var architecture: String?
    var os: String?
    var variant: String?
}

/// What resolving a reference for one platform found; every document's bytes are kept (they are
/// small) so they can be stored exactly as served.
public struct PulledManifest: Sendable {
    /// The reference as asked for.
    public var reference: String
    /// The index the tag pointed at, if it pointed at one.
    public var index: Document?
    /// The platform's manifest.
    public var manifest: Document
    /// The manifest's descriptor (with platform) as it should appear in an OCI layout's index.json.
    public var descriptor: RegistryDescriptor
    /// The config blob's descriptor.
    public var config: RegistryDescriptor
    /// The layers, bottom first.
    public var layers: [RegistryDescriptor]

    /// A manifest or index exactly as served.
    public struct Document: Sendable {
        public var bytes: [UInt8]
        public var digest: String
        public var mediaType: String
    }

    /// Every blob the manifest names: config first, then the layers.
    public var blobs: [RegistryDescriptor] { [config] + layers }
}

extension RegistryDescriptor {
    /// Rejects digests other than `sha256:<64 lowercase hex>` (they become file names).
    func checked(in what: String) throws -> RegistryDescriptor {
        let hexPart = digest.dropFirst(7)
        guard digest.hasPrefix("sha256:"), hexPart.utf8.count == 64,
            hexPart.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else {
            throw RegistryError.badManifest(
                reference: what, reason: "descriptor digest '\(digest)' is not sha256:<64 hex>")
        }
        guard size >= 0 else { throw RegistryError.badManifest(reference: what, reason: "negative size for \(digest)") }
        return self
    }
}

extension RegistryIndex {
    /// The entry for `platform`: an exact variant match first, then an entry without a variant.
    /// - Returns: the entry, and every real platform listed (attestations skipped) for errors.
    func select(_ platform: RegistryPlatform) -> (RegistryDescriptor?, [String]) {
        var available: [String] = []
        var exact: RegistryDescriptor?
        var loose: RegistryDescriptor?
        for entry in manifests {
            guard let p = entry.platform, p.os != "unknown", p.architecture != "unknown" else { continue }
            let theirs = RegistryPlatform(os: p.os, architecture: p.architecture, variant: p.variant)
            available.append(theirs.description)
            guard platform.accepts(theirs) else { continue }
            if theirs.variant == platform.variant {
                exact = exact ?? entry
            } else {
                loose = loose ?? entry
            }
        }
        return (exact ?? loose, available)
    }
}
