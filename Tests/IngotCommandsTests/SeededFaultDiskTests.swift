// Seeded faults that need a disk image (`--format raw`): the initramfs's stage 1 must find, mount
// and hand over the root partition, and say why when it cannot. Faults are made by damaging a good
// build (partition deleted with sfdisk) or its board (storage driver left out of the initramfs).
import Foundation
import Testing

@Suite(.serialized) struct SeededFaultDiskTests {
    @Test func missingRootPartitionFailsInInit() throws {
        let out = try E2E.tempDir("fault-noroot")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try Fault.build("examples/faults/minimal.yml", board: "x86_64-efi", format: "raw", into: out)
        let image = "\(out)/minimal-x86_64-efi.img"
        let before = try shellOutput("sfdisk --dump \(image)")
        #expect(before.contains("name=\"root-a\""))
        _ = try shellOutput("sfdisk --delete \(image) 2 2>&1")
        #expect(!(try shellOutput("sfdisk --dump \(image)")).contains("name=\"root-a\""))
        let r = try Fault.boot(image, args: ["--board", "x86_64-efi", "--ready-timeout", "60"])
        #expect(r.status == 1)
        #expect(r.failedStage == "init")
        #expect(r.reason.contains("root-not-found"), "\(r.reason)")
        #expect(r.lastLines.contains { $0.contains("partition 2 is missing") }, "\(r.lastLines)")
        try Fault.noQEMULeft(out)
    }

    @Test func storageDriverMissingFromInitramfsFailsInInit() throws {
        let out = try E2E.tempDir("fault-nomod")
        let boards = try E2E.tempDir("fault-nomod-boards")
        defer {
            try? FileManager.default.removeItem(atPath: out)
            try? FileManager.default.removeItem(atPath: boards)
        }
        _ = try shellOutput("cp \(E2E.root)/boards/*.yml \(boards)/")
        let profile = "\(boards)/x86_64-efi.yml"
        let text = try String(contentsOfFile: profile, encoding: .utf8)
        try E2E.write(text.replacingOccurrences(of: "virtio_pci, virtio_blk, ", with: "virtio_pci, "), to: profile)
        #expect(!(try String(contentsOfFile: profile, encoding: .utf8)).contains("virtio_blk"))
        try Fault.build(
            "examples/faults/minimal.yml", board: "x86_64-efi", format: "raw", into: out,
            extra: ["--boards-dir", boards])
        let r = try Fault.boot(
            "\(out)/minimal-x86_64-efi.img",
            args: ["--boards-dir", boards, "--board", "x86_64-efi", "--ready-timeout", "90"])
        #expect(r.status == 1)
        #expect(r.failedStage == "init")
        #expect(r.reason.contains("root-not-found"), "\(r.reason)")
        #expect(
            r.lastLines.contains { $0.contains("no disk with identifier") && $0.contains("initramfsModules") },
            "\(r.lastLines)")
        try Fault.noQEMULeft(out)
    }

    /// The kernel gets a device tree for another SoC (the Pi 4's on a Pi 3): U-Boot runs and
    /// hands over, the kernel never comes up on the console, so the run fails in the kernel stage.
    @Test func wrongDeviceTreeFailsInKernel() throws {
        let out = try E2E.tempDir("fault-dtb")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try Fault.build("examples/faults/minimal.yml", board: "rpi3", format: "raw", into: out)
        try Fault.build("examples/faults/minimal.yml", board: "rpi4", format: "raw", into: out + "/pi4")
        let image = "\(out)/minimal-rpi3.img"
        let steps = [
            "mcopy -i \(out)/pi4/minimal-rpi4.img@@4M ::bcm2711-rpi-4-b.dtb \(out)/pi4.dtb",
            "mcopy -o -i \(image)@@4M \(out)/pi4.dtb ::wrong.dtb",
            "mcopy -i \(image)@@4M ::extlinux/extlinux.conf \(out)/extlinux.conf",
            "sed -i 's,^  INITRD /initrd.img$,&\\n  FDT /wrong.dtb,' \(out)/extlinux.conf",
            "mcopy -o -i \(image)@@4M \(out)/extlinux.conf ::extlinux/extlinux.conf",
        ]
        #expect(try shellOutput(steps.joined(separator: " && ") + " && echo ok") == "ok")
        #expect(try shellOutput("mtype -i \(image)@@4M ::extlinux/extlinux.conf").contains("FDT /wrong.dtb"))
        let r = try Fault.boot(image, args: ["--board", "rpi3"])
        #expect(r.status == 1)
        #expect(r.failedStage == "kernel", "\(r.reason)")
        #expect(r.lastLines.contains { $0.contains("Retrieving file: /wrong.dtb") }, "\(r.lastLines)")
        try Fault.noQEMULeft(out)
    }
}
