// How a disk image is attached on each bus, per machine family: the controllers real machines boot
// from (q35's built-in AHCI, an NVMe controller, a USB 3 stick behind xHCI, virtio-scsi as clouds
// present it) and the Raspberry Pi's SD slot and USB (its DWC2 controller). Each line was booted
// to the ready marker (see README, "Disk buses").

import IngotContract
import IngotSpec

extension Planner {
    /// The machine families a bus translation depends on.
    enum MachineFamily {
        /// x86 PCs: q35 (ICH9, built-in AHCI on ide.0) or the older i440fx `pc`.
        case pc
        /// QEMU's arm64 `virt` machine: PCIe only, no built-in disk controller.
        case virt
        /// raspi3b/raspi4b: SD host controller and the SoC's DWC2 USB.
        case raspi
        /// Anything else: only virtio is known.
        case other
    }

    var family: MachineFamily {
        let machine = emulation.machine
        if machine.hasPrefix("raspi") { return .raspi }
        if machine.hasPrefix("q35") || machine.hasPrefix("pc") { return .pc }
        if machine.hasPrefix("virt") { return .virt }
        return .other
    }

    /// The QEMU arguments putting `file` on `bus`.
    /// - Parameters:
    ///   - bus: the bus (already checked against the board's list).
    ///   - file: the disk file (the image, or a per-run copy/overlay).
    ///   - format: `raw` or `qcow2`.
    ///   - snapshot: attach with `snapshot=on` so the file is never written.
    func busArguments(_ bus: DiskBus, file: String, format: String, snapshot: Bool) throws -> [String] {
        let path = Self.escape(file)
        let snap = snapshot ? ",snapshot=on" : ""
        let drive = ["-drive", "file=\(path),format=\(format),if=none,id=disk0\(snap)"]
        guard supports(bus) else {
            throw MachinePlan.Error.busNotEmulated(
                board: board.name, machine: emulation.machine, bus: bus,
                available: emulation.buses.filter { supports($0) })
        }
        switch (bus, family) {
        case (.virtio, _):
            return ["-drive", "file=\(path),format=\(format),if=virtio\(snap)"]
        case (.sd, .raspi):
            return ["-drive", "file=\(path),if=sd,format=\(format)\(snap)"]
        case (.ahci, .pc):
            // q35's ICH9 AHCI controller, port 0 (what a PC's SATA disk is).
            return drive + ["-device", "ide-hd,drive=disk0,bus=ide.0"]
        case (.nvme, .pc), (.nvme, .virt):
            return drive + ["-device", "nvme,serial=ingot0,drive=disk0"]
        case (.usb, .pc), (.usb, .virt):
            // A USB stick: mass storage (bulk-only), removable, behind an xHCI (USB 3) controller.
            return drive + [
                "-device", "qemu-xhci,id=xhci0", "-device", "usb-storage,bus=xhci0.0,drive=disk0,removable=on",
            ]
        case (.usb, .raspi):
            // The SoC's own DWC2 controller carries the stick (QEMU has no Pi 4 PCIe/VL805 xHCI).
            return drive + ["-device", "usb-storage,drive=disk0,removable=on"]
        case (.scsi, .pc), (.scsi, .virt):
            return drive + ["-device", "virtio-scsi-pci,id=scsi0", "-device", "scsi-hd,drive=disk0,bus=scsi0.0"]
        default:
            throw MachinePlan.Error.busNotEmulated(
                board: board.name, machine: emulation.machine, bus: bus,
                available: emulation.buses.filter { supports($0) })
        }
    }

    /// True when the planner knows how to put a disk on `bus` on this board's machine.
    func supports(_ bus: DiskBus) -> Bool {
        switch (bus, family) {
        case (.virtio, .raspi): return false
        case (.virtio, _): return true
        case (.sd, .raspi), (.usb, .raspi): return true
        // virt has no SATA controller, and an ich9-ahci added on its PCIe is not bootable: AAVMF
        // has no AHCI driver (it falls through to PXE).
        case (.ahci, .pc), (.nvme, .pc), (.nvme, .virt), (.usb, .pc), (.usb, .virt), (.scsi, .pc), (.scsi, .virt):
            return true
        default: return false
        }
    }
}
