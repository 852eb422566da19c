// FAT writer tests: every FAT flavour is written from a sample tree and read back by fsck.fat,
// mtools, syslinux and FATReader; plus determinism, sizing and error cases.

import Foundation
import IngotTree
import Testing

@testable import IngotFilesystems

@Suite(.serialized) struct FATWriterTests {
    struct Case: CustomStringConvertible, Sendable {
        var type: FATType
        var size: Int64
        var spc: Int?
        var description: String { "\(type) \(size >> 20) MiB spc \(spc.map(String.init) ?? "auto")" }
    }

    static let cases: [Case] = [
        Case(type: .fat12, size: 16 << 20, spc: nil),
        Case(type: .fat16, size: 64 << 20, spc: nil),
        Case(type: .fat32, size: 64 << 20, spc: nil),
        Case(type: .fat32, size: 300 << 20, spc: 8),
    ]

    /// fsck.fat -n must print only its banner and the summary line; returns (files, used, total).
    func fsck(_ img: String) throws -> (Int, Int, Int) {
        let r = try FATTool.run("fsck.fat", ["-n", img])
        let lines = (r.text + r.stderr).split(separator: "\n").map(String.init)
        #expect(r.status == 0, "fsck.fat exit \(r.status): \(lines)")
        #expect(lines.count == 2, "fsck.fat reported problems: \(lines)")
        let summary = try #require(lines.last)
        let pattern = try Regex(#": (\d+) files, (\d+)/(\d+) clusters"#)
        let m = try #require(summary.firstMatch(of: pattern), "\(lines)")
        let n = (1...3).map { Int(m.output[$0].substring ?? "") ?? -1 }
        return (n[0], n[1], n[2])
    }

    @Test(arguments: cases) func writesValidVolume(_ c: Case) throws {
        let dir = try FATTempDir()
        let (tree, files, dirs) = try FATSamples.tree()
        let img = dir.file("fat.img")
        let image = try ImageFile(path: img, create: true, size: c.size)
        let options = FATOptions(
            type: c.type, volumeLabel: "IngotBoot", volumeID: 0x1234_5678, sectorsPerCluster: c.spc,
            timestamp: 1_600_000_000)
        let report = try FATWriter.write(
            tree: tree, to: image, range: ByteRange(offset: 0, size: c.size), options: options)
        #expect(report.type == c.type)
        if let spc = c.spc { #expect(report.clusterSize == spc * 512) }

        // fsck.fat: clean, and its cluster accounting agrees with ours.
        let (count, used, total) = try fsck(img)
        #expect(count == files.count + dirs.count + 1)  // fsck.fat counts the volume label entry too
        #expect(used == report.usedClusters)
        #expect(total == report.clusters)

        // blkid-like identity via file(1)-free check: our own reader parses the BPB back.
        let reader = try FATReader(image: image, range: ByteRange(offset: 0, size: c.size))
        #expect(reader.type == c.type)
        #expect(reader.volumeLabel == "INGOTBOOT")
        #expect(reader.volumeID == 0x1234_5678)
        let listed = try reader.list()
        #expect(Set(listed.keys) == Set(files.keys).union(dirs))
        for (path, bytes) in files {
            let entry = try #require(listed[path])
            #expect(try reader.read(entry) == bytes, "content of \(path)")
        }
        #expect(try reader.read("/EFI/BOOT/BOOTX64.EFI") == files["/EFI/BOOT/BOOTX64.EFI"])
        #expect(try reader.read("/efi/boot/bootx64.efi") == files["/EFI/BOOT/BOOTX64.EFI"])
        #expect(try reader.read("/many/FILE-0~1.DAT").count > 0)  // by short name
        #expect(listed["/config.txt"]?.mtime == 1_700_000_000)
        #expect(listed["/README"]?.mtime == 1_600_000_000)
        #expect(listed["/README"]?.shortName == "README")
        // Byte order puts "LongName2.txt" first, so it gets the first tail.
        #expect(listed["/LongName2.txt"]?.shortName == "LONGNA~1.TXT")
        #expect(listed["/longname1.txt"]?.shortName == "LONGNA~2.TXT")
        #expect(listed["/longname3.txt"]?.shortName == "LONGNA~3.TXT")
        #expect(listed["/big.bin"]?.size == 3 << 20)

        // mtools: exactly the expected paths, long names and case preserved.
        let mdir = try FATTool.run("mdir", ["-/", "-b", "-i", img, "::"])
        #expect(mdir.status == 0, "\(mdir.stderr)")
        let mpaths = Set(
            mdir.text.split(separator: "\n").map { line -> String in
                var s = String(line.dropFirst(2))
                if s.hasSuffix("/") { s.removeLast() }
                return s
            })
        #expect(mpaths == Set(files.keys).union(dirs))
        for path in [
            "/big.bin", "/A very long file name with many characters - 2024 edition.txt", "/ünïcödé ☃.txt",
            "/many/file-0500.dat", "/deep/a/b/c/d/file.bin", "/EFI/BOOT/BOOTX64.EFI", "/empty",
        ] {
            let r = try FATTool.run("mtype", ["-i", img, "::" + path])
            #expect(r.status == 0, "mtype \(path): \(r.stderr)")
            #expect(r.stdout == files[path], "mtools content of \(path)")
        }
        let label = try FATTool.run("mlabel", ["-s", "-i", img, "::"])
        #expect(label.text.contains("INGOTBOOT"), "\(label.text)")
    }

    @Test(arguments: [FATType.fat16, .fat32]) func syslinuxInstalls(_ type: FATType) throws {
        let dir = try FATTempDir()
        let (tree, files, _) = try FATSamples.tree(manyFiles: 20, bigSize: 100_000)
        try tree.addFile("/syslinux.cfg", text: "DEFAULT linux\n")
        let img = dir.file("boot.img")
        let size: Int64 = 64 << 20
        let image = try ImageFile(path: img, create: true, size: size)
        try FATWriter.write(
            tree: tree, to: image, range: ByteRange(offset: 0, size: size), options: FATOptions(type: type))
        let r = try FATTool.run("syslinux", ["--install", img])
        #expect(r.status == 0, "syslinux --install: \(r.text) \(r.stderr)")
        if type == .fat32 {
            // syslinux patches sector 0 only (with mkfs.fat volumes too): fsck.fat must see
            // differences in the OEM name and boot code only, never in the BPB.
            let f = try FATTool.run("fsck.fat", ["-n", img])
            let text = f.text + f.stderr
            #expect(text.contains("differences between boot sector and its backup"), "\(text)")
            let offsets = try Regex(#"(\d+):[0-9a-f]{2}/[0-9a-f]{2}"#)
            let changed = text.matches(of: offsets).compactMap { Int($0.output[1].substring ?? "") }
            #expect(!changed.isEmpty)
            #expect(changed.allSatisfy { (3...10).contains($0) || (90...509).contains($0) }, "\(changed)")
            try FATWriter.syncBackupBootSector(image: image, range: ByteRange(offset: 0, size: size))
        }
        _ = try fsck(img)
        let reader = try FATReader(image: ImageFile(path: img), range: ByteRange(offset: 0, size: size))
        let listed = try reader.list()
        #expect(listed.keys.contains { $0.uppercased() == "/LDLINUX.SYS" })
        #expect(listed.keys.contains { $0.uppercased() == "/LDLINUX.C32" })
        #expect(try reader.read("/EFI/BOOT/BOOTX64.EFI") == files["/EFI/BOOT/BOOTX64.EFI"])
        // syslinux patched its loader into the boot sector but kept our BPB.
        let boot = try image.read(at: 0, count: 512)
        #expect(boot[510] == 0x55 && boot[511] == 0xAA)
        #expect(boot.fatLE16(11) == 512)
    }

    /// A FAT12/16 root area grows past the usual 512 entries when the root needs more.
    @Test(arguments: [FATType.fat12, .fat16]) func largeFixedRoot(_ type: FATType) throws {
        let dir = try FATTempDir()
        let tree = try FileTree()
        var expected: Set<String> = []
        for i in 0..<400 {
            let path = "/Root file number \(i).cfg"
            try tree.addFile(path, text: "\(i)")
            expected.insert(path)
        }
        let img = dir.file("root.img")
        let size: Int64 = 8 << 20
        let image = try ImageFile(path: img, create: true, size: size)
        try FATWriter.write(
            tree: tree, to: image, range: ByteRange(offset: 0, size: size), options: FATOptions(type: type))
        let boot = try image.read(at: 0, count: 512)
        #expect(boot.fatLE16(17) == 1200)  // 400 × (2 LFN + 1 short)
        let (count, _, _) = try fsck(img)
        #expect(count == 400)
        let listed = try FATReader(image: image, range: ByteRange(offset: 0, size: size)).list()
        #expect(Set(listed.keys) == expected)
        let mdir = try FATTool.run("mdir", ["-/", "-b", "-i", img, "::"])
        #expect(Set(mdir.text.split(separator: "\n").map { String($0.dropFirst(2)) }) == expected)
    }

    @Test func deterministic() throws {
        let dir = try FATTempDir()
        let (tree, _, _) = try FATSamples.tree(manyFiles: 50, bigSize: 200_000)
        var digests: [Data] = []
        for name in ["a.img", "b.img"] {
            let image = try ImageFile(path: dir.file(name), create: true, size: 40 << 20)
            try FATWriter.write(
                tree: tree, to: image, range: ByteRange(offset: 0, size: 40 << 20),
                options: FATOptions(type: .fat32, volumeLabel: "X", volumeID: 7, timestamp: 1_700_000_000))
            digests.append(try Data(contentsOf: URL(fileURLWithPath: dir.file(name))))
        }
        #expect(digests[0] == digests[1])
    }

    @Test func writesIntoPartitionRange() throws {
        let dir = try FATTempDir()
        let (tree, files, _) = try FATSamples.tree(manyFiles: 10, bigSize: 10_000)
        let img = dir.file("disk.img")
        let range = ByteRange(offset: 1 << 20, size: 40 << 20)
        let image = try ImageFile(path: img, create: true, size: range.end + (1 << 20))
        let report = try FATWriter.write(tree: tree, to: image, range: range, options: FATOptions())
        #expect(report.type == .fat16)  // like mkfs.fat for 40 MB
        #expect(try image.read(at: 0, count: 1 << 20).allSatisfy { $0 == 0 })
        #expect(try image.read(at: range.end, count: 1 << 20).allSatisfy { $0 == 0 })
        let boot = try image.read(at: range.offset, count: 512)
        #expect(boot.fatLE32(28) == 2048)  // hidden sectors = partition LBA
        let reader = try FATReader(image: image, range: range)
        for (path, bytes) in files { #expect(try reader.read(path) == bytes) }
        let mdir = try FATTool.run("mdir", ["-/", "-b", "-i", img + "@@1M", "::"])
        #expect(mdir.text.contains("::/EFI/BOOT/BOOTX64.EFI"), "\(mdir.text) \(mdir.stderr)")
    }

    @Test func requiredSizeIsTight() throws {
        let dir = try FATTempDir()
        let (tree, _, _) = try FATSamples.tree(manyFiles: 100, bigSize: 1 << 20)
        for type in [FATType.fat12, .fat16, .fat32] {
            let options = FATOptions(type: type)
            let need = try FATWriter.requiredSize(for: tree, options: options)
            let image = try ImageFile(path: dir.file("\(type).img"), create: true, size: need)
            try FATWriter.write(tree: tree, to: image, range: ByteRange(offset: 0, size: need), options: options)
            _ = try fsck(dir.file("\(type).img"))
            let small = try ImageFile(path: dir.file("small.img"), create: true, size: need - 512)
            #expect(throws: FATWriter.Error.self) {
                try FATWriter.write(
                    tree: tree, to: small, range: ByteRange(offset: 0, size: need - 512), options: options)
            }
        }
        // Auto type for a small tree is FAT12 like mkfs.fat.
        let small = try FileTree()
        try small.addFile("/a.txt", text: "a")
        let need = try FATWriter.requiredSize(for: small, options: FATOptions())
        #expect(need < 1 << 20)
    }

    @Test func contentTooLargeNamesBothSizes() throws {
        let dir = try FATTempDir()
        let tree = try FileTree()
        try tree.addFile("/big.bin", bytes: FATSamples.bytes(3 << 20, seed: 9))
        let size: Int64 = 2 << 20
        let image = try ImageFile(path: dir.file("x.img"), create: true, size: size)
        do {
            try FATWriter.write(tree: tree, to: image, range: ByteRange(offset: 0, size: size), options: FATOptions())
            Issue.record("expected doesNotFit")
        } catch let e as FATWriter.Error {
            guard case .doesNotFit(let needed, let available, _, _) = e else {
                Issue.record("wrong error \(e)")
                return
            }
            #expect(available == size)
            #expect(needed > 3 << 20)
            #expect(e.description.contains("\(size) bytes") && e.description.contains("\(needed) bytes"))
        }
    }

    @Test func refusesWhatFATCannotHold() throws {
        let dir = try FATTempDir()
        let image = try ImageFile(path: dir.file("x.img"), create: true, size: 8 << 20)
        let range = ByteRange(offset: 0, size: 8 << 20)
        func failure(_ build: (FileTree) throws -> Void) throws -> String {
            let tree = try FileTree()
            try build(tree)
            do {
                try FATWriter.write(tree: tree, to: image, range: range, options: FATOptions())
                return "no error"
            } catch { return "\(error)" }
        }
        #expect(
            try failure { try $0.addSymlink("/boot/vmlinuz", target: "vmlinuz-6.1") }.hasPrefix(
                "/boot/vmlinuz: is a symbolic link"))
        #expect(
            try failure {
                try $0.insert(Node(kind: .characterDevice(major: 1, minor: 3), permissions: 0o666), at: "/dev/null")
            }.hasPrefix("/dev/null:"))
        #expect(try failure { try $0.addFile("/a:b", text: "") }.hasPrefix("/a:b: cannot be stored on FAT"))
        #expect(
            try failure {
                try $0.addFile("/x/Readme", text: ""); try $0.addFile("/x/README", text: "")
            }.contains("collides"))
        #expect(try failure { try $0.addFile("/ok", text: "") } == "no error")
        #expect(throws: FATWriter.Error.self) {
            try FATWriter.write(
                tree: FileTree(), to: image, range: range, options: FATOptions(volumeLabel: "bad:label"))
        }
        #expect(throws: FATWriter.Error.self) {
            try FATWriter.write(tree: FileTree(), to: image, range: range, options: FATOptions(type: .fat32))
        }
    }
}
