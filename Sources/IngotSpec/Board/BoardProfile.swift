// The board profile model: everything Ingot needs to know about a target board (architecture,
// kernel, firmware/bootloader, partition table, how QEMU emulates it and the serial patterns of
// each boot stage). The data lives in boards/*.yml; BoardCatalog+Loading.swift reads it.

import IngotContract

/// CPU architecture, named as Debian names it.
public enum Architecture: String, Sendable, Hashable, CaseIterable {
    case amd64, arm64

    /// The architecture as QEMU and the kernel name it (`qemu-system-<qemuName>`).
    public var qemuName: String {
        switch self {
        case .amd64: return "x86_64"
        case .arm64: return "aarch64"
        }
    }

    /// The Debian architecture (`apt-get download NAME:<debian>`).
    public var debian: String { rawValue }
}

/// The boot stages, in order; each board says how to recognise them on the serial console.
public enum BootStage: String, Sendable, Hashable, CaseIterable, Comparable {
    case firmware, bootloader, kernel, `init`, ready

    private var order: Int { Self.allCases.firstIndex(of: self) ?? 0 }

    /// Stages compare by boot order.
    public static func < (lhs: BootStage, rhs: BootStage) -> Bool { lhs.order < rhs.order }
}

/// The bootloader Ingot installs for a board.
public enum Bootloader: String, Sendable, Hashable, CaseIterable {
    case syslinux
    case systemdBoot = "systemd-boot"
    case ubootExtlinux = "u-boot-extlinux"
}

/// The partition table type.
public enum PartitionTableKind: String, Sendable, Hashable, CaseIterable {
    case mbr, gpt
}

/// The firmware QEMU runs before the bootloader.
public enum FirmwareKind: String, Sendable, Hashable, CaseIterable {
    /// QEMU's built-in SeaBIOS (x86 BIOS boot).
    case seabios
    /// OVMF pflash (x86_64 UEFI).
    case ovmf
    /// AAVMF pflash (arm64 UEFI).
    case aavmf
    /// QEMU cannot run the Raspberry Pi VideoCore firmware, so U-Boot is loaded with `-kernel`.
    case ubootKernel = "u-boot-kernel"
}

/// How QEMU emulates the board.
public struct Emulation: Sendable, Hashable {
    /// `qemu-system-x86_64`, `qemu-system-aarch64`.
    public var binary: String
    /// `-M` value: q35, virt, raspi3b, raspi4b.
    public var machine: String
    /// `-cpu` value, if the machine needs one.
    public var cpu: String?
    /// `-m` in MiB (raspi machines need their fixed size).
    public var memoryMiB: Int
    /// `-smp` (raspi machines need 4).
    public var smp: Int
    public var firmware: FirmwareKind
    /// Disk buses this machine can attach the image to (`--bus`); the first is the default.
    public var buses: [DiskBus]
    /// Extra QEMU arguments appended verbatim.
    public var extraArgs: [String]
    /// The oldest QEMU version with this machine, e.g. "9.0" for raspi4b.
    public var minimumQEMU: String?
    /// Path of u-boot.bin inside the u-boot package, for `u-boot-kernel`.
    public var ubootPath: String?
    /// DTB QEMU loads with `-dtb`, relative to usr/lib/linux-image-VERSION/.
    public var dtb: String?
    /// Whether the machine powers off by itself after `poweroff -f` (raspi machines do not).
    public var powersOff: Bool
    /// The SD/disk image size must be a power of two (QEMU 7.2 SD card emulation).
    public var diskSizePowerOfTwo: Bool
    /// Changes made to a per-run copy of the DTB QEMU loads with `-dtb` (never to the image's own
    /// DTB): devices the emulated machine lacks are disabled so the kernel does not probe them.
    public var dtbEdits: DeviceTreeEdits = DeviceTreeEdits()
    /// The QEMU network device the guest's kernel drives (`virtio-net-pci`), used when a spec asks
    /// for readiness over the network; `none` or nil: this emulated machine has no NIC Linux
    /// drives (the reason is in `nicMissing`).
    public var nic: String? = nil
    /// Why the emulated machine has no usable NIC (shown when a network probe is refused).
    public var nicMissing: String? = nil

