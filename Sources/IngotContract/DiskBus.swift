// The disk buses an image can be attached to: the ones real machines boot from (SATA/AHCI, NVMe,
// USB mass storage, SD cards, SCSI as hypervisors present it) and QEMU's virtio.

/// How a disk reaches the machine.
public enum DiskBus: String, CaseIterable, Codable, Sendable, Hashable, CustomStringConvertible {
    /// virtio-blk (QEMU and clouds).
    case virtio
    /// SATA through an AHCI controller (PCs).
    case ahci
    /// NVMe (PCs, arm64 servers).
    case nvme
    /// USB mass storage behind an xHCI controller (USB sticks).
    case usb
    /// An SD card on the board's own SD host controller (Raspberry Pi).
    case sd
    /// SCSI disks as hypervisors present them (virtio-scsi).
    case scsi

    /// Parses a comma-separated list (`ahci,nvme`).
    public static func parseList(_ text: String, option: String = "--bus") throws -> [DiskBus] {
        try parseNameList(text, option: option, as: DiskBus.self)
    }

    /// The name users type (`nvme`), also in string interpolation.
    public var description: String { rawValue }
}
