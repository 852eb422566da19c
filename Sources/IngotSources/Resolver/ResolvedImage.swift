// What resolving produces: ordered layers (archives in the store or directories), the image
// config of OCI/docker images, the packages resolved from Debian, and the input records that
// the build manifest lists.

import Foundation

/// One filesystem layer for the composer, bottom-most first.
public struct Layer: Sendable {
    /// Where the layer's content is.
    public enum Source: Sendable {
        /// A tar (any compression libarchive reads) stored as a blob; `path` is the verified blob.
        case archive(path: String, digest: Digest)
        /// A host directory, read as-is (owners are not taken from the host).
        case directory(path: String)
    }

    public var source: Source
    /// For people: `busybox-static 1:1.35.0-4+b3 arm64 (apt)`, `oci-layout ./img layer 2/3`.
    public var origin: String

    public init(source: Source, origin: String) {
        self.source = source
        self.origin = origin
    }
}

/// The runtime parts of an OCI/docker image config.
public struct ImageConfig: Sendable, Codable, Equatable {
    public var env: [String]
    public var entrypoint: [String]
    public var cmd: [String]
    public var workingDir: String?
    public var user: String?

    public init(
        env: [String] = [], entrypoint: [String] = [], cmd: [String] = [], workingDir: String? = nil,
        user: String? = nil
    ) {
        self.env = env
        self.entrypoint = entrypoint
        self.cmd = cmd
        self.workingDir = workingDir
        self.user = user
    }
}

/// One input of a build, as listed in the manifest.
public struct InputRecord: Sendable, Codable, Equatable {
    public var name: String
    public var version: String?
    public var arch: String?
    /// sha256 of the input (the .deb, the archive, a layer or a directory listing), hex.
    public var sha256: String
    /// An apt URI or a file path.
    public var origin: String
    /// False for Debian packages that are not in the lock (the build warns about them).
    public var locked: Bool

    public init(name: String, version: String?, arch: String?, sha256: String, origin: String, locked: Bool = true) {
        self.name = name
        self.version = version
        self.arch = arch
        self.sha256 = sha256
        self.origin = origin
        self.locked = locked
    }
}

/// The resolved content of one `image:` of a spec.
public struct ResolvedImage: Sendable {
    public var layers: [Layer]
    public var config: ImageConfig?
    public var inputs: [InputRecord]

    public init(layers: [Layer], config: ImageConfig?, inputs: [InputRecord]) {
        self.layers = layers
        self.config = config
        self.inputs = inputs
    }
}

/// A Debian package fetched for the board's architecture.
public struct ResolvedPackage: Sendable {
    public var name: String
    public var version: String
    /// The control `Architecture` (`arm64`, `amd64` or `all`).
    public var arch: String
    /// The verified .deb in the store.
    public var debPath: String
    public var debDigest: Digest
    /// The data.tar.* member as a layer.
    public var data: Layer
    /// The control file's fields.
    public var control: [String: String]
    /// The archive file name (`busybox-static_1%3a1.35.0-4+deb12u1+b1_arm64.deb`).
    public var filename: String
    /// The manifest record (apt URI or file path; locked or not).
    public var input: InputRecord
}
