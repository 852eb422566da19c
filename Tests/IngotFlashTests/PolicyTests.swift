// The safety policy as a pure value: every refusal case, checked without a device.

import Testing

@testable import IngotFlash

let GiB: Int64 = 1 << 30

@Suite struct PolicyTests {

    /// A plain USB stick with one FAT partition, nothing using it.
    static func stick(_ change: (inout BlockDevice) -> Void = { _ in }) -> BlockDevice {
        var d = BlockDevice(
            name: "sdb", major: 8, minor: 16, diskseq: 42, bus: .usb, removable: true, hotplug: true, size: 16 * GiB,
            vendor: "SanDisk", model: "Cruzer", serial: "4C530001",
            partitions: [
                DevicePartition(
                    number: 1, name: "sdb1", devNumber: "8:17", start: 1 << 20, size: 15 * GiB, filesystem: "vfat")
            ])
        change(&d)
        return d
    }

    @Test func anIdleRemovableStickLargeEnoughIsAccepted() {
        #expect(FlashPolicy().refusals(device: Self.stick(), imageSize: GiB).isEmpty)
    }

    @Test func theSystemDiskIsRefusedForEverySystemMountpoint() {
        for point in ["/", "/boot", "/usr", "/boot/efi"] {
            let d = Self.stick { $0.partitions[0].mountpoints = [point] }
            let r = FlashPolicy(allowFixed: true, confirmedTokens: [d.identity.token]).refusals(device: d, imageSize: 1)
            #expect(r.contains(.systemDisk(path: "/dev/sdb", mountpoint: point)), "\(point): \(r)")
        }
        // Mounted as a whole disk, too.
        let whole = Self.stick { $0.mountpoints = ["/"] }
        #expect(
            FlashPolicy().refusals(device: whole, imageSize: 1).contains(.systemDisk(path: "/dev/sdb", mountpoint: "/"))
        )
    }

    @Test func aSystemMountThroughAHolderIsStillTheSystemDisk() {
        // LVM: sdb1 is held by dm-0, which is mounted at / (discovery folds holder mounts in).
        let d = Self.stick {
            $0.partitions[0].holders = ["dm-0"]
            $0.partitions[0].mountpoints = ["/"]
        }
        let r = FlashPolicy().refusals(device: d, imageSize: 1)
        #expect(r.contains(.systemDisk(path: "/dev/sdb", mountpoint: "/")))
        #expect(r.contains(.held(path: "/dev/sdb", holders: ["dm-0"])))
    }

    @Test func swapIsRefused() {
        let part = Self.stick { $0.partitions[0].swap = true }
        #expect(FlashPolicy().refusals(device: part, imageSize: 1) == [.swap(path: "/dev/sdb", on: "/dev/sdb1")])
        let whole = Self.stick { $0.swap = true }
        #expect(FlashPolicy().refusals(device: whole, imageSize: 1) == [.swap(path: "/dev/sdb", on: "/dev/sdb")])
    }

    @Test func aMountedPartitionIsRefusedNamingTheMountpoint() {
        let d = Self.stick { $0.partitions[0].mountpoints = ["/media/user/CARD"] }
        let r = FlashPolicy().refusals(device: d, imageSize: 1)
        #expect(r == [.mounted(path: "/dev/sdb", mounts: ["/media/user/CARD"])])
        #expect(r[0].description.contains("umount /media/user/CARD"))
    }

    @Test func heldDevicesAreRefused() {
        let d = Self.stick { $0.holders = ["md127"] }
        #expect(FlashPolicy().refusals(device: d, imageSize: 1) == [.held(path: "/dev/sdb", holders: ["md127"])])
    }

    @Test func readOnlyIsRefused() {
        let d = Self.stick { $0.readOnly = true }
        #expect(FlashPolicy().refusals(device: d, imageSize: 1) == [.readOnly(path: "/dev/sdb")])
    }

    @Test func aDeviceSmallerThanTheImageIsRefused() {
        let d = Self.stick { $0.size = 2 * GiB }
        #expect(FlashPolicy().refusals(device: d, imageSize: 2 * GiB).isEmpty)
        let r = FlashPolicy().refusals(device: d, imageSize: 2 * GiB + 512)
        let want = FlashRefusal.tooSmall(path: "/dev/sdb", deviceSize: 2 * GiB, imageSize: 2 * GiB + 512)
        #expect(r == [want])
    }

    @Test func fixedDisksNeedAllowFixedAndTheTypedIdentity() {
        let disk = BlockDevice(name: "sda", major: 8, minor: 0, diskseq: 3, bus: .ata, size: 500 * GiB, serial: "WD-1")
        #expect(!disk.isRemovableMedia)
        let path = "/dev/sda"
        #expect(FlashPolicy().refusals(device: disk, imageSize: 1) == [.fixed(path: path, summary: disk.summary)])
        #expect(
            FlashPolicy(allowFixed: true).refusals(device: disk, imageSize: 1) == [
                .fixedUnconfirmed(path: path, token: "sda:diskseq3")
            ])
        // A token for another medium (older diskseq) does not confirm this one.
        #expect(
            !FlashPolicy(allowFixed: true, confirmedTokens: ["sda:diskseq2"]).refusals(device: disk, imageSize: 1)
                .isEmpty)
        #expect(
            FlashPolicy(allowFixed: true, confirmedTokens: ["sda:diskseq3"]).refusals(device: disk, imageSize: 1)
                .isEmpty)
        // The token alone, without --allow-fixed, is not enough.
        #expect(!FlashPolicy(confirmedTokens: ["sda:diskseq3"]).refusals(device: disk, imageSize: 1).isEmpty)
    }

    @Test func removableMediaByBus() {
        #expect(BlockDevice(name: "sdc", major: 8, minor: 32, bus: .usb, size: 1).isRemovableMedia)
        #expect(BlockDevice(name: "mmcblk0", major: 179, minor: 0, bus: .mmc, size: 1, mmcType: "SD").isRemovableMedia)
        // eMMC soldered to the board is fixed.
        #expect(
            !BlockDevice(name: "mmcblk1", major: 179, minor: 8, bus: .mmc, size: 1, mmcType: "MMC").isRemovableMedia)
        #expect(!BlockDevice(name: "nvme0n1", major: 259, minor: 0, bus: .nvme, size: 1).isRemovableMedia)
        #expect(BlockDevice(name: "sdd", major: 8, minor: 48, bus: .scsi, removable: true, size: 1).isRemovableMedia)
        #expect(BlockDevice(name: "sde", major: 8, minor: 64, bus: .scsi, hotplug: true, size: 1).isRemovableMedia)
        #expect(!BlockDevice(name: "loop0", major: 7, minor: 0, bus: .loop, size: 1).isRemovableMedia)
    }

    @Test func nonBlockTargetsNeedToFile() {
        let p = FlashPolicy()
        #expect(
            p.refusals(path: "x.img", target: .regularFile(size: 5), imageSize: 1).first?.short == "not a block device")
        #expect(p.refusals(path: "new.img", target: .missing, imageSize: 1).count == 1)
        #expect(p.refusals(path: "/tmp", target: .other("a directory"), imageSize: 1).count == 1)
        let files = FlashPolicy(allowFiles: true)
        #expect(files.refusals(path: "x.img", target: .regularFile(size: 5), imageSize: 1).isEmpty)
        #expect(files.refusals(path: "new.img", target: .missing, imageSize: 1).isEmpty)
        // --to-file never makes a directory or a character device writable.
        #expect(files.refusals(path: "/dev/null", target: .other("a character device"), imageSize: 1).count == 1)
    }

    @Test func partitionsAreRefusedNamingTheDisk() {
        let r = FlashPolicy(allowFiles: true).refusals(
            path: "/dev/sdb1", target: .partition(name: "sdb1", disk: "sdb"), imageSize: 1)
        #expect(r == [.partition(path: "/dev/sdb1", disk: "sdb")])
        #expect(r[0].description.contains("/dev/sdb"))
    }

    @Test func everyReasonIsReportedAtOnce() {
        let d = Self.stick {
            $0.readOnly = true
            $0.size = 1024
            $0.partitions[0].mountpoints = ["/mnt"]
        }
        let r = FlashPolicy().refusals(device: d, imageSize: GiB)
        #expect(Set(r.map { $0.short }) == Set(["mounted /mnt", "read-only", "too small"]))
    }

    @Test func theSameDeviceTwiceIsRefused() {
        let a = Self.stick()
        var b = Self.stick()
        b.path = "/dev/disk/by-id/usb-SanDisk"
        let r = FlashPolicy().refusals(
            targets: [("/dev/sdb", .disk(a)), ("/dev/disk/by-id/usb-SanDisk", .disk(b))], imageSize: 1)
        #expect(r == [.duplicate(path: "/dev/disk/by-id/usb-SanDisk")])
    }

    @Test func verifyOnlyReadsMountedFixedAndReadOnlyDisksButNotSmallOnes() {
        let d = Self.stick {
            $0.readOnly = true
            $0.bus = .ata
            $0.removable = false
            $0.hotplug = false
            $0.partitions[0].mountpoints = ["/mnt"]
        }
        #expect(FlashPolicy(readOnly: true).refusals(device: d, imageSize: 1).isEmpty)
        #expect(FlashPolicy(readOnly: true).refusals(device: d, imageSize: 32 * GiB).count == 1)
    }
}

