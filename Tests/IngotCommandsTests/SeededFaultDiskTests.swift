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
        try Fault.build("examples/faults/minimal.yml", board: "x86_64-efi", format: "raw", into: out, extra: ["--boards-dir", boards])
        let r = try Fault.boot("\(out)/minimal-x86_64-efi.img", args: ["--boards-dir", boards, "--board", "x86_64-efi", "--ready-timeout", "90"])
        #expect(r.status == 1)
        #expect(r.failedStage == "init")
        #expect(r.reason.contains("root-not-found"), "\(r.reason)")
        #expect(r.lastLines.contains { $0.contains("no disk with identifier") && $0.contains("initramfsModules") }, "\(r.lastLines)")
        try Fault.noQEMULeft(out)
    }
}
