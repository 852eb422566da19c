// The artifact layout: the one place that knows which file a build writes for each output role.
// The builder writes through it and records every output with its role in the manifest; readers
// (the harness, inspect, flash, the matrix) look outputs up by role in the manifest, never by
// working file names out again.

/// What an output file is, as recorded in the manifest.
public enum ArtifactRole: String, CaseIterable, Codable, Sendable, Hashable {
    /// The kernel image (`kernel+initrd`).
    case kernel
    /// The initramfs holding the whole root (`kernel+initrd`).
    case initrd
    /// The kernel command line, one line (`kernel+initrd`).
    case cmdline
    /// A device tree blob (`kernel+initrd` on boards with DTBs).
    case dtb
    /// The raw disk image.
    case diskRaw = "disk-raw"
    /// The bmap of the raw disk image.
    case bmap
    /// The qcow2 disk image.
    case diskQcow2 = "disk-qcow2"
    /// The hybrid ISO.
    case iso
    /// The root tree as a tar.
    case rootfsTar = "rootfs-tar"
    /// The build manifest.
    case manifest
    /// The SPDX software bill of materials.
    case sbom

    /// The output format this role belongs to (nil for the manifest and SBOM, which every build writes).
    public var format: OutputFormat? {
        switch self {
        case .kernel, .initrd, .cmdline, .dtb: return .kernelInitrd
        case .diskRaw, .bmap: return .raw
        case .diskQcow2: return .qcow2
        case .iso: return .iso
        case .rootfsTar: return .tar
        case .manifest, .sbom: return nil
        }
    }
}

/// File names of one build's outputs: `NAME-BOARD` plus a suffix per role, inside one directory.
public struct ArtifactLayout: Sendable, Hashable {
    /// The output directory.
    public var directory: String
    /// `NAME-BOARD`, the prefix every output name starts with.
    public var base: String

    /// Creates the layout of `name` built for `board` into `directory`.
    public init(directory: String, name: String, board: String) {
        self.directory = directory
        self.base = "\(name)-\(board)"
    }

    /// The file name (no directory) of the output with `role`; `dtb` names a device tree file.
    public func fileName(_ role: ArtifactRole, dtb: String? = nil) -> String {
        switch role {
        case .kernel: return base + "-kernel"
        case .initrd: return base + "-initrd.img"
        case .cmdline: return base + "-cmdline"
        case .dtb: return base + "-" + (dtb ?? "board.dtb")
        case .diskRaw: return base + ".img"
        case .bmap: return base + ".img.bmap"
        case .diskQcow2: return base + ".qcow2"
        case .iso: return base + ".iso"
        case .rootfsTar: return base + "-rootfs.tar"
        case .manifest: return base + ".manifest.json"
        case .sbom: return base + ".spdx.json"
        }
    }

    /// The path of the output with `role` inside `directory`.
    public func path(_ role: ArtifactRole, dtb: String? = nil) -> String {
        directory + "/" + fileName(role, dtb: dtb)
    }

    /// The path prefix, `DIR/NAME-BOARD` (how users name a build on the command line).
    public var prefix: String { directory + "/" + base }
}