@Suite struct IdentityTests {
    static let base = DeviceIdentity(name: "sdb", major: 8, minor: 16, diskseq: 42, serial: "S1", size: 1000)

    @Test func tokens() {
        #expect(Self.base.token == "sdb:diskseq42")
        let old = DeviceIdentity(name: "sdb", major: 8, minor: 16, diskseq: nil, serial: "A B", size: 1000)
        #expect(old.token == "sdb:A_B:1000")
        let none = DeviceIdentity(name: "sdb", major: 8, minor: 16, diskseq: nil, serial: nil, size: 7)
        #expect(none.token == "sdb:noserial:7")
    }

    @Test func aReplacedMediumIsNotTheConfirmedOne() {
        var other = Self.base
        #expect(Self.base.mismatch(other) == nil)
        other.diskseq = 43
        #expect(Self.base.mismatch(other)?.contains("disk sequence") == true)
        other = Self.base
        other.minor = 32
        #expect(Self.base.mismatch(other)?.contains("8:32") == true)
        other = Self.base
        other.size = 2000
        #expect(Self.base.mismatch(other)?.contains("size") == true)
    }

    @Test func withoutDiskseqTheSerialDecides() {
        let want = DeviceIdentity(name: "sdb", major: 8, minor: 16, diskseq: nil, serial: "S1", size: 1000)
        var got = want
        #expect(want.mismatch(got) == nil)
        got.serial = "S2"
        #expect(want.mismatch(got)?.contains("serial") == true)
    }
}
