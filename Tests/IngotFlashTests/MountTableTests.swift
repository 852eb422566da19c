// mountinfo and /proc/swaps parsing: mounts by device number and by source node, octal escapes,
// swap partitions and swap files.

import Testing

@testable import IngotFlash

@Suite struct MountTableTests {
    static let mountinfo = """
        22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
        30 22 8:17 / /media/user/MY\\040CARD rw,nosuid - vfat /dev/sdb1 rw
        31 22 0:45 / /mnt/btrfs rw - btrfs /dev/sdc2 rw
        32 22 0:5 / /dev rw - devtmpfs udev rw
        """
    static let swaps = """
        Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority
        /dev/sdd2                               partition\t1048572\t\t0\t\t-2
        /swapfile                               file\t\t1048572\t\t0\t\t-3
        """

    static func resolve(_ path: String) -> (DevNumber, isNode: Bool)? {
        switch path {
        case "/dev/sdc2": return (DevNumber(major: 8, minor: 34), true)
        case "/dev/sdd2": return (DevNumber(major: 8, minor: 50), true)
        case "/swapfile": return (DevNumber(major: 254, minor: 0), false)
        default: return nil
        }
    }

    @Test func mountsByDeviceNumberAndSource() {
        let t = MountTable.parse(mountinfo: Self.mountinfo, swaps: Self.swaps, resolve: Self.resolve)
        #expect(t.mounts[DevNumber(major: 254, minor: 0)] == ["/"])
        #expect(t.mounts[DevNumber(major: 8, minor: 17)] == ["/media/user/MY CARD"])
        // btrfs reports an anonymous device number; the source node names the partition.
        #expect(t.mounts[DevNumber(major: 8, minor: 34)] == ["/mnt/btrfs"])
        #expect(t.mounts[DevNumber(major: 0, minor: 45)] == ["/mnt/btrfs"])
    }

    @Test func swapPartitionsAndTheFilesystemOfASwapFile() {
        let t = MountTable.parse(mountinfo: Self.mountinfo, swaps: Self.swaps, resolve: Self.resolve)
        #expect(t.swap == [DevNumber(major: 8, minor: 50), DevNumber(major: 254, minor: 0)])
    }

    @Test func devNumbers() {
        #expect(DevNumber("8:17") == DevNumber(major: 8, minor: 17))
        #expect(DevNumber("259:3\n") == DevNumber(major: 259, minor: 3))
        #expect(DevNumber("8") == nil)
        #expect(DevNumber("a:b") == nil)
    }

    @Test func unescape() {
        #expect(MountTable.unescape("/a\\040b\\011c\\134d") == "/a b\tc\\d")
        #expect(MountTable.unescape("/plain") == "/plain")
        #expect(MountTable.unescape("/trailing\\04") == "/trailing\\04")
    }
}
