// Picking the image for the board's architecture out of an OCI index (nested indexes and
// platform lists included), then storing its config and layers, each verified against its
// descriptor. The blob source differs (layout directory, archive) but the walk is the same.

import Foundation
import IngotSpec
import Logging

/// Resolves OCI layouts/archives and docker archives into layers for one architecture.
struct OCIResolver {
    /// OCI/docker problems, naming the source and what to do.
    enum Error: Swift.Error, CustomStringConvertible {
        case missing(source: String, what: String)
        case badJSON(source: String, what: String, reason: String)
        case noManifest(source: String, arch: String, tag: String?, available: [String])
        case unsupportedLayer(source: String, mediaType: String)
        case sizeMismatch(source: String, digest: String, expected: Int64, actual: Int64)
        case wrongArchitecture(source: String, wanted: String, found: String)
        case nestedTooDeep(source: String, limit: Int, digest: String)
        case notRegular(source: String, what: String, reason: String)

        var description: String {
            switch self {
            case .missing(let source, let what):
                return "\(source): \(what) is missing; the image is incomplete. Re-export it (e.g. `skopeo copy`)."
            case .badJSON(let source, let what, let reason):
                return "\(source): \(what) is not valid JSON for an image (\(reason)). Re-export the image."
            case .noManifest(let source, let arch, let tag, let available):
                let t = tag.map { " tagged '\($0)'" } ?? ""
                return "\(source): no linux/\(arch) image\(t). Available: "
                    + (available.isEmpty ? "none" : available.joined(separator: ", "))
                    + ". Pick another tag, or export the image for \(arch) (e.g. `skopeo copy --override-arch \(arch)`)."
            case .unsupportedLayer(let source, let mediaType):
                return "\(source): layer media type '\(mediaType)' is not supported (tar, tar+gzip, tar+zstd only); "
                    + "encrypted or foreign layers must be converted first."
            case .sizeMismatch(let source, let digest, let expected, let actual):
                return "\(source): blob \(digest) is \(actual) bytes but its descriptor says \(expected); "
                    + "the image is corrupt. Re-export it."
            case .nestedTooDeep(let source, let limit, let digest):
                return
                    "\(source): image indexes are nested more than \(limit) deep (index \(digest) is at depth \(limit + 1)); "
                    + "Ingot stops there rather than follow a chain without end. Re-export the image with `skopeo copy` "
                    + "(which writes one index level), or pick the inner image by digest."
            case .notRegular(let source, let what, let reason):
                return "\(source): \(what) is \(reason); an image layout holds regular files only. Re-export the image."
            case .wrongArchitecture(let source, let wanted, let found):
                return "\(source): the image is for \(found) but the board needs \(wanted). "
                    + "Export the \(wanted) variant of the image."
            }
        }
    }

    let store: ContentStore
    let arch: Architecture
    let logger: Logger?

    /// How many index levels below the top-level index are followed (skopeo writes one).
    static let maxIndexDepth = 4

    /// Stores the blob a descriptor names and returns its verified digest.
    typealias Fetch = (OCI.Descriptor) throws -> Digest

    func decode<T: Decodable>(_ type: T.Type, _ data: Data, source: String, what: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw Error.badJSON(source: source, what: what, reason: "\(error)")
        }
    }

    func json<T: Decodable>(_ type: T.Type, _ desc: OCI.Descriptor, fetch: Fetch, source: String, what: String) throws
        -> T
    {
        let digest = try fetch(desc)
        return try decode(T.self, try store.bytes(of: digest), source: source, what: "\(what) \(desc.digest)")
    }

    func platformName(_ p: OCI.Platform) -> String { "\(p.os)/\(p.architecture)" + (p.variant.map { "/\($0)" } ?? "") }

    /// Walks `index` to the manifest for the board's arch and stores config and layers.
    func resolve(index: OCI.Index, tag: String?, fetch: Fetch, source: String, name: String) throws -> ResolvedImage {
        var available: [String] = []
        var candidates = index.manifests
        if let tag {
            candidates = candidates.filter {
                $0.tag == tag || $0.annotations?["io.containerd.image.name"]?.hasSuffix(":" + tag) == true
            }
            if candidates.isEmpty {
                throw Error.noManifest(
                    source: source, arch: arch.debian, tag: tag,
                    available: index.manifests.compactMap { $0.tag.map { "tag '\($0)'" } })
            }
        }
        if let found = try find(in: candidates, fetch: fetch, source: source, depth: 0, available: &available) {
            return try image(
                manifestDescriptor: found.0, manifest: found.1, config: found.2, fetch: fetch, source: source,
                name: name, tag: tag)
        }
        throw Error.noManifest(source: source, arch: arch.debian, tag: tag, available: available)
    }

    private func find(
        in descriptors: [OCI.Descriptor], fetch: Fetch, source: String, depth: Int, available: inout [String]
    ) throws -> (OCI.Descriptor, OCI.Manifest, OCI.ImageConfigFile)? {
        for desc in descriptors {
            let type = desc.mediaType ?? "application/vnd.oci.image.manifest.v1+json"
            if OCI.indexTypes.contains(type) {
                guard depth < Self.maxIndexDepth else {
                    throw Error.nestedTooDeep(source: source, limit: Self.maxIndexDepth, digest: desc.digest)
                }
                let nested = try json(OCI.Index.self, desc, fetch: fetch, source: source, what: "index")
                if let hit = try find(
                    in: nested.manifests, fetch: fetch, source: source, depth: depth + 1, available: &available)
                {
                    return hit
                }
                continue
            }
            guard OCI.manifestTypes.contains(type) else { continue }
            if let p = desc.platform {
                available.append(platformName(p))
                guard p.os == "linux", p.architecture == arch.debian else { continue }
            }
            let manifest = try json(OCI.Manifest.self, desc, fetch: fetch, source: source, what: "manifest")
            let config = try json(
                OCI.ImageConfigFile.self, manifest.config, fetch: fetch, source: source, what: "config")
            if desc.platform == nil {
                available.append("\(config.os ?? "?")/\(config.architecture ?? "?")")
            }
            if let a = config.architecture, a != arch.debian { continue }
            if let os = config.os, os != "linux" { continue }
            return (desc, manifest, config)
        }
        return nil
    }

    private func image(
        manifestDescriptor: OCI.Descriptor, manifest: OCI.Manifest, config: OCI.ImageConfigFile, fetch: Fetch,
        source: String, name: String, tag: String?
    ) throws -> ResolvedImage {
        var layers: [Layer] = []
        for (i, desc) in manifest.layers.enumerated() {
            let type = desc.mediaType ?? "application/vnd.oci.image.layer.v1.tar"
            guard OCI.layerTypes.contains(type) else { throw Error.unsupportedLayer(source: source, mediaType: type) }
            let digest = try fetch(desc)
            layers.append(
                Layer(
                    source: .archive(path: try store.path(for: digest), digest: digest),
                    origin: "\(source) layer \(i + 1)/\(manifest.layers.count) \(digest.hex.prefix(12))"))
        }
        let manifestDigest = try Digest(parsing: manifestDescriptor.digest)
        logger?.debug("\(source): \(arch.debian) manifest \(manifestDigest), \(layers.count) layers")
        return ResolvedImage(
            layers: layers, config: config.imageConfig,
            inputs: [
                InputRecord(
                    name: name, version: tag ?? manifestDescriptor.tag, arch: config.architecture ?? arch.debian,
                    sha256: manifestDigest.hex, origin: source)
            ])
    }
}
