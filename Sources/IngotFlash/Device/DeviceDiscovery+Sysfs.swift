// Reading where a disk hangs from its sysfs ancestry: the bus (usb, mmc, nvme, ata, scsi,
// virtio, loop), whether a port above it is hot-pluggable, and who made it (vendor, model,
// serial from the disk, its SCSI VPD page 0x80, or the USB device above it).

import Foundation

extension DeviceDiscovery {
    /// The real sysfs directories from the disk up to /sys/devices, nearest first.
    func ancestry(_ base: String) -> [String] {
        guard var dir = realPath(base) else { return [] }
        var out: [String] = []
        let root = (realPath(sysfs) ?? sysfs) + "/devices"
        while dir.hasPrefix(root), dir.count > root.count {
            out.append(dir)
            dir = (dir as NSString).deletingLastPathComponent
        }
        return out
    }

    /// The subsystem a sysfs directory belongs to (`usb`, `scsi`, `mmc`, `nvme`, `virtio`...).
    func subsystem(_ dir: String) -> String? {
        guard let link = realPath(dir + "/subsystem") else { return nil }
        return (link as NSString).lastPathComponent
    }

    /// The bus, by what lies above the disk: USB wins over the SCSI layer it presents, then MMC,
    /// NVMe, libata (an `ataN` port), virtio, and plain SCSI.
    func bus(name: String, ancestry: [String]) -> DeviceBus {
        if name.hasPrefix("loop") { return .loop }
        let subsystems = Set(ancestry.compactMap(subsystem))
        if subsystems.contains("usb") { return .usb }
        if subsystems.contains("mmc") || name.hasPrefix("mmcblk") { return .mmc }
        if subsystems.contains("nvme") || name.hasPrefix("nvme") { return .nvme }
        let components = ancestry.map { ($0 as NSString).lastPathComponent }
        if components.contains(where: { $0.hasPrefix("ata") && Int($0.dropFirst(3)) != nil }) { return .ata }
        if subsystems.contains("virtio") && !subsystems.contains("scsi") { return .virtio }
        if subsystems.contains("scsi") { return .scsi }
        if subsystems.contains("virtio") { return .virtio }
        return .other
    }

    /// lsblk's HOTPLUG: a device above the disk says `removable` (USB ports do).
    func isHotplug(_ ancestry: [String]) -> Bool {
        ancestry.dropFirst().contains { read($0 + "/removable") == "removable" }
    }

    /// Vendor, model and serial, from the nearest place that has them.
    func identification(base: String, ancestry: [String]) -> (String?, String?, String?) {
        // virtio and PCI expose numeric ids (0x1af4) as vendor: not a name.
        var vendor = read(base + "/device/vendor").flatMap { $0.hasPrefix("0x") ? nil : $0 }
        var model = read(base + "/device/model") ?? read(base + "/device/name")
        var serial = read(base + "/serial") ?? read(base + "/device/serial") ?? vpdSerial(base + "/device/vpd_pg80")
        // USB sticks: the SCSI layer's vendor/model are 8/16-char padded and the serial lives on
        // the USB device (the ancestor with idVendor).
        if let usb = ancestry.first(where: { FileManager.default.fileExists(atPath: $0 + "/idVendor") }) {
            serial = serial ?? read(usb + "/serial")
            vendor = vendor ?? read(usb + "/manufacturer")
            model = model ?? read(usb + "/product")
        }
        return (vendor, model, serial)
    }

    /// The unit serial number from a SCSI VPD page 0x80 (4-byte header, then ASCII).
    func vpdSerial(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path), data.count > 4 else { return nil }
        let length = Int(data[data.startIndex + 3])
        let body = data.dropFirst(4).prefix(length)
        let text = String(decoding: body, as: UTF8.self).trimmingCharacters(
            in: .whitespacesAndNewlines.union(.controlCharacters))
        return text.isEmpty ? nil : text
    }
}
