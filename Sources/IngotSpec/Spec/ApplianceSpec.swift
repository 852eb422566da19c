// The appliance spec model: what `ingot build` makes from one YAML file. Field names and meanings
// follow LinuxKit's (`kernel`, `init`, `onboot`, `onshutdown`, `services`, `files`), plus Ingot's
// own `name`, `hostname`, `readiness` and `data`.

/// How an image or package is named in the spec. Paths are absolute after loading.
public enum ImageRef: Sendable, Hashable {
    /// `deb:busybox-static` or `deb:busybox-static=1:1.35.0-4+b3`: a Debian package for the board's arch
    /// with its dependency closure (Depends, Pre-Depends; Recommends too with `deb:NAME?recommends`).
    case deb(name: String, version: String?, recommends: Bool = false)
    /// `deb-file:./pkgs/foo.deb`.
    case debFile(path: String)
    /// `oci-layout:./img` or `oci-layout:./img:v1`.
    case ociLayout(path: String, tag: String?)
    /// `oci-archive:./img.tar`.
    case ociArchive(path: String)
    /// `docker-archive:./img.tar` (the output of `docker save`).
    case dockerArchive(path: String)
    /// `tar:./rootfs.tar.zst` (.tar, .tar.gz/.tgz, .tar.xz, .tar.zst).
    case tar(path: String)
    /// `dir:./overlay`.
    case directory(path: String)
    /// `alpine:3.19`, `registry.example:5000/team/web:1.4`, `NAME@sha256:HEX`: pulled from a registry.
    case registry(RegistryReference)

    /// The local path this reference reads, if any (nil for `deb:`).
    public var localPath: String? {
        switch self {
        case .deb, .registry: return nil
        case .debFile(let path), .ociLayout(let path, _), .ociArchive(let path), .dockerArchive(let path),
            .tar(let path), .directory(let path):
            return path
        }
    }
}

/// One image reference as written in the spec.
public struct ImageSpec: Sendable, Hashable {
    /// The parsed reference.
    public var ref: ImageRef
    /// The text as written (before path resolution).
    public var raw: String
    /// Where it was written.
    public var location: SourceLocation

    /// Creates an image spec.
    public init(ref: ImageRef, raw: String, location: SourceLocation) {
        self.ref = ref
        self.raw = raw
        self.location = location
    }
}

/// The `kernel:` section. With neither `package` nor `image`, the board's kernel package is used.
public struct KernelSpec: Sendable, Hashable {
    /// A Debian kernel package overriding the board's (e.g. `linux-image-rt-amd64`).
    public var package: String?
    /// An image holding `boot/vmlinuz-*` and `lib/modules/*` instead of a package.
    public var image: ImageSpec?
    /// Extra kernel arguments, appended to the board's.
    public var cmdline: String
    /// Where the section starts.
    public var location: SourceLocation
}

/// Whether a service shares the host's namespace or gets a new one (LinuxKit `net: host`).
public enum NamespaceMode: String, Sendable, Hashable, CaseIterable {
    case host, new
}

/// One `onboot`, `onshutdown` or `services` entry.
public struct ServiceSpec: Sendable, Hashable {
    /// Unique across all three sections.
    public var name: String
    /// Where its root filesystem comes from.
    public var image: ImageSpec
    /// The command line; empty means the image's default (OCI config) command.
    public var command: [String]
    /// `KEY=VALUE` entries.
    public var env: [String]
    /// Working directory inside the service's root.
    public var cwd: String?
    public var net: NamespaceMode
    public var pid: NamespaceMode
    public var ipc: NamespaceMode
    public var uts: NamespaceMode
    /// `src:dst` or `src:dst:ro` / `src:dst:rw`, LinuxKit style; `dst` is absolute.
    public var binds: [String]
    /// Where the entry starts.
    public var location: SourceLocation
}

