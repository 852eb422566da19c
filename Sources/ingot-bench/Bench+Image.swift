// `ingot-bench image --tar minbase.tar` (issue 3): the same disk layout built from the same tar by
// Ingot (tree → FAT32, squashfs, partition table, straight into one sparse image) and by the named
// peer genimage (mkfs.vfat/mcopy, mksquashfs, mke2fs), in the same run, alternating which side goes
// first, at least 5 runs each, min/median/max printed; plus the bare I/O floor (read the tar, write
// the image's bytes). The tar extraction genimage needs is timed every run, on its own line.
// Untimed checks on both images (Bench+Checks.swift) decide the verdict: a mismatch is MISSED and
// the command exits non-zero.
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

    @Option(help: "Runs of each side (order alternates; at least 5); min/median/max are printed.")
    var runs: Int = 5

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
        case tooFewRuns
        var description: String {
            switch self {
            case .badTable(let t): return "--table \(t): use mbr or gpt"
            case .notRoot:
                return "the genimage side extracts the tar with its owners and must run as root; run ci/bench as root"
            case .tooFewRuns: return "--runs must be at least 5"
            }
        }
    }

    func run() throws {
        guard let kind = TableKind(rawValue: table), kind != .hybrid else { throw Error.badTable(table) }
        guard getuid() == 0 else { throw Error.notRoot }
        guard runs >= 5 else { throw Error.tooFewRuns }
        let fm = FileManager.default
        try fm.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        print(
            "image benchmark: \(tar) (\(Figures.mb(fileSize(tar))) MB), \(kind.rawValue.uppercased()): "
                + "64 MiB FAT32 boot, squashfs zstd-\(zstdLevel) root (128 KiB blocks), 64 MiB ext4 data")
        print(machineLine())
        if let warning = Corruption.warning { print(warning) }
        let verdict = Verdict()

        let input = scratch + "/input"
        try BootFiles.prepare(in: input)
        let rootDir = scratch + "/root"
        try ChildProcess.shell("cat '\(tar)' > /dev/null")
        let config = scratch + "/genimage.cfg"
        try GenimageConfig.text(table: kind, zstdLevel: zstdLevel, rootSize: fileSize(tar)).write(
            toFile: config, atomically: true, encoding: .utf8)

        var extract: [ChildUsage] = []
        var genimage: [ChildUsage] = []
        var ingot = Samples()
        let ingotArgs = [
            "--tar", tar, "--scratch", scratch, "--boot-dir", input, "--table", kind.rawValue,
            "--zstd-level", String(zstdLevel),
        ]
        for i in 0..<runs {
            for side in i % 2 == 0 ? [0, 1] : [1, 0] {
                if side == 0 {
                    // Untimed: genimage starts from a fresh extraction and empty output directories.
                    try ChildProcess.run(["rm", "-rf", rootDir, scratch + "/gi-tmp", scratch + "/gi-out"])
                    try fm.createDirectory(atPath: rootDir, withIntermediateDirectories: true)
                    try fm.createDirectory(atPath: scratch + "/gi-out", withIntermediateDirectories: true)
                    extract.append(try ChildProcess.run(["tar", "-C", rootDir, "--numeric-owner", "-xpf", tar]))
                    genimage.append(
                        try ChildProcess.run(
                            [
                                "genimage", "--config", config, "--rootpath", rootDir, "--inputpath", input,
                                "--outputpath", scratch + "/gi-out", "--tmppath", scratch + "/gi-tmp",
                            ], output: scratch + "/genimage.log"))
                } else {
                    let (r, u) = try runPhase("ingot-image", arguments: ingotArgs, scratch: scratch)
                    ingot.add(r, u)
                }
            }
            FileHandle.standardError.write(Data("  run \(i + 1)/\(runs) done\n".utf8))
        }

        // The floor: the tar read once, and the image's allocated bytes written once.
        let ingotImage = scratch + "/ingot.img"
        let peerImage = scratch + "/gi-out/disk.img"
        let writeBytes = allocatedSize(ingotImage)
        var floors: [Double] = []
        for _ in 0..<runs {
            let read = try ChildProcess.shell("cat '\(tar)' > /dev/null")
            let write = try ChildProcess.run(
                ["dd", "if=/dev/zero", "of=\(scratch)/floor.bin", "bs=1M", "count=\(max(1, writeBytes >> 20))"],
                output: "/dev/null")
            try? fm.removeItem(atPath: scratch + "/floor.bin")
            floors.append(read.wall + write.wall)
        }

        let peerRoot = fileSize(scratch + "/gi-out/root.squashfs")
        let ingotRoot = ingot.count("rootfs")
        print("\(runs) runs each, alternating order; warm page cache; nothing fsynced (neither side syncs)")
        var t = Table(
            "side", "wall (s) min/med/max", "cpu (s)", "peak RSS (MB)", "image (MB)", "allocated (MB)",
            "root fs (bytes)")
        t.add(
            "genimage (peer)", Figures.spread(genimage.map(\.wall)), Figures.spread(genimage.map(\.cpu)),
            Figures.spreadMB(genimage.map(\.peakRSS)), Figures.mb(fileSize(peerImage)),
            Figures.mb(allocatedSize(peerImage)),
            String(peerRoot))
        t.add(
            "  + tar extraction it needs", Figures.spread(extract.map(\.wall)), Figures.spread(extract.map(\.cpu)),
            Figures.spreadMB(extract.map(\.peakRSS)), "", "", "")
        t.add(
            "ingot", Figures.spread(ingot.walls), Figures.spread(ingot.cpus), Figures.spreadMB(ingot.rsses),
            Figures.mb(ingot.count("imageSize")), Figures.mb(ingot.count("imageAllocated")), String(ingotRoot))
        t.add("I/O floor (cat tar + dd image bytes)", Figures.spread(floors), "", "", "", Figures.mb(writeBytes), "")
        print(t.render())
        print(
            "peak RSS of tar and genimage cannot read below \(Figures.mb(runnerFloor())) MB, the process runner's "
                + "floor (Bench+Phases.swift, runnerFloor); Ingot's figure is its own")
        print(
            "ingot steps (s, min/med/max): "
                + ["compose", "bootTree", "fat", "squashfs", "table", "ext4"]
                .map { "\($0) \(Figures.spread(ingot.allSeconds($0)))" }.joined(separator: ", "))

        print("checks (not timed):")
        let checks = try ImageChecks.run(
            ingotImage: ingotImage, peerImage: peerImage, tar: tar, bootDir: input, scratch: scratch, verdict: verdict)
        try ChildProcess.run(["rm", "-rf", rootDir])

        let peerWall = Figures.median(genimage.map(\.wall))
        let ratio = ingot.wall / max(peerWall, 1e-9)
        let withExtract = ingot.wall / max(Figures.median(zip(genimage, extract).map { $0.wall + $1.wall }), 1e-9)
        print("targets:")
        verdict.target(
            "ingot / genimage wall (medians)",
            measured: Figures.x(ratio) + " (\(Figures.x(withExtract)) counting genimage's tar extraction)",
            bound: "<= 0.5x",
            withinBound: ratio <= Self.ratioTarget, checks: checks)
        verdict.target(
            "ingot root fs vs genimage's", measured: "\(ingotRoot) vs \(peerRoot) bytes", bound: "no larger",
            withinBound: ingotRoot <= peerRoot && ingotRoot > 0, checks: checks)
        let rss = ingot.rsses.max() ?? 0
        verdict.target(
            "ingot peak RSS", measured: Figures.mb(rss) + " MB", bound: "<= 256 MB",
            withinBound: rss <= Self.rssTarget, checks: checks)
        print(
            "  distance to the floor: ingot \(Figures.x(ingot.wall / max(Figures.median(floors), 1e-9))) the I/O floor")
        try verdict.finish("image benchmark")
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
            // The generator runs for every file, so each file's bytes stay the same when one exists.
            let exists = fileSize(path) == Int64(size)
            // Written 1 MiB at a time: this process's memory high-water mark is inherited by every
            // child it spawns (see `runnerFloor`), so it must stay small.
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            let handle = exists ? nil : try FileHandle(forWritingTo: URL(fileURLWithPath: createEmpty(path)))
            for _ in 0..<(size / chunk.count) {
                chunk.withUnsafeMutableBytes { raw in
                    for i in stride(from: 0, to: raw.count, by: 8) {
                        state ^= state << 13
                        state ^= state >> 7
                        state ^= state << 17
                        raw.storeBytes(of: state, toByteOffset: i, as: UInt64.self)
                    }
                }
                try handle?.write(contentsOf: chunk)
            }
            try handle?.close()
        }
    }

    private static func createEmpty(_ path: String) -> String {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return path
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
