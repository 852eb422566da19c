// Discovery against a fake sysfs: the bus is found by walking parents (USB over the SCSI layer
// it presents, MMC SD vs eMMC, NVMe, libata, virtio, loop), identification comes from the
// nearest place that has it, and mounts, swap and holders are folded in.

import Foundation
import Testing

@testable import IngotFlash

@Suite struct DiscoveryTests {
    @Test func usbStickSeenThroughItsScsiLayer() throws {
        let fs = try FakeSysfs()
        let usb = "pci0000:00/0000:00:14.0/usb2/2-1"
        let scsi = "\(usb)/2-1:1.0/host6/target6:0:0/6:0:0:0"
        try fs.subsystem(usb, "bus/usb")
        try fs.subsystem("\(usb)/2-1:1.0", "bus/usb")
        try fs.subsystem(scsi, "bus/scsi")
        try fs.write("sys/devices/\(usb)/idVendor", "0781\n")
        try fs.write("sys/devices/\(usb)/serial", "4C530001230518117482\n")
        try fs.write("sys/devices/\(usb)/removable", "removable\n")
        try fs.write("sys/devices/\(scsi)/vendor", "SanDisk \n")
        try fs.write("sys/devices/\(scsi)/model", "Cruzer Blade    \n")
        try fs.disk(
            "sdb", parent: scsi, dev: "8:16", sectors: 30_031_872, removable: true, diskseq: 12,
            partitions: [("sdb1", 1, "8:17", 2048, 30_029_824)])
        let d = try fs.discovery.describe(name: "sdb", mounts: MountTable())
        #expect(d.bus == .usb)
        #expect(d.hotplug)
        #expect(d.removable)
        #expect(d.isRemovableMedia)
        #expect(d.vendor == "SanDisk")
        #expect(d.model == "Cruzer Blade")
        #expect(d.serial == "4C530001230518117482")
        #expect(d.size == 30_031_872 * 512)
        #expect(d.diskseq == 12)
        #expect(d.partitions.map(\.name) == ["sdb1"])
        #expect(d.partitions.first?.start == Int64(2048 * 512))
        #expect(d.identity.token == "sdb:diskseq12")
    }

    @Test func sdCardAndEmmc() throws {
        let fs = try FakeSysfs()
        let host = "platform/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa"
        try fs.subsystem(host, "bus/mmc")
        try fs.write("sys/devices/\(host)/type", "SD\n")
        try fs.write("sys/devices/\(host)/name", "SC32G\n")
        try fs.write("sys/devices/\(host)/serial", "0x1234abcd\n")
        try fs.disk("mmcblk0", parent: host, dev: "179:0", sectors: 62_333_952)
        let emmc = "platform/fe330000.mmc/mmc_host/mmc1/mmc1:0001"
        try fs.subsystem(emmc, "bus/mmc")
        try fs.write("sys/devices/\(emmc)/type", "MMC\n")
        try fs.disk("mmcblk1", parent: emmc, dev: "179:8", sectors: 30_000_000)
        let sd = try fs.discovery.describe(name: "mmcblk0", mounts: MountTable())
        #expect(sd.bus == .mmc && sd.mmcType == "SD" && sd.isRemovableMedia)
        #expect(sd.model == "SC32G" && sd.serial == "0x1234abcd")
        let fixed = try fs.discovery.describe(name: "mmcblk1", mounts: MountTable())
        #expect(fixed.bus == .mmc && fixed.mmcType == "MMC" && !fixed.isRemovableMedia)
    }