    /// The bus used when none is asked for.
    public var diskInterface: DiskBus { buses.first ?? .virtio }
}

/// Edits applied to a copy of a flattened device tree for emulation only. Paths are absolute node
/// paths (`/soc/hdmi@7ef00700`); properties are written `NODE-PATH:PROPERTY`.
public struct DeviceTreeEdits: Sendable, Hashable, Codable {
    /// Nodes whose `status` becomes `"disabled"`.
    public var disable: [String]
    /// Nodes removed with their subtrees.
    public var deleteNodes: [String]
    /// Properties removed (`/soc/mmc@7e300000:non-removable`).
    public var deleteProperties: [String]

    /// Creates a set of edits (empty by default).
    public init(disable: [String] = [], deleteNodes: [String] = [], deleteProperties: [String] = []) {
        self.disable = disable
        self.deleteNodes = deleteNodes
        self.deleteProperties = deleteProperties
    }

    /// True when there is nothing to change.
    public var isEmpty: Bool { disable.isEmpty && deleteNodes.isEmpty && deleteProperties.isEmpty }
}

/// How to recognise one boot stage on the serial console, and how long it may take.
public struct StageRule: Sendable, Hashable {
    /// Regular expressions; any match marks the stage reached. Empty: not visible on this board's
    /// console, counted as reached when a later stage is.
    public var patterns: [String]
    /// Seconds allowed from the previous stage to this one.
    public var timeoutSeconds: Double

    /// Creates a rule.
    public init(patterns: [String], timeoutSeconds: Double) {
        self.patterns = patterns
        self.timeoutSeconds = timeoutSeconds
    }
}

/// Defaults for the disk layout on this board.
public struct LayoutDefaults: Sendable, Hashable {
    /// Offset of the first partition in MiB (1 on PCs, 4 on the Raspberry Pi).
    public var firstPartitionOffsetMiB: Int
    /// Size of the boot (FAT/ESP) partition in MiB.
    public var bootPartitionMiB: Int
    /// Whether to reserve an empty root-b slot for A/B updates.
    public var rootB: Bool
}

/// One board profile (boards/NAME.yml).
public struct BoardProfile: Sendable, Hashable {
    /// The file name without `.yml`.
    public var name: String
    /// One line for `ingot boards`.
    public var summary: String
    public var arch: Architecture
    /// Kernel metapackage, e.g. "linux-image-amd64" (the lock pins the versioned one).
    public var kernelPackage: String
    /// Kernel console device: "ttyS0", "ttyAMA0".
    public var console: String
    /// Board default kernel arguments, e.g. ["console=ttyS0,115200"].
    public var cmdline: [String]
    /// Modules the initramfs loads to find and mount the root (dependencies are added by closure).
    public var initramfsModules: [String]
    /// DTBs copied to the boot partition, relative to usr/lib/linux-image-VERSION/.
    public var dtbs: [String]
    /// Firmware/bootloader Debian packages, e.g. "systemd-boot-efi", "raspi-firmware", "u-boot-rpi".
    public var packages: [String]
    public var bootloader: Bootloader
    public var partitionTable: PartitionTableKind
    public var layout: LayoutDefaults
    public var emulation: Emulation
    /// Serial regexes marking each stage reached, and each stage's timeout (all five present).
    public var stages: [BootStage: StageRule]
    /// Serial regexes that end a run at once as a failure of the current stage.
    public var failurePatterns: [String]
    /// Where the profile starts.
    public var location: SourceLocation
    /// NIC drivers loaded when the appliance needs the network (readiness over http/tcp, or a
    /// root's own init): the emulated NIC's and the board's real ones (dependencies by closure).
    public var networkModules: [String] = []

    /// The total of all stage timeouts: an upper bound for one boot.
    public var totalTimeoutSeconds: Double { stages.values.reduce(0) { $0 + $1.timeoutSeconds } }
}
