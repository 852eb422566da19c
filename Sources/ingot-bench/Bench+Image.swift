// `ingot-bench image --tar minbase.tar` (issue 3): the same disk layout built from the same tar by
// Ingot (tree → FAT32, squashfs, partition table, straight into one sparse image) and by the named
// peer genimage (mkfs.vfat/mcopy, mksquashfs, mke2fs), in the same run, plus the bare I/O floor
// (read the tar, write the image's bytes). The tar extraction genimage needs is timed separately.
// Targets: Ingot <= 0.5x genimage wall time at no larger a root fs, peak RSS <= 256 MB.

import ArgumentParser
import Foundation
import IngotDisk

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Build a boot+root+data disk image from a rootfs tar: Ingot vs genimage.")

    @Option(help: "The rootfs tar (e.g. a debootstrap minbase).")
    var tar: String

    @Option(help: "Runs of each side; medians are printed.")
    var runs: Int = 2

    @Option(help: "Scratch directory (needs about 4x the tar's size).")
    var scratch: String = "/var/tmp/ingot-bench-image"

    @Option(help: "Partition table: mbr or gpt.")
    var table: String = "mbr"

    @Option(help: "zstd level of both root filesystems (mksquashfs's own default is 15).")
    var zstdLevel: Int = 3

    static let rssTarget: Int64 = 256 * 1_000_000
    static let ratioTarget = 0.5

    enum Error: Swift.Error, CustomStringConvertible {
        case badTable(String)
        case notRoot
        var description: String {
            switch self {
            case .badTable(let t): return "--table \(t): use mbr or gpt"
            case .notRoot:
                return "the genimage side extracts the tar with its owners and must run as root; run ci/bench as root"
            }
        }
    }

    func run() throws {
        guard let kind = TableKind(rawValue: table), kind != .hybrid else { throw Error.badTable(table) }
        guard getuid() == 0 else { throw Error.notRoot }
        let fm = FileManager.default
        try fm.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        print("image benchmark: \(tar) (\(Figures.mb(fileSize(tar))) MB), \(kind.rawValue.uppercased()): "
            + "64 MiB FAT32 boot, squashfs zstd-\(zstdLevel) root, 64 MiB ext4 data")
        print(machineLine())

        let input = scratch + "/input"
        try BootFiles.prepare(in: input)
        let rootDir = scratch + "/root"
        try? fm.removeItem(atPath: rootDir)
        try fm.createDirectory(atPath: rootDir, withIntermediateDirectories: true)
        try ChildProcess.shell("cat '\(tar)' > /dev/null")
        let extract = try ChildProcess.run(["tar", "-C", rootDir, "--numeric-owner", "-xpf", tar])
        let config = scratch + "/genimage.cfg"
        try GenimageConfig.text(table: kind, zstdLevel: zstdLevel, rootSize: fileSize(tar)).write(toFile: config, atomically: true, encoding: .utf8)

        var peer = Samples()
        var ingot = Samples()
        let ingotArgs = [
            "--tar", tar, "--scratch", scratch, "--boot-dir", input, "--table", kind.rawValue,
            "--zstd-level", String(zstdLevel),
        ]
        for i in 0..<max(1, runs) {
            for dir in ["gi-tmp", "gi-out"] { try? fm.removeItem(atPath: scratch + "/" + dir) }
            try fm.createDirectory(atPath: scratch + "/gi-out", withIntermediateDirectories: true)
            let usage = try ChildProcess.run(
                [
                    "genimage", "--config", config, "--rootpath", rootDir, "--inputpath", input,
                    "--outputpath", scratch + "/gi-out", "--tmppath", scratch + "/gi-tmp",
                ], output: scratch + "/genimage.log")
            peer.add(PhaseResult(), usage)
            let (r, u) = try runPhase("ingot-image", arguments: ingotArgs, scratch: scratch)
            ingot.add(r, u)
            FileHandle.standardError.write(Data("  run \(i + 1)/\(runs) done\n".utf8))
        }

        // The floor: the tar read once, and the image's allocated bytes written once.
        let ingotImage = scratch + "/ingot.img"
        let peerImage = scratch + "/gi-out/disk.img"
        let writeBytes = allocatedSize(ingotImage)
        let readFloor = try ChildProcess.shell("cat '\(tar)' > /dev/null")
        let writeFloor = try ChildProcess.run(
            ["dd", "if=/dev/zero", "of=\(scratch)/floor.bin", "bs=1M", "count=\(max(1, writeBytes >> 20))"],
            output: "/dev/null")
        try? fm.removeItem(atPath: scratch + "/floor.bin")

        let peerRoot = fileSize(scratch + "/gi-out/root.squashfs")
        let ingotRoot = ingot.count("rootfs")
        var t = Table("side", "wall (s)", "cpu (s)", "peak RSS (MB)", "image (MB)", "allocated (MB)", "root fs (MB)")
        t.add("genimage (peer)", Figures.s(peer.wall), Figures.s(peer.cpu), Figures.mb(peer.peakRSS),
              Figures.mb(fileSize(peerImage)), Figures.mb(allocatedSize(peerImage)), Figures.mb(peerRoot))
        t.add("  + tar extraction it needs", Figures.s(extract.wall), Figures.s(extract.cpu),
              Figures.mb(extract.peakRSS), "", "", "")
        t.add("ingot", Figures.s(ingot.wall), Figures.s(ingot.cpu), Figures.mb(ingot.peakRSS),
              Figures.mb(ingot.count("imageSize")), Figures.mb(ingot.count("imageAllocated")), Figures.mb(ingotRoot))
        t.add("I/O floor (cat tar + dd image bytes)", Figures.s(readFloor.wall + writeFloor.wall), "", "", "",
              Figures.mb(writeBytes), "")
        print("median of \(runs) runs; warm page cache; nothing fsynced (neither side syncs)")
        print(t.render())
        print("ingot steps (s): " + ["compose", "bootTree", "fat", "squashfs", "table", "ext4"]
            .map { "\($0) \(Figures.s(ingot.seconds($0)))" }.joined(separator: ", "))

        print("checks (not timed):")
        for line in try ImageChecks.compare(
            ingotImage: ingotImage, ingotRootOffset: ingot.count("rootOffset"), peerRoot: scratch + "/gi-out/root.squashfs",
            peerImage: peerImage)
        { print("  " + line) }

        let ratio = ingot.wall / max(peer.wall, 1e-9)
        let withExtract = ingot.wall / max(peer.wall + extract.wall, 1e-9)
        print("targets:")
        print(Figures.target("ingot / genimage wall", measured: Figures.x(ratio) + " (\(Figures.x(withExtract)) counting "
            + "genimage's tar extraction)", bound: "<= 0.5x", met: ratio <= Self.ratioTarget))
        print(Figures.target("ingot root fs vs genimage's", measured: "\(Figures.mb(ingotRoot)) vs \(Figures.mb(peerRoot)) MB",
                             bound: "no larger", met: ingotRoot <= peerRoot))
        print(Figures.target("ingot peak RSS", measured: Figures.mb(ingot.peakRSS) + " MB", bound: "<= 256 MB",
                             met: ingot.peakRSS <= Self.rssTarget))
        print("  distance to the floor: ingot \(Figures.x(ingot.wall / max(readFloor.wall + writeFloor.wall, 1e-9))) the I/O floor")
    }
}

