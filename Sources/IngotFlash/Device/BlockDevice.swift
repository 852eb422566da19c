// What discovery knows about one whole disk: where it hangs (bus), how big and how writable it is,
// who made it, its partitions with their filesystems, and everything that uses it right now
// (mounts, swap, holders such as dm/md/LVM). A plain Codable value: `ingot devices --json` prints
// it and the flash policy judges it without touching the device.

/// The bus a disk reaches the machine on, found by walking its sysfs parents.
public enum DeviceBus: String, Codable, Sendable, CaseIterable {
    /// USB mass storage (sticks, card readers, USB disks).
    case usb
    /// An SD card or eMMC on an MMC host controller.
    case mmc
    /// NVMe.
    case nvme
    /// SATA/PATA through libata.
    case ata
    /// Other SCSI transports (SAS, virtio-scsi, iSCSI).
    case scsi
    /// virtio-blk.
    case virtio
    /// A loop device backed by a file.
    case loop
    /// Anything else (a virtual device with no bus).
    case other
}

/// One partition of a disk, as the kernel and libblkid see it.
public struct DevicePartition: Codable, Sendable, Equatable {
    /// Partition number in the table (1-based).
    public var number: Int
    /// The kernel's name (`sdb1`), nil when the kernel shows no partition device for it.
    public var name: String?
    /// `MAJOR:MINOR` of the kernel's partition device.
    public var devNumber: String?
    /// Byte offset and size on the disk.
    public var start: Int64
    public var size: Int64
    /// PARTUUID (GPT partition GUID or MBR `xxxxxxxx-NN`).
    public var uuid: String?
    /// GPT type GUID or MBR type (`0xc`).
    public var type: String?
    /// Filesystem type libblkid found (`vfat`, `ext4`, `squashfs`, `swap`...).
    public var filesystem: String?
    /// Filesystem label.
    public var label: String?
    /// Where it (or a device stacked on it) is mounted.
    public var mountpoints: [String]
    /// In use as swap (itself or through a holder).
    public var swap: Bool
    /// Devices stacked on it (dm-0, md127), transitively.
    public var holders: [String]

    /// Creates a partition record.
    public init(
        number: Int, name: String? = nil, devNumber: String? = nil, start: Int64, size: Int64, uuid: String? = nil,
        type: String? = nil, filesystem: String? = nil, label: String? = nil, mountpoints: [String] = [],
        swap: Bool = false, holders: [String] = []
    ) {
        self.number = number
        self.name = name
        self.devNumber = devNumber
        self.start = start
        self.size = size
        self.uuid = uuid
        self.type = type
        self.filesystem = filesystem
        self.label = label
        self.mountpoints = mountpoints
        self.swap = swap
        self.holders = holders
    }
}

/// A whole disk.
public struct BlockDevice: Codable, Sendable, Equatable {
    /// Kernel name (`sdb`, `mmcblk0`, `loop3`).
    public var name: String
    /// Device node (`/dev/sdb`).
    public var path: String
    public var major: Int
    public var minor: Int
    /// The kernel's disk sequence number (5.15+): unique per attached medium since boot.
    public var diskseq: UInt64?
    public var bus: DeviceBus
    /// sysfs `removable`: the medium can be removed from the drive (card readers, some sticks).
    public var removable: Bool
    /// The device hangs off a hot-pluggable port (USB, an SD slot).
    public var hotplug: Bool
    /// Size in bytes.
    public var size: Int64
    public var readOnly: Bool
    /// Logical block size in bytes (the O_DIRECT alignment).
    public var logicalBlockSize: Int
    public var vendor: String?
    public var model: String?
    public var serial: String?
    /// MMC card type (`SD`, `MMC` for eMMC, `SDIO`).
    public var mmcType: String?
    /// Loop devices: the file behind it.
    public var backingFile: String?
    /// `gpt` or `dos`, from libblkid; nil when none was found or the disk could not be read.
    public var partitionTable: String?
    /// The table's UUID (GPT disk GUID, MBR signature).
    public var partitionTableUUID: String?
    public var partitions: [DevicePartition]
    /// Where the whole disk itself (or a device stacked on it) is mounted.
    public var mountpoints: [String]
    /// The whole disk is swap (itself or through a holder).
    public var swap: Bool
    /// Devices stacked on the whole disk, transitively.
    public var holders: [String]
    /// Why libblkid could not read the disk (e.g. not root), when it could not.
    public var probeError: String?

    /// Creates a device record (discovery and tests).
    public init(
        name: String, path: String? = nil, major: Int, minor: Int, diskseq: UInt64? = nil, bus: DeviceBus,
        removable: Bool = false, hotplug: Bool = false, size: Int64, readOnly: Bool = false,
        logicalBlockSize: Int = 512, vendor: String? = nil, model: String? = nil, serial: String? = nil,
        mmcType: String? = nil, backingFile: String? = nil, partitionTable: String? = nil,
        partitionTableUUID: String? = nil, partitions: [DevicePartition] = [], mountpoints: [String] = [],
        swap: Bool = false, holders: [String] = [], probeError: String? = nil
    ) {
        self.name = name
        self.path = path ?? "/dev/" + name
        self.major = major
        self.minor = minor
        self.diskseq = diskseq
        self.bus = bus
        self.removable = removable
        self.hotplug = hotplug
        self.size = size
        self.readOnly = readOnly
        self.logicalBlockSize = logicalBlockSize
        self.vendor = vendor
        self.model = model
        self.serial = serial
        self.mmcType = mmcType
        self.backingFile = backingFile
        self.partitionTable = partitionTable
        self.partitionTableUUID = partitionTableUUID
        self.partitions = partitions
        self.mountpoints = mountpoints
        self.swap = swap
        self.holders = holders
        self.probeError = probeError
    }

    /// Media a user plugs in and takes out: a removable medium, a hot-pluggable port, USB, or an
    /// SD card (eMMC soldered on the board is not).
    public var isRemovableMedia: Bool {
        removable || hotplug || bus == .usb || (bus == .mmc && mmcType != "MMC")
    }

    /// Every mountpoint of the disk and its partitions.
    public var allMountpoints: [String] { mountpoints + partitions.flatMap(\.mountpoints) }

    /// The pin the flasher re-checks after opening the device.
    public var identity: DeviceIdentity {
        DeviceIdentity(name: name, major: major, minor: minor, diskseq: diskseq, serial: serial, size: size)
    }

    /// `SanDisk Cruzer Blade` (vendor and model, or the loop's backing file).
    public var displayModel: String {
        let words = [vendor, model].compactMap { $0 }.filter { !$0.isEmpty }
        if !words.isEmpty { return words.joined(separator: " ") }
        if let backingFile { return "loop of \(backingFile)" }
        return "-"
    }

    /// One line naming the device for prompts and reports.
    public var summary: String {
        var parts = [path, bus.rawValue, FlashFormat.bytes(size), displayModel]
        if let serial, !serial.isEmpty { parts.append("serial \(serial)") }
        if let diskseq { parts.append("diskseq \(diskseq)") }
        return parts.joined(separator: ", ")
    }
}
