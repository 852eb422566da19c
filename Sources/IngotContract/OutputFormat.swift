// The output formats a build can write, and the strict parser for the comma lists users type
// (`--format raw,qcow2`): unknown, empty and repeated names are errors, never silently dropped.

/// One kind of build output.
public enum OutputFormat: String, CaseIterable, Codable, Sendable, Hashable, CustomStringConvertible {
    /// A sparse raw disk image (`.img`) with its `.img.bmap`.
    case raw
    /// The same disk as qcow2.
    case qcow2
    /// A hybrid ISO 9660 image with El Torito boot.
    case iso
    /// Kernel, initramfs holding the whole root, and cmdline (LinuxKit's default; netboot).
    case kernelInitrd = "kernel+initrd"
    /// The root tree as a POSIX tar.
    case tar

    /// True when the harness can boot this output.
    public var isBootable: Bool { self != .tar }

    /// True for the formats that are a whole disk (partition table, bootloader, filesystems).
    public var isDisk: Bool { self == .raw || self == .qcow2 }

    /// Parses a comma-separated list (`raw,qcow2`).
    /// - Parameters:
    ///   - text: what the user typed.
    ///   - option: the option or field it came from, named in errors (`--format`).
    /// - Throws: `ListError` for an unknown, empty or repeated name.
    public static func parseList(_ text: String, option: String = "--format") throws -> [OutputFormat] {
        try parseNameList(text, option: option, as: OutputFormat.self)
    }

    /// The name users type (`kernel+initrd`), also in string interpolation.
    public var description: String { rawValue }
}