/// The boot partition's input: a kernel-sized and an initrd-sized file of incompressible,
/// deterministic bytes (made once, not timed).
enum BootFiles {
    static let files: [(name: String, size: Int)] = [("vmlinuz", 8 << 20), ("initrd.img", 24 << 20)]

    static func prepare(in dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for (name, size) in files {
            let path = dir + "/" + name
            if fileSize(path) == Int64(size) { continue }
            var bytes = [UInt8](repeating: 0, count: size)
            bytes.withUnsafeMutableBytes { raw in
                for i in stride(from: 0, to: size, by: 8) {
                    state ^= state << 13
                    state ^= state >> 7
                    state ^= state << 17
                    raw.storeBytes(of: state, toByteOffset: i, as: UInt64.self)
                }
            }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
    }
}

/// The genimage configuration for the same layout as `ImagePhase`.
enum GenimageConfig {
    /// - Parameter rootSize: genimage needs the root partition's size before mksquashfs runs
    ///   (Ingot sizes it from the written squashfs); the tar's size always suffices.
    static func text(table: TableKind, zstdLevel: Int, rootSize: Int64) -> String {
        let gpt = table == .gpt
        let rootMiB = (rootSize + (1 << 20) - 1) >> 20
        return """
            image boot.vfat {
              vfat {
                extraargs = "-F 32 -n BOOT"
                files = { "vmlinuz", "initrd.img" }
              }
              size = 64M
            }
            image root.squashfs {
              squashfs {
                compression = "zstd"
                block-size = 131072
                extraargs = "-Xcompression-level \(zstdLevel)"
              }
            }
            image data.ext4 {
              empty = true
              ext4 {
                use-mke2fs = true
                label = "data"
              }
              size = 64M
            }
            image disk.img {
              hdimage {
                partition-table-type = "\(gpt ? "gpt" : "mbr")"
                align = 1M
              }
              partition boot {
                \(gpt ? "partition-type-uuid = U" : "partition-type = 0xC\n    bootable = true")
                image = "boot.vfat"
                offset = 1M
              }
              partition root {
                \(gpt ? "partition-type-uuid = L" : "partition-type = 0x83")
                image = "root.squashfs"
                size = \(rootMiB)M
              }
              partition data {
                \(gpt ? "partition-type-uuid = L" : "partition-type = 0x83")
                image = "data.ext4"
              }
            }

            """
    }
}
