// Where a machine runs when it is booted for a test: the embedded QEMU process, a libvirt daemon
// (local or remote), or a real board in a lab (serial console + power commands).

/// The kind of boot backend.
public enum BootBackendKind: String, CaseIterable, Codable, Sendable, Hashable, CustomStringConvertible {
    /// QEMU started as a child process (the default).
    case qemu
    /// A transient libvirt domain on a local or remote daemon.
    case libvirt
    /// A real board reached through a serial device and switched by power commands.
    case lab

    /// Parses a comma-separated list (`qemu,libvirt`).
    public static func parseList(_ text: String, option: String = "--backend") throws -> [BootBackendKind] {
        try parseNameList(text, option: option, as: BootBackendKind.self)
    }

    /// The name users type (`libvirt`), also in string interpolation.
    public var description: String { rawValue }
}
