// The JSON documents of OCI image layouts and `docker save` archives that Ingot reads: index,
// descriptor, manifest, image config, and docker's manifest.json. Unknown fields are ignored.

import Foundation

/// OCI and docker media types and JSON shapes.
enum OCI {
    static let indexTypes: Set<String> = [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
    static let manifestTypes: Set<String> = [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
    /// Layer media types whose content libarchive can read (tar, gzip, zstd).
    static let layerTypes: Set<String> = [
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    ]
    static let refNameAnnotation = "org.opencontainers.image.ref.name"

    struct Platform: Codable {
        var architecture: String
        var os: String
        var variant: String?
    }

    struct Descriptor: Codable {
        var mediaType: String?
        var digest: String
        var size: Int64
        var platform: Platform?
        var annotations: [String: String]?

        var tag: String? { annotations?[OCI.refNameAnnotation] }
    }

    struct Index: Codable {
        var schemaVersion: Int?
        var mediaType: String?
        var manifests: [Descriptor]
    }

    struct Manifest: Codable {
        var schemaVersion: Int?
        var mediaType: String?
        var config: Descriptor
        var layers: [Descriptor]
    }

    struct ImageConfigFile: Codable {
        /// The runtime section; keys are capitalised in the JSON.
        struct Inner: Codable {
            var env: [String]?
            var cmd: [String]?
            var entrypoint: [String]?
            var workingDir: String?
            var user: String?

            enum CodingKeys: String, CodingKey {
                case env = "Env", cmd = "Cmd", entrypoint = "Entrypoint", workingDir = "WorkingDir", user = "User"
            }
        }
        struct RootFS: Codable {
            var type: String?
            var diffIDs: [String]?

            enum CodingKeys: String, CodingKey {
                case type
                case diffIDs = "diff_ids"
            }
        }
        var architecture: String?
        var os: String?
        var variant: String?
        var config: Inner?
        var rootfs: RootFS?

        var imageConfig: ImageConfig {
            ImageConfig(
                env: config?.env ?? [], entrypoint: config?.entrypoint ?? [], cmd: config?.cmd ?? [],
                workingDir: config?.workingDir.flatMap { $0.isEmpty ? nil : $0 },
                user: config?.user.flatMap { $0.isEmpty ? nil : $0 })
        }
    }

    /// One image of `docker save`'s manifest.json.
    struct DockerManifestEntry: Codable {
        var config: String
        var repoTags: [String]?
        var layers: [String]

        enum CodingKeys: String, CodingKey {
            case config = "Config", repoTags = "RepoTags", layers = "Layers"
        }
    }
}
