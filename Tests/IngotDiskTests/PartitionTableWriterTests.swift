// Writes planned MBR, GPT and hybrid tables into sparse temp images and checks them with
// sfdisk's JSON dump and blkid, plus determinism and MBR boot code placement.

import Foundation
import IngotDisk
import IngotFilesystems
import Testing

@Suite struct PartitionTableWriterTests {
    let mib = Layouts.mib

    @Test func gptLayoutMatchesSfdisk() throws {
        let tmp = try TempDir()
        let layout = try LayoutPlanner.plan(
            table: .gpt, partitions: Layouts.efi(), contentSizes: ["root-a": 20 * mib], seed: "spec|x86_64-efi",
            constraints: Layouts.efiConstraints, diskSize: 128 * mib)
        let img = try ImageFile(path: tmp.file("disk.img"), create: true)
        try PartitionTableWriter.write(layout, to: img)
        #expect(img.size == 128 * mib)

        let t = try SfdiskDump.read(img.path)
        #expect(t.label == "gpt")
        #expect(t.id == layout.diskID)
        #expect(t.partitions.count == 3)
        for (p, s) in zip(layout.partitions, t.partitions) {
            #expect(s.start * 512 == p.range.offset, "start of \(p.name)")
            #expect(s.size * 512 == p.range.size, "size of \(p.name)")
            #expect(s.type == p.gptType, "type of \(p.name)")
            #expect(s.uuid == p.uuid, "uuid of \(p.name)")
            #expect(s.name == (p.label ?? p.name), "name of \(p.name)")
        }
        // The fill partition runs to the last usable sector's 4 KiB boundary.
        let data = try #require(layout.partition(named: "data"))
        #expect(data.range.end == (128 * mib - 33 * 512) / 4096 * 4096)
        // root-a: 20 MiB + 10% = 22 MiB, already 1 MiB aligned.
        #expect(layout.partition(named: "root-a")?.range.size == 22 * mib)

        let pt = parseExport(try run("blkid", ["-p", "-o", "export", img.path]).stdout)
        #expect(pt["PTTYPE"] == "gpt")
        #expect(pt["PTUUID"]?.uppercased() == layout.diskID)
        let verify = try run("sfdisk", ["--verify", img.path])
        #expect(verify.status == 0 && !verify.stdout.contains("problem"), "\(verify.stdout)")
    }

    @Test func mbrLayoutMatchesSfdisk() throws {
        let tmp = try TempDir()
        let layout = try LayoutPlanner.plan(
            table: .mbr, partitions: Layouts.rpi(), contentSizes: ["root-a": 3 * mib], firstOffset: 4 * mib,
            seed: "spec|rpi3", constraints: Layouts.rpiConstraints, roundDiskToPowerOfTwo: true)
        #expect(layout.diskSize == 128 * mib)  // 4 + 64 + 16 + 8 = 92 MiB → 128 MiB
        #expect(layout.partitions[0].range.offset == 4 * mib)
        let img = try ImageFile(path: tmp.file("sd.img"), create: true)
        try PartitionTableWriter.write(layout, to: img)

        let t = try SfdiskDump.read(img.path)
        #expect(t.label == "dos")
        #expect(t.id == layout.diskID)
        #expect(t.id == layout.mbrDiskID)
        let types = t.partitions.map(\.type)
        #expect(types == ["c", "83", "83"])
        #expect(t.partitions.map { $0.bootable ?? false } == [true, false, false])
        for (p, s) in zip(layout.partitions, t.partitions) {
            #expect(s.start * 512 == p.range.offset)
            #expect(s.size * 512 == p.range.size)
        }
        // Linux's PARTUUID for MBR is "<disk signature>-<NN>".
        let sig = layout.diskID.dropFirst(2)
        #expect(layout.partitions[1].uuid == "\(sig)-02")
        let probe = parseExport(try run("blkid", ["-p", "-o", "export", img.path]).stdout)
        #expect(probe["PTTYPE"] == "dos")
        #expect(probe["PTUUID"] == String(sig))
    }

