// A fake /sys and /proc in a temp directory, shaped like the kernel's: devices under
// /sys/devices with `subsystem` links, /sys/block and /sys/dev/block links, partitions,
// holders. Discovery runs against it with libblkid probing off.

import Foundation

@testable import IngotFlash

final class FakeSysfs {
    let root: String
    var sys: String { root + "/sys" }
    var proc: String { root + "/proc" }
    private let fm = FileManager.default

    init() throws {
        root = NSTemporaryDirectory() + "flash-sysfs-\(UUID().uuidString.prefix(8))"
        for d in [
            "sys/block", "sys/dev/block", "sys/bus/usb", "sys/bus/scsi", "sys/bus/mmc", "sys/bus/virtio",
            "sys/class/nvme", "sys/bus/pci", "proc/self",
        ] {
            try fm.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true)
        }
        try write("proc/self/mountinfo", "")
        try write("proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n")
    }

    deinit { try? fm.removeItem(atPath: root) }

    var discovery: DeviceDiscovery { DeviceDiscovery(sysfs: sys, proc: proc, dev: "/dev", probe: false) }

    func write(_ rel: String, _ text: String) throws {
        let path = root + "/" + rel
        try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }

    func link(_ rel: String, to target: String) throws {
        let path = root + "/" + rel
        try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: path, withDestinationPath: target)
    }

    /// Marks `dir` (relative to sys/devices) as belonging to `subsystem` (`bus/usb`, `class/nvme`).
    func subsystem(_ dir: String, _ subsystem: String) throws {
        try link("sys/devices/\(dir)/subsystem", to: sys + "/" + subsystem)
    }

    /// Adds a whole disk at sys/devices/`parent`/block/`name`.
    func disk(
        _ name: String, parent: String, dev: String, sectors: Int64, removable: Bool = false, ro: Bool = false,
        diskseq: Int? = nil, partitions: [(name: String, number: Int, dev: String, start: Int64, sectors: Int64)] = []
    ) throws {
        let rel = "sys/devices/\(parent)/block/\(name)"
        try write(rel + "/dev", dev + "\n")
        try write(rel + "/size", "\(sectors)\n")
        try write(rel + "/removable", removable ? "1\n" : "0\n")
        try write(rel + "/ro", ro ? "1\n" : "0\n")
        try write(rel + "/queue/logical_block_size", "512\n")
        if let diskseq { try write(rel + "/diskseq", "\(diskseq)\n") }
        try fm.createDirectory(atPath: root + "/" + rel + "/holders", withIntermediateDirectories: true)
        try link("sys/block/\(name)", to: root + "/" + rel)
        try link("sys/dev/block/\(dev)", to: root + "/" + rel)
        if parent != "virtual" { try link(rel + "/device", to: root + "/sys/devices/" + parent) }
        for p in partitions {
            try write(rel + "/\(p.name)/partition", "\(p.number)\n")
            try write(rel + "/\(p.name)/dev", p.dev + "\n")
            try write(rel + "/\(p.name)/start", "\(p.start)\n")
            try write(rel + "/\(p.name)/size", "\(p.sectors)\n")
            try fm.createDirectory(atPath: root + "/" + rel + "/\(p.name)/holders", withIntermediateDirectories: true)
            try link("sys/dev/block/\(p.dev)", to: root + "/" + rel + "/\(p.name)")
        }
    }

    /// A virtual block device stacked on `under` (relative path of a disk or partition dir).
    func holder(_ name: String, dev: String, under: String) throws {
        let rel = "sys/devices/virtual/block/\(name)"
        try write(rel + "/dev", dev + "\n")
        try write(rel + "/size", "100\n")
        try fm.createDirectory(atPath: root + "/" + rel + "/holders", withIntermediateDirectories: true)
        try link("sys/block/\(name)", to: root + "/" + rel)
        try link(under + "/holders/\(name)", to: root + "/" + rel)
    }
}
