// inspect: builds a small GPT and MBR image with real filesystems inside partitions (mkfs.vfat,
// mke2fs), then checks the report against sfdisk's JSON and blkid's probe at each offset, and
// checks `differences(from:)` against the layout.

import Foundation
import IngotDisk
import IngotFilesystems
import Testing

@Suite struct ImageInspectorTests {
    let mib = Layouts.mib

    /// Formats a filesystem in a separate file and copies it into `range` of `image`.
    func place(_ tool: String, _ args: [String], file: String, into image: ImageFile, at range: ByteRange) throws {
        let r = try run(tool, args)
        #expect(r.status == 0, "\(tool) failed: \(r.stderr)")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        try image.write(bytes, at: 0, in: range)
    }

    @Test func gptReportMatchesSfdiskAndBlkid() throws {
        let tmp = try TempDir()
        let layout = try LayoutPlanner.plan(
            table: .gpt, partitions: Layouts.efi(), contentSizes: ["root-a": 4 * mib], seed: "inspect",
            constraints: Layouts.efiConstraints, diskSize: 64 * mib)
        let img = try ImageFile(path: tmp.file("disk.img"), create: true)
        try PartitionTableWriter.write(layout, to: img)
        let boot = try #require(layout.partition(named: "boot"))
        let data = try #require(layout.partition(named: "data"))
        try place(
            "mkfs.vfat",
            ["-C", "-F", "32", "-n", "EFI", "-i", "1234ABCD", tmp.file("esp.img"), "\(boot.range.size / 1024)"],
            file: tmp.file("esp.img"), into: img, at: boot.range)
        try place(
            "mke2fs",
            [
                "-q", "-t", "ext4", "-F", "-L", "data", "-U", "c0ffee00-1111-4222-8333-444455556666",
                tmp.file("data.img"), "\(data.range.size / 1024)k",
            ],
            file: tmp.file("data.img"), into: img, at: data.range)

        let report = try ImageInspector.inspect(path: img.path)
        #expect(report.table == .gpt)
        #expect(report.diskID == layout.diskID)
        #expect(report.size == 64 * mib)
        #expect(report.differences(from: layout) == [])

        let t = try SfdiskDump.read(img.path)
        #expect(report.partitions.count == t.partitions.count)
        for (p, s) in zip(report.partitions, t.partitions) {
            #expect(p.offset == s.start * 512)
            #expect(p.size == s.size * 512)
            #expect(p.gptType == s.type)
            #expect(p.uuid == s.uuid)
            #expect(p.name == s.name)
            // blkid's own probe of the same range.
            let b = parseExport(
                try run("blkid", ["-p", "-o", "export", "--offset", "\(p.offset)", "--size", "\(p.size)", img.path])
                    .stdout)
            #expect(p.filesystem == b["TYPE"], "partition \(p.number)")
            #expect(p.filesystemUUID == b["UUID"], "partition \(p.number)")
            #expect(p.filesystemLabel == b["LABEL"], "partition \(p.number)")
            #expect(p.filesystemVersion == b["VERSION"], "partition \(p.number)")
        }
        #expect(report.partitions[0].filesystem == "vfat")
        #expect(report.partitions[0].filesystemUUID == "1234-ABCD")
        #expect(report.partitions[0].filesystemLabel == "EFI")
        #expect(report.partitions[0].filesystemVersion == "FAT32")
        #expect(report.partitions[1].filesystem == nil)
        #expect(report.partitions[2].filesystem == "ext4")
        #expect(report.partitions[2].filesystemUUID == "c0ffee00-1111-4222-8333-444455556666")

        // The human table names each filesystem; JSON round-trips.
        let human = report.table()
        #expect(human.contains("vfat FAT32") && human.contains("ext4"), "\(human)")
        let json = try JSONEncoder().encode(report)
        #expect(try JSONDecoder().decode(InspectReport.self, from: json) == report)

        // A layout from another seed differs in ids, not places.
        let other = try LayoutPlanner.plan(
            table: .gpt, partitions: Layouts.efi(), contentSizes: ["root-a": 4 * mib], seed: "other",
            constraints: .none(), diskSize: 64 * mib)
        let diffs = report.differences(from: other)
        #expect(diffs.count == 4, "\(diffs)")  // disk id + 3 partition uuids
        #expect(diffs.allSatisfy { $0.contains("disk id") || $0.contains("uuid") })
    }

    @Test func mbrReportMatchesSfdiskAndBlkid() throws {
        let tmp = try TempDir()
        let layout = try LayoutPlanner.plan(
            table: .mbr, partitions: Layouts.rpi(), contentSizes: [:], firstOffset: 4 * mib, seed: "rpi",
            constraints: Layouts.rpiConstraints, roundDiskToPowerOfTwo: true)
        let img = try ImageFile(path: tmp.file("sd.img"), create: true)
        try PartitionTableWriter.write(layout, to: img)
        let boot = layout.partitions[0]
        try place(
            "mkfs.vfat", ["-C", "-F", "32", "-n", "RPIBOOT", tmp.file("boot.img"), "\(boot.range.size / 1024)"],
            file: tmp.file("boot.img"), into: img, at: boot.range)

        let report = try ImageInspector.inspect(path: img.path)
        #expect(report.table == .mbr)
        #expect(report.diskID == layout.diskID)
        #expect(report.differences(from: layout) == [])
        let t = try SfdiskDump.read(img.path)
        #expect(report.diskID == t.id)
        for (p, s) in zip(report.partitions, t.partitions) {
            #expect(p.offset == s.start * 512)
            #expect(p.mbrType.map { String($0, radix: 16) } == s.type)
            #expect(p.bootable == (s.bootable ?? false))
        }
        #expect(report.partitions[0].filesystemLabel == "RPIBOOT")
        // Linux's PARTUUID as blkid computes it from the table.
        let b = parseExport(try run("blkid", ["-p", "-o", "export", img.path]).stdout)
        let sig = try #require(b["PTUUID"])
        #expect(report.partitions[1].uuid == "\(sig)-02")

        // Flip the bootable flag behind the inspector's back: differences names it.
        var changed = layout
        changed.partitions[0].bootable = false
        #expect(report.differences(from: changed) == ["partition 1 (boot): bootable flag is true, layout wants false"])
    }

    @Test func hybridIsReportedAsHybrid() throws {
        let tmp = try TempDir()
        let layout = try LayoutPlanner.plan(
            table: .hybrid, partitions: Layouts.efi(), contentSizes: [:], seed: "h", constraints: .none(),
            diskSize: 64 * mib)
        let img = try ImageFile(path: tmp.file("h.img"), create: true)
        try PartitionTableWriter.write(layout, to: img)
        let report = try ImageInspector.inspect(path: img.path)
        #expect(report.table == .hybrid)
        #expect(report.differences(from: layout) == [])
    }

    @Test func blankImageHasNoTable() throws {
        let tmp = try TempDir()
        _ = try ImageFile(path: tmp.file("blank.img"), create: true, size: 4 * mib)
        let report = try ImageInspector.inspect(path: tmp.file("blank.img"))
        #expect(report.table == nil && report.partitions.isEmpty)
    }
}
