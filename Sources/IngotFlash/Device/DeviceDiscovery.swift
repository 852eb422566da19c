// Device discovery: whole disks from /sys/block (partitions, dm/md devices and empty loop
// devices are not offered), each described from sysfs (bus, removable, size, model, serial,
// partitions, holders), /proc (mounts, swap) and libblkid (partition table, filesystems, labels).
// The roots are parameters so tests can build a fake sysfs tree.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Finds and describes block devices.
public struct DeviceDiscovery: Sendable {
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case notFound(String)
        case unknownDevice(String, DevNumber)

        public var description: String {
            switch self {
            case .notFound(let p): return "\(p): no such device or file; list the disks with `ingot devices`"
            case .unknownDevice(let p, let dev):
                return "\(p): block device \(dev) is not in sysfs (/sys/dev/block/\(dev)); is /sys mounted?"
            }
        }
    }

    /// Where sysfs is mounted (`/sys`).
    public var sysfs: String
    /// Where procfs is mounted (`/proc`).
    public var proc: String
    /// Where device nodes live (`/dev`).
    public var dev: String
    /// Open each disk with libblkid for its partition table and filesystems.
    public var probe: Bool

    /// Creates a discovery over the given roots.
    public init(sysfs: String = "/sys", proc: String = "/proc", dev: String = "/dev", probe: Bool = true) {
        self.sysfs = sysfs
        self.proc = proc
        self.dev = dev
        self.probe = probe
    }

    /// Every whole disk with a medium (size > 0), sorted by name.
    public func disks() -> [BlockDevice] {
        let mounts = MountTable.read(procRoot: proc)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: sysfs + "/block")) ?? []).sorted()
        return names.compactMap { name in
            guard isOffered(name) else { return nil }
            return try? describe(name: name, mounts: mounts)
        }
    }

    /// What a command-line target is: a whole disk, a partition, a regular file, or something else.
    public func resolve(_ path: String) throws -> TargetKind {
        var st = stat()
        guard stat(path, &st) == 0 else {
            if errno == ENOENT { return .missing }
            throw Error.notFound(path)
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .regularFile(size: Int64(st.st_size))
        case S_IFBLK:
            let number = DevNumber(dev: UInt64(st.st_rdev))
            let link = sysfs + "/dev/block/\(number)"
            guard let real = realPath(link) else { throw Error.unknownDevice(path, number) }
            let name = (real as NSString).lastPathComponent
            if FileManager.default.fileExists(atPath: real + "/partition") {
                let disk = ((real as NSString).deletingLastPathComponent as NSString).lastPathComponent
                return .partition(name: name, disk: disk)
            }
            var device = try describe(name: name, mounts: MountTable.read(procRoot: proc))
            device.path = path
            return .disk(device)
        case S_IFDIR: return .other("a directory")
        case S_IFCHR: return .other("a character device")
        default: return .other("not a block device")
        }
    }

    /// Whole disks worth listing: not partitions (never in /sys/block), not dm/md/zram/ram
    /// devices (they are holders, not media), and not empty loop devices.
    func isOffered(_ name: String) -> Bool {
        if name.hasPrefix("dm-") || name.hasPrefix("md") || name.hasPrefix("zram") || name.hasPrefix("ram") {
            return false
        }
        let base = sysfs + "/block/" + name
        guard let size = Int64(read(base + "/size") ?? ""), size > 0 else { return false }
        if name.hasPrefix("loop") { return FileManager.default.fileExists(atPath: base + "/loop/backing_file") }
        return true
    }

    /// Describes the whole disk `name` (`sdb`).
    public func describe(name: String, mounts: MountTable) throws -> BlockDevice {
        let base = sysfs + "/block/" + name
        guard let number = DevNumber(read(base + "/dev") ?? "") else {
            throw Error.notFound(dev + "/" + name)
        }
        let sectors = Int64(read(base + "/size") ?? "") ?? 0
        let lbs = Int(read(base + "/queue/logical_block_size") ?? "") ?? 512
        let walk = ancestry(base)
        var device = BlockDevice(
            name: name, path: dev + "/" + name, major: number.major, minor: number.minor,
            diskseq: UInt64(read(base + "/diskseq") ?? ""), bus: bus(name: name, ancestry: walk),
            removable: read(base + "/removable") == "1", hotplug: isHotplug(walk), size: sectors * 512,
            readOnly: read(base + "/ro") == "1", logicalBlockSize: lbs)
        (device.vendor, device.model, device.serial) = identification(base: base, ancestry: walk)
        if device.bus == .mmc { device.mmcType = read(base + "/device/type") }
        device.backingFile = read(base + "/loop/backing_file")

        let diskHolders = holders(of: base)
        device.holders = diskHolders.map(\.name)
        (device.mountpoints, device.swap) = usage(of: [number] + diskHolders.map(\.number), mounts: mounts)

        // Kernel partitions (sysfs), then the table libblkid reads (names the entries the kernel
        // may not show, e.g. on kernels without that table's parser).
        var partitions: [DevicePartition] = []
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).sorted()
        for entry in entries where entry.hasPrefix(name) {
            let pbase = base + "/" + entry
            guard let num = Int(read(pbase + "/partition") ?? ""), let pdev = DevNumber(read(pbase + "/dev") ?? "")
            else {
                continue
            }
            let held = holders(of: pbase)
            let (points, swap) = usage(of: [pdev] + held.map(\.number), mounts: mounts)
            partitions.append(
                DevicePartition(
                    number: num, name: entry, devNumber: pdev.description,
                    start: (Int64(read(pbase + "/start") ?? "") ?? 0) * 512,
                    size: (Int64(read(pbase + "/size") ?? "") ?? 0) * 512, mountpoints: points, swap: swap,
                    holders: held.map(\.name)))
        }
        device.partitions = partitions.sorted { $0.number < $1.number }
        if probe { fillFromBlkid(&device) }
        return device
    }

    /// Reads the table and filesystems with libblkid and merges them into the kernel's view.
    func fillFromBlkid(_ device: inout BlockDevice) {
        let fd = open(device.path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            device.probeError = "cannot open \(device.path): \(String(cString: strerror(errno)))"
            return
        }
        defer { close(fd) }
        do {
            let (table, filesystems) = try DeviceProbe.describe(fd: fd, path: device.path)
            guard let table else { return }
            device.partitionTable = table.type
            device.partitionTableUUID = table.uuid
            for entry in table.partitions {
                let fs = filesystems[entry.number] ?? [:]
                if let i = device.partitions.firstIndex(where: { $0.start == entry.start }) {
                    device.partitions[i].uuid = entry.uuid
                    device.partitions[i].type = entry.type
                    device.partitions[i].filesystem = fs["TYPE"]
                    device.partitions[i].label = fs["LABEL"]
                } else {
                    device.partitions.append(
                        DevicePartition(
                            number: entry.number, start: entry.start, size: entry.size, uuid: entry.uuid,
                            type: entry.type, filesystem: fs["TYPE"], label: fs["LABEL"]))
                }
            }
            device.partitions.sort { $0.start < $1.start }
        } catch {
            device.probeError = "\(error)"
        }
    }

    /// Mountpoints and swap use of any of `numbers`.
    func usage(of numbers: [DevNumber], mounts: MountTable) -> ([String], Bool) {
        var points: [String] = []
        for n in numbers { for p in mounts.mounts[n] ?? [] where !points.contains(p) { points.append(p) } }
        return (points, numbers.contains { mounts.swap.contains($0) })
    }

    /// Devices stacked on `base` (its `holders/` directory), transitively.
    func holders(of base: String, depth: Int = 0) -> [(name: String, number: DevNumber)] {
        guard depth < 8 else { return [] }
        var out: [(name: String, number: DevNumber)] = []
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: base + "/holders")) ?? []).sorted() {
            let hbase = sysfs + "/block/" + name
            guard let number = DevNumber(read(hbase + "/dev") ?? "") else { continue }
            out.append((name, number))
            out += holders(of: hbase, depth: depth + 1)
        }
        return out
    }

    /// The first line of a sysfs attribute, trimmed; nil when absent or empty.
    func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// What a flash target path is.
public enum TargetKind: Sendable, Equatable {
    /// A whole disk.
    case disk(BlockDevice)
    /// A partition of `disk`.
    case partition(name: String, disk: String)
    /// A regular file (written only with `--to-file`).
    case regularFile(size: Int64)
    /// Nothing there yet (a new file with `--to-file`).
    case missing
    /// A directory, character device, socket...
    case other(String)
}
