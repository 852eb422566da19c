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

extension OutputFormat {
    /// The roles of the files a build of this format writes.
    public var artifactRoles: [ArtifactRole] { ArtifactRole.allCases.filter { $0.format == self } }

    /// The output that *is* this format (the disk image, the ISO, the kernel of kernel+initrd, the tar).
    public var primaryRole: ArtifactRole {
        switch self {
        case .raw: return .diskRaw
        case .qcow2: return .diskQcow2
        case .iso: return .iso
        case .kernelInitrd: return .kernel
        case .tar: return .rootfsTar
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

    /// The layout whose path prefix (`DIR/NAME-BOARD`, as users name a build) is `prefix`.
    public init(prefix: String) {
        if let slash = prefix.lastIndex(of: "/") {
            directory = slash == prefix.startIndex ? "/" : String(prefix[..<slash])
            base = String(prefix[prefix.index(after: slash)...])
        } else {
            directory = "."
            base = prefix
        }
    }

    /// What follows `NAME-BOARD` in the file name of the output with `role`; `dtb` names a device
    /// tree file (its base name, e.g. `bcm2837-rpi-3-b.dtb`).
    public static func suffix(_ role: ArtifactRole, dtb: String? = nil) -> String {
        switch role {
        case .kernel: return "-kernel"
        case .initrd: return "-initrd.img"
        case .cmdline: return "-cmdline"
        case .dtb: return "-" + (dtb ?? "board.dtb")
        case .diskRaw: return ".img"
        case .bmap: return ".img.bmap"
        case .diskQcow2: return ".qcow2"
        case .iso: return ".iso"
        case .rootfsTar: return "-rootfs.tar"
        case .manifest: return ".manifest.json"
        case .sbom: return ".spdx.json"
        }
    }

    /// The file name (no directory) of the output with `role`; `dtb` names a device tree file.
    public func fileName(_ role: ArtifactRole, dtb: String? = nil) -> String {
        base + Self.suffix(role, dtb: dtb)
    }

    /// The path of the output with `role` inside `directory`.
    public func path(_ role: ArtifactRole, dtb: String? = nil) -> String {
        directory + "/" + fileName(role, dtb: dtb)
    }

    /// The path prefix, `DIR/NAME-BOARD` (how users name a build on the command line).
    public var prefix: String { directory + "/" + base }

    /// The prefixes an output path may belong to, most likely first: for `out/x-rpi3.img` that is
    /// `out/x-rpi3` (role `diskRaw`). A `.dtb` path may split at any `-`, so it yields one
    /// candidate per split; the caller keeps the one whose manifest exists. A path with no
    /// known suffix is taken as a prefix itself (role nil).
    /// - Parameter path: a file a build wrote, or a build prefix.
    /// - Returns: (layout, role) pairs; longest suffix first, the bare prefix last.
    public static func candidates(forOutputPath path: String) -> [(layout: ArtifactLayout, role: ArtifactRole?)] {
        var out: [(ArtifactLayout, ArtifactRole?)] = []
        let fixed = ArtifactRole.allCases.filter { $0 != .dtb }.map { ($0, suffix($0)) }.sorted {
            $0.1.count > $1.1.count
        }
        for (role, ending) in fixed where path.hasSuffix(ending) && path.count > ending.count {
            out.append((ArtifactLayout(prefix: String(path.dropLast(ending.count))), role))
        }
        if path.hasSuffix(".dtb") {
            let name = path.split(separator: "/").last.map(String.init) ?? path
            var index = name.endIndex
            while let dash = name[..<index].lastIndex(of: "-") {
                let dtb = String(name[name.index(after: dash)...])
                out.append((ArtifactLayout(prefix: String(path.dropLast(dtb.count + 1))), .dtb))
                index = dash
            }
        }
        out.append((ArtifactLayout(prefix: path), nil))
        return out
    }
}