/// One `files:` entry: exactly one of contents, source, symlink or directory.
public struct FileSpec: Sendable, Hashable {
    /// Path inside the image, normalised: relative, no leading `/`, no `.` or `..` components.
    public var path: String
    /// True for `directory: true`.
    public var directory: Bool
    /// Target of a symlink.
    public var symlink: String?
    /// Inline contents.
    public var contents: String?
    /// Host file to copy, absolute after resolution.
    public var source: String?
    /// Permission bits; nil means the default (0644 files, 0755 directories).
    public var mode: UInt32?
    public var uid: UInt32
    public var gid: UInt32
    /// A missing `source` is skipped instead of being an error.
    public var optional: Bool
    /// Where the entry starts.
    public var location: SourceLocation
}

/// When the appliance counts as up: the board's ready marker, or the spec's own pattern.
public struct Readiness: Sendable, Hashable {
    /// A regular expression matched against serial lines; nil means the init's ready marker.
    public var pattern: String?
    /// Seconds from power-on until readiness must be reached.
    public var timeoutSeconds: Double
    /// `readiness.http`: the service must answer this request over the network (see Readiness+Network.swift).
    public var http: HTTPProbeSpec? = nil
    /// `readiness.tcp`: the service must accept a connection on this port.
    public var tcp: TCPProbeSpec? = nil

    /// The default used when the spec has no `readiness:` section.
    public static let defaultTimeoutSeconds: Double = 120

    /// Creates a readiness rule.
    public init(pattern: String? = nil, timeoutSeconds: Double = Readiness.defaultTimeoutSeconds) {
        self.pattern = pattern
        self.timeoutSeconds = timeoutSeconds
    }
}

/// The persistent data partition.
public struct DataSpec: Sendable, Hashable {
    /// Absolute mount point inside the appliance.
    public var mount: String
    /// Size in bytes (written as "64M", "1G"...).
    public var size: UInt64
    /// Filesystem type; only "ext4" is supported.
    public var filesystem: String
    /// Grow the partition and its filesystem to the end of the medium on first boot (default true).
    public var grow: Bool = true
    /// Where `size` was written (for errors about the disk it leads to); not part of equality.
    public var location: SourceLocation? = nil

    public static func == (lhs: DataSpec, rhs: DataSpec) -> Bool {
        lhs.mount == rhs.mount && lhs.size == rhs.size && lhs.filesystem == rhs.filesystem && lhs.grow == rhs.grow
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(mount)
        hasher.combine(size)
        hasher.combine(filesystem)
        hasher.combine(grow)
    }

    /// The largest data partition a spec may ask for (64 TiB): ext4 and GPT go further, but the
    /// disk arithmetic stays far from overflow and no host writes a bigger sparse file anyway.
    public static let maximumSize: UInt64 = 64 << 40
}

/// A whole appliance spec, validated.
public struct ApplianceSpec: Sendable, Hashable {
    /// Appliance name (a hostname label); names output files.
    public var name: String
    /// Hostname set by the init; defaults to `name`.
    public var hostname: String
    /// Kernel override; nil means the board's kernel package, no extra arguments.
    public var kernel: KernelSpec?
    /// LinuxKit `init:` images, layered in order to form the base root.
    public var initImages: [ImageSpec]
    public var onboot: [ServiceSpec]
    public var onshutdown: [ServiceSpec]
    public var services: [ServiceSpec]
    public var files: [FileSpec]
    public var readiness: Readiness
    public var data: DataSpec?
    /// `boot:`: the root's own init instead of Ingot's generated one (nil: Ingot's init).
    public var boot: BootSpec? = nil
    /// Absolute path of the YAML file (as given for `parse`).
    public var sourcePath: String
    /// Relative paths resolve against this.
    public var baseDirectory: String

    /// All service entries in boot order: onboot, services, onshutdown.
    public var allServices: [ServiceSpec] { onboot + services + onshutdown }

    /// Every image the spec names (kernel image, init, services), in spec order.
    public var allImages: [ImageSpec] {
        (kernel?.image.map { [$0] } ?? []) + initImages + allServices.map(\.image)
    }
}
