// Tag → index → platform manifest: each document is fetched with the manifest media types
// accepted, hashed, checked against the digest it was asked for, and parsed.

import AsyncHTTPClient
import Foundation
import IngotSpec
import NIOCore

extension RegistryClient {
    /// Fetches one manifest or index by tag or digest.
    /// - Parameters:
    ///   - reference: the image (domain and repository).
    ///   - tagOrDigest: what to ask for; a digest is verified against the bytes served.
    func document(_ reference: RegistryReference, _ tagOrDigest: String) async throws -> PulledManifest.Document {
        let path = "/v2/\(reference.repository)/manifests/\(tagOrDigest)"
        let (response, base) = try await get(
            path, reference: reference, headers: [("Accept", RegistryMediaType.accept)], timeout: .seconds(120))
        let body = try await collect(response, limit: Self.manifestLimit, what: "\(reference.familiar)")
        switch response.status.code {
        case 200: break
        case 404: throw RegistryError.notFound(reference: reference.familiar)
        default:
            throw RegistryError.status(
                url: base + path, code: Int(response.status.code),
                body: String(decoding: body.prefix(300), as: UTF8.self))
        }
        let digest = Self.sha256(body)
        if tagOrDigest.hasPrefix("sha256:"), digest != tagOrDigest {
            throw RegistryError.digestMismatch(
                what: "manifest \(tagOrDigest) of \(reference.familiar)", expected: tagOrDigest, actual: digest)
        }
        var mediaType = response.headers.first(name: "Content-Type")?.split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        // The document's own mediaType wins over a generic Content-Type.
        struct Probe: Decodable {
            var mediaType: String?
            var manifests: [RegistryDescriptor]?
            var layers: [RegistryDescriptor]?
        }
        if let probe = try? JSONDecoder().decode(Probe.self, from: Data(body)) {
            if let t = probe.mediaType {
                mediaType = t
            } else if probe.manifests != nil {
                mediaType = RegistryMediaType.ociIndex
            } else if probe.layers != nil, !(mediaType.map(RegistryMediaType.manifests.contains) ?? false) {
                mediaType = RegistryMediaType.ociManifest
            }
        }
        guard let mediaType else {
            throw RegistryError.badManifest(reference: reference.familiar, reason: "no media type")
        }
        return PulledManifest.Document(bytes: body, digest: digest, mediaType: mediaType)
    }

    /// Resolves `reference` to the manifest for `platform`.
    /// - Parameters:
    ///   - reference: the image.
    ///   - platform: the board's platform (arm64 → linux/arm64/v8).
    /// - Returns: the documents and descriptors to fetch.
    /// - Throws: `RegistryError.noPlatform` naming the platforms the index has.
    public func resolve(_ reference: RegistryReference, platform: RegistryPlatform) async throws -> PulledManifest {
        if options.offline { throw RegistryError.offline(reference: reference.familiar) }
        let name = reference.familiar
        let top = try await document(reference, reference.manifestReference)
        if top.mediaType == RegistryMediaType.dockerSchema1 {
            throw RegistryError.badManifest(
                reference: name,
                reason: "Docker schema 1 manifests are not supported; push the image again with a current client")
        }
        var index: PulledManifest.Document?
        var manifestDoc = top
        var descriptor = RegistryDescriptor(mediaType: top.mediaType, digest: top.digest, size: Int64(top.bytes.count))
        if RegistryMediaType.indexes.contains(top.mediaType) {
            let parsed: RegistryIndex
            do {
                parsed = try JSONDecoder().decode(RegistryIndex.self, from: Data(top.bytes))
            } catch {
                throw RegistryError.badManifest(reference: name, reason: "index: \(error)")
            }
            let (entry, available) = parsed.select(platform)
            guard let entry else {
                throw RegistryError.noPlatform(reference: name, wanted: platform.description, available: available)
            }
            let checked = try entry.checked(in: name)
            index = top
            manifestDoc = try await document(reference, checked.digest)
            guard Int64(manifestDoc.bytes.count) == checked.size else {
                throw RegistryError.sizeMismatch(
                    what: "manifest \(checked.digest) of \(name)", expected: checked.size,
                    actual: Int64(manifestDoc.bytes.count))
            }
            descriptor = checked
            descriptor.mediaType = descriptor.mediaType ?? manifestDoc.mediaType
        } else if !RegistryMediaType.manifests.contains(top.mediaType) {
            throw RegistryError.badManifest(reference: name, reason: "unsupported media type '\(top.mediaType)'")
        }
        let manifest: RegistryManifest
        do {
            manifest = try JSONDecoder().decode(RegistryManifest.self, from: Data(manifestDoc.bytes))
        } catch {
            throw RegistryError.badManifest(reference: name, reason: "manifest: \(error)")
        }
        let config = try manifest.config.checked(in: name)
        let layers = try manifest.layers.map { try $0.checked(in: name) }
        return PulledManifest(
            reference: reference.description, index: index, manifest: manifestDoc, descriptor: descriptor,
            config: config, layers: layers)
    }

    /// Checks a single-platform image's config against the board's platform (an index was
    /// already filtered by its entries' platforms).
    /// - Parameter configBytes: the verified config blob.
    public func checkPlatform(
        of pulled: PulledManifest, configBytes: [UInt8], platform: RegistryPlatform, name: String
    ) throws {
        guard pulled.index == nil else { return }
        guard let p = try? JSONDecoder().decode(RegistryConfigPlatform.self, from: Data(configBytes)),
            let arch = p.architecture
        else { return }
        let theirs = RegistryPlatform(os: p.os ?? "linux", architecture: arch, variant: p.variant)
        guard platform.accepts(theirs) else {
            throw RegistryError.noPlatform(
                reference: name, wanted: platform.description, available: [theirs.description])
        }
    }
}
