// How Ingot talks to registries: which hosts speak plain HTTP, mirrors, an extra CA file, where
// the Docker credentials are, how many layers download at once, and the target platform.

import Foundation

/// Settings for `RegistryClient`, shared by every pull of one build.
public struct RegistryOptions: Sendable, Hashable {
    /// Never touch the network: only images already in the store may be used.
    public var offline: Bool
    /// Registry hosts (`host:port`) spoken to over plain HTTP instead of HTTPS.
    public var plainHTTP: Set<String>
    /// Mirrors per registry domain (`docker.io` → `https://mirror.example`), tried before the origin.
    public var mirrors: [String: String]
    /// A PEM file of extra CA certificates trusted beside the system's.
    public var caFile: String?
    /// The Docker client config holding credentials; nil means `$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json`.
    public var dockerConfigPath: String?
    /// How many layers download at the same time.
    public var parallelDownloads: Int

    /// Creates options; the defaults pull over HTTPS with 4 parallel layer downloads.
    public init(
        offline: Bool = false, plainHTTP: Set<String> = [], mirrors: [String: String] = [:], caFile: String? = nil,
        dockerConfigPath: String? = nil, parallelDownloads: Int = 4
    ) {
        self.offline = offline
        self.plainHTTP = plainHTTP
        self.mirrors = mirrors
        self.caFile = caFile
        self.dockerConfigPath = dockerConfigPath
        self.parallelDownloads = max(1, parallelDownloads)
    }

    /// The Docker config file these options read credentials from.
    public func resolvedDockerConfigPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String
    {
        if let dockerConfigPath { return dockerConfigPath }
        if let dir = environment["DOCKER_CONFIG"], !dir.isEmpty { return dir + "/config.json" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.docker/config.json"
    }
}

/// An OCI platform: what an index entry is for and what a board needs.
public struct RegistryPlatform: Sendable, Hashable, CustomStringConvertible {
    public var os: String
    public var architecture: String
    public var variant: String?

    /// Creates a platform.
    public init(os: String = "linux", architecture: String, variant: String? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = variant
    }

    /// The platform for a Debian architecture name (`amd64`, `arm64` → arm64/v8, `armhf` → arm/v7).
    public static func linux(debianArch: String) -> RegistryPlatform {
        switch debianArch {
        case "arm64": return RegistryPlatform(architecture: "arm64", variant: "v8")
        case "armhf": return RegistryPlatform(architecture: "arm", variant: "v7")
        case "armel": return RegistryPlatform(architecture: "arm", variant: "v6")
        case "i386": return RegistryPlatform(architecture: "386")
        default: return RegistryPlatform(architecture: debianArch)
        }
    }

    /// `linux/arm64/v8`.
    public var description: String { "\(os)/\(architecture)" + (variant.map { "/\($0)" } ?? "") }

    /// Whether an index entry's platform serves this one: same os and architecture, and the same
    /// variant when both name one (arm64 entries usually omit `v8`).
    public func accepts(_ other: RegistryPlatform) -> Bool {
        guard os == other.os, architecture == other.architecture else { return false }
        guard let mine = variant, let theirs = other.variant else { return true }
        return mine == theirs
    }
}