    @Test func sameSeedSameBytesOtherSeedOtherIDs() throws {
        let tmp = try TempDir()
        func build(_ name: String, seed: String, table: TableKind) throws -> (DiskLayout, Data) {
            let parts = table == .mbr ? Layouts.rpi() : Layouts.efi()
            let layout = try LayoutPlanner.plan(
                table: table, partitions: parts, contentSizes: ["root-a": 5 * mib], seed: seed,
                constraints: .none(), diskSize: 96 * mib)
            let img = try ImageFile(path: tmp.file(name), create: true)
            try PartitionTableWriter.write(layout, to: img)
            return (layout, try Data(contentsOf: URL(fileURLWithPath: img.path)))
        }
        for table in [TableKind.gpt, .mbr, .hybrid] {
            let (l1, b1) = try build("a-\(table)", seed: "s1", table: table)
            let (l2, b2) = try build("b-\(table)", seed: "s1", table: table)
            let (l3, b3) = try build("c-\(table)", seed: "s2", table: table)
            #expect(l1 == l2)
            #expect(b1 == b2, "same seed must give identical \(table) bytes")
            #expect(b1 != b3)
            #expect(l1.diskID != l3.diskID)
            #expect(l1.partitions.map(\.uuid) != l3.partitions.map(\.uuid))
            #expect(l1.partitions.map(\.range) == l3.partitions.map(\.range))
        }
    }

    @Test func hybridListsPartitionsInMBR() throws {
        let tmp = try TempDir()
        var parts = Layouts.efi()
        parts[0].bootable = true
        let layout = try LayoutPlanner.plan(
            table: .hybrid, partitions: parts, contentSizes: [:], seed: "hy", constraints: .none(), diskSize: 64 * mib)
        let img = try ImageFile(path: tmp.file("hy.img"), create: true)
        try PartitionTableWriter.write(layout, to: img)
        let t = try SfdiskDump.read(img.path)
        #expect(t.label == "gpt")
        #expect(t.partitions.map(\.uuid) == layout.partitions.map(\.uuid))
        // The MBR half, as sfdisk reads it when forced to dos.
        let dos = try run("sfdisk", ["--label-nested", "dos", "--dump", img.path])
        #expect(dos.status == 0, "\(dos.stderr)")
        #expect(dos.stdout.contains("label: dos"))
        #expect(dos.stdout.contains("type=ef, bootable"), "\(dos.stdout)")
        #expect(dos.stdout.contains("type=ee"), "\(dos.stdout)")
        #expect(dos.stdout.contains("start=        2048, size=       65536, type=ef"), "\(dos.stdout)")
    }

    @Test func bootCodeKeepsTable() throws {
        let tmp = try TempDir()
        let layout = try LayoutPlanner.plan(
            table: .mbr, partitions: Layouts.rpi(), contentSizes: [:], seed: "x", constraints: .none())
        let img = try ImageFile(path: tmp.file("bios.img"), create: true)
        try PartitionTableWriter.write(layout, to: img)
        let before = try img.read(at: 440, count: 72)
        let code = [UInt8](repeating: 0xfa, count: 512)
        try PartitionTableWriter.installMBRBootCode(code, image: img)
        let sector = try img.read(at: 0, count: 512)
        #expect(Array(sector[0..<440]) == [UInt8](repeating: 0xfa, count: 440))
        #expect(Array(sector[440..<512]) == before)
        // Rewriting the table keeps the boot code.
        try PartitionTableWriter.write(layout, to: img)
        #expect(try img.read(at: 0, count: 440) == [UInt8](repeating: 0xfa, count: 440))
        #expect(try SfdiskDump.read(img.path).partitions.count == 3)
        #expect(throws: PartitionTableWriter.Error.self) { try PartitionTableWriter.installMBRBootCode([], image: img) }
    }
}