    @Test func nvmeAtaVirtioAndLoop() throws {
        let fs = try FakeSysfs()
        try fs.subsystem("pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0", "class/nvme")
        try fs.write("sys/devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/model", "Samsung SSD 980\n")
        try fs.write("sys/devices/pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/serial", "S64DNX0R\n")
        try fs.disk("nvme0n1", parent: "pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0", dev: "259:0", sectors: 1000)
        let ata = "pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0"
        try fs.subsystem(ata, "bus/scsi")
        try fs.disk("sda", parent: ata, dev: "8:0", sectors: 1000)
        try fs.subsystem("pci0000:00/0000:00:02.0/virtio1", "bus/virtio")
        try fs.disk("vda", parent: "pci0000:00/0000:00:02.0/virtio1", dev: "254:0", sectors: 1000)
        try fs.write("sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda/serial", "vdserial\n")
        try fs.write("sys/devices/pci0000:00/0000:00:02.0/virtio1/vendor", "0x1af4\n")
        try fs.disk("loop3", parent: "virtual", dev: "7:3", sectors: 2048, diskseq: 99)
        try fs.write("sys/devices/virtual/block/loop3/loop/backing_file", "/tmp/card.img\n")
        try fs.disk("loop4", parent: "virtual", dev: "7:4", sectors: 0)
        let d = fs.discovery
        let nvme = try d.describe(name: "nvme0n1", mounts: MountTable())
        #expect(nvme.bus == .nvme && nvme.model == "Samsung SSD 980" && nvme.serial == "S64DNX0R")
        #expect(try d.describe(name: "sda", mounts: MountTable()).bus == .ata)
        let vda = try d.describe(name: "vda", mounts: MountTable())
        #expect(vda.bus == .virtio && vda.serial == "vdserial" && vda.vendor == nil)
        let loop = try d.describe(name: "loop3", mounts: MountTable())
        #expect(
            loop.bus == .loop && loop.backingFile == "/tmp/card.img" && loop.displayModel == "loop of /tmp/card.img")
        // Listing: loop4 (no medium) is left out; everything else is there.
        #expect(d.disks().map(\.name) == ["loop3", "nvme0n1", "sda", "vda"])
    }

    @Test func mountsSwapAndHoldersAreFoldedIn() throws {
        let fs = try FakeSysfs()
        let ata = "pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0"
        try fs.subsystem(ata, "bus/scsi")
        try fs.disk(
            "sdc", parent: ata, dev: "8:32", sectors: 10000,
            partitions: [("sdc1", 1, "8:33", 2048, 4000), ("sdc2", 2, "8:34", 6048, 3000)])
        // LVM: sdc2 → dm-0 (mounted at /), dm-0 → dm-1 (swap).
        try fs.holder("dm-0", dev: "253:0", under: "sys/devices/\(ata)/block/sdc/sdc2")
        try fs.holder("dm-1", dev: "253:1", under: "sys/devices/virtual/block/dm-0")
        try fs.write(
            "proc/self/mountinfo",
            "1 0 253:0 / / rw - ext4 /dev/mapper/vg-root rw\n2 1 8:33 / /boot rw - ext2 /dev/sdc1 rw\n")
        let mounts = MountTable.parse(
            mountinfo: "1 0 253:0 / / rw - ext4 /dev/mapper/vg-root rw\n2 1 8:33 / /boot rw - ext2 /dev/sdc1 rw\n",
            swaps: "header\n/dev/dm-1 partition 1 0 -2\n",
            resolve: { $0 == "/dev/dm-1" ? (DevNumber(major: 253, minor: 1), true) : nil })
        let d = try fs.discovery.describe(name: "sdc", mounts: mounts)
        #expect(d.partitions[0].mountpoints == ["/boot"])
        #expect(d.partitions[1].holders == ["dm-0", "dm-1"])
        #expect(d.partitions[1].mountpoints == ["/"])
        #expect(d.partitions[1].swap)
        let refusals = FlashPolicy().refusals(device: d, imageSize: 1)
        #expect(refusals.contains(.systemDisk(path: "/dev/sdc", mountpoint: "/boot")))
        #expect(refusals.contains(.held(path: "/dev/sdc", holders: ["dm-0", "dm-1"])))
        #expect(refusals.contains(.swap(path: "/dev/sdc", on: "/dev/sdc2")))
        // dm devices are holders, never offered as disks.
        #expect(fs.discovery.disks().map(\.name) == ["sdc"])
    }

    @Test func vpdSerial() throws {
        let fs = try FakeSysfs()
        var page: [UInt8] = [0x00, 0x80, 0x00, 0x0a]
        page += Array("  WD-12345".utf8)
        let path = fs.root + "/vpd"
        _ = FileManager.default.createFile(atPath: path, contents: Data(page))
        #expect(fs.discovery.vpdSerial(path) == "WD-12345")
    }
}
