// Partition plans and boot-chain trees per board, from the disk assembler over fake inputs (no
// mke2fs, syslinux or apt): the table, partition roles, types and offsets each board needs, and
// the files and configs of each bootloader's boot partition.

import Foundation
import IngotDisk
import IngotTree
import Testing

@testable import IngotBuild

@Suite struct DiskPlanTests {
    @Test(arguments: ["x86_64-bios", "x86_64-efi", "arm64-efi", "rpi3", "rpi4"])
    func partitionPlansFitTheBoard(board: String) throws {
        let fixture = try AssemblerFixture(board: board, label: "plan-\(board)")
        defer { fixture.dir.cleanup() }
        let (table, plans, constraints) = fixture.assembler.partitionPlans()
        let efi = board.hasSuffix("-efi")
        #expect(table == (efi ? .gpt : .mbr))
        #expect(plans.map(\.role) == [efi ? .esp : .boot, .rootA, .data])
        #expect(plans.first?.bootable == !efi)
        #expect(constraints.requireESP == efi)
        // The plan is valid for the board before anything is written (provisional root size).
        try fixture.assembler.validate()
        let bootSize = Int64(fixture.assembler.board.layout.bootPartitionMiB) << 20
        let sizes: [String: Int64] = ["root-a": 40 << 20, "esp": bootSize, "boot": bootSize]
        let layout = try LayoutPlanner.plan(
            table: table, partitions: plans, contentSizes: sizes,
            firstOffset: Int64(fixture.assembler.board.layout.firstPartitionOffsetMiB) << 20,
            seed: "test", constraints: constraints,
            roundDiskToPowerOfTwo: fixture.assembler.board.emulation.diskSizePowerOfTwo)
        #expect(layout.partitions.map(\.role) == [efi ? .esp : .boot, .rootA, .data])
        if board.hasPrefix("rpi") {
            #expect(layout.partitions[0].range.offset == 4 << 20)
            #expect(layout.partitions[0].mbrType == 0x0C)
            #expect(layout.diskSize & (layout.diskSize - 1) == 0, "SD images are a power of two for QEMU")
        }
        if efi { #expect(layout.partitions[0].gptType == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B") }
        // Two plans of the same seed are the same (UUIDs derive from it).
        let again = try LayoutPlanner.plan(
            table: table, partitions: plans, contentSizes: sizes,
            firstOffset: Int64(fixture.assembler.board.layout.firstPartitionOffsetMiB) << 20,
            seed: "test", constraints: constraints,
            roundDiskToPowerOfTwo: fixture.assembler.board.emulation.diskSizePowerOfTwo)
        #expect(again.partitions.map(\.uuid) == layout.partitions.map(\.uuid))
    }

    @Test func syslinuxBootTree() async throws {
        let fixture = try AssemblerFixture(board: "x86_64-bios", label: "tree-bios")
        defer { fixture.dir.cleanup() }
        let tree = try await fixture.assembler.bootTree(cmdline: "console=ttyS0 ingot.root=2")
        #expect(try AssemblerFixture.files(tree) == ["/initrd.img", "/syslinux.cfg", "/vmlinuz"])
        let cfg = try AssemblerFixture.text(tree, "/syslinux.cfg")
        #expect(
            cfg.contains("KERNEL /vmlinuz") && cfg.contains("INITRD /initrd.img")
                && cfg.contains("APPEND console=ttyS0 ingot.root=2"))
        #expect(try tree.bytes(of: try #require(tree.lookup("/vmlinuz")?.content)) == AssemblerFixture.kernelBytes)
        try expectStage1(tree, "/initrd.img")
    }

    @Test(arguments: ["x86_64-efi", "arm64-efi"])
    func systemdBootTree(board: String) async throws {
        let fixture = try AssemblerFixture(board: board, label: "tree-\(board)")
        defer { fixture.dir.cleanup() }
        let tree = try await fixture.assembler.bootTree(cmdline: "console=ttyS0 ingot.root=2")
        let loader = board == "x86_64-efi" ? "/EFI/BOOT/BOOTX64.EFI" : "/EFI/BOOT/BOOTAA64.EFI"
        #expect(
            try AssemblerFixture.files(tree)
                == [loader, "/ingot/initrd.img", "/ingot/vmlinuz", "/loader/entries/ingot.conf", "/loader/loader.conf"]
                .sorted())
        #expect(try AssemblerFixture.text(tree, loader) == (board == "x86_64-efi" ? "sd-boot-x64" : "sd-boot-aa64"))
        let entry = try AssemblerFixture.text(tree, "/loader/entries/ingot.conf")
        #expect(
            entry.contains("linux /ingot/vmlinuz") && entry.contains("initrd /ingot/initrd.img")
                && entry.contains("options console=ttyS0 ingot.root=2"))
        #expect(try AssemblerFixture.text(tree, "/loader/loader.conf").contains("timeout 0"))
        try expectStage1(tree, "/ingot/initrd.img")
    }

    @Test(arguments: ["rpi3", "rpi4"])
    func raspberryPiBootTree(board: String) async throws {
        let fixture = try AssemblerFixture(board: board, label: "tree-\(board)")
        defer { fixture.dir.cleanup() }
        let tree = try await fixture.assembler.bootTree(cmdline: "console=ttyAMA0 ingot.root=2")
        let files = try AssemblerFixture.files(tree)
        let firmware =
            board == "rpi3" ? ["/bootcode.bin", "/fixup.dat", "/start.elf"] : ["/fixup4.dat", "/start4.elf"]
        let dtbs = fixture.assembler.board.dtbs.map { "/" + ($0 as NSString).lastPathComponent }
        #expect(
            files
                == (firmware + dtbs + [
                    "/config.txt", "/extlinux/extlinux.conf", "/initrd.img", "/u-boot.bin", "/vmlinuz",
                ]).sorted())
        #expect(try AssemblerFixture.text(tree, "/" + BootChainFiles.piUBoot) == "u-boot-arm64")
        let config = try AssemblerFixture.text(tree, "/config.txt")
        for line in ["arm_64bit=1", "enable_uart=1", "kernel=u-boot.bin"] { #expect(config.contains(line)) }
        let extlinux = try AssemblerFixture.text(tree, "/extlinux/extlinux.conf")
        // No FDT line: U-Boot passes on the firmware's DTB (on hardware the board's own; under QEMU the harness's).
        #expect(!extlinux.contains("FDT ") && extlinux.contains("APPEND console=ttyAMA0 ingot.root=2"))
        // The harness finds the files QEMU loads in place of the firmware under these names.
        let emulated = BootChainFiles.emulatedFirmware(board: fixture.assembler.board)
        #expect(files.contains("/" + emulated.uboot) && files.contains("/" + emulated.dtb))
        try expectStage1(tree, "/initrd.img")
    }

    /// The stage-1 initramfs is a gzip'd newc cpio holding /init and busybox.
    func expectStage1(_ tree: FileTree, _ path: String) throws {
        let bytes = try tree.bytes(of: try #require(tree.lookup(path)?.content))
        #expect(bytes.prefix(2) == [0x1F, 0x8B])
        let file =
            NSTemporaryDirectory() + "ingot-build-test-stage1-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).gz"
        defer { unlink(file) }
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let reader = try ArchiveReader(path: file, formats: .all)
        var names: [String] = []
        while let entry = try reader.next() {
            names.append(entry.path)
            try reader.skipData()
        }
        #expect(names.contains("init") && names.contains("bin/busybox"), "\(names)")
    }
}
