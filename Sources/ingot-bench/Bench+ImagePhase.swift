// The Ingot side of the image benchmark, run in its own process: the rootfs tar is composed into a
// tree and written straight into one sparse image: a 64 MiB FAT32 boot partition (kernel and
// initrd-sized files), a zstd squashfs root and a 64 MiB ext4 data partition (empty, made by
// `mke2fs -E offset=` on the image, as the design allows for an empty data partition).
//
// The squashfs size is only known once it is written, but its start is not: the boot partition
// before it has a fixed size. So the root is written at its planned start first, the layout is then
// planned with the root's real size, and the planner's root offset is checked against it.

import Foundation
import IngotDisk
import IngotFilesystems
import IngotTree

enum ImagePhase {
    static let mib: Int64 = 1 << 20
    static let bootSize: Int64 = 64 * mib
    static let dataSize: Int64 = 64 * mib
    static let firstOffset: Int64 = 1 * mib

    enum Error: Swift.Error, CustomStringConvertible {
        case rootMoved(planned: Int64, written: Int64)
        var description: String {
            switch self {
            case .rootMoved(let planned, let written):
                return "the layout planner put root-a at \(planned), but the squashfs was written at \(written); "
                    + "the boot partition's size or the alignment changed (ingot-bench's ImagePhase must follow)"
            }
        }
    }

    /// The benchmark layout, shared with the genimage configuration.
    static func partitions(table: TableKind) -> [PartitionPlan] {
        [
            PartitionPlan(
                name: "boot", role: table == .gpt ? .esp : .boot, type: table == .gpt ? "esp" : "fat32-lba",
                size: .fixed(bootSize), bootable: table == .mbr, label: "boot"),
            PartitionPlan(name: "root-a", role: .rootA, type: "linux", size: .content(minimum: 0, headroomPercent: 0)),
            PartitionPlan(name: "data", role: .data, type: "linux-data", size: .fixed(dataSize), label: "data"),
        ]
    }

    /// Builds the image at `scratch/ingot.img` and reports each step's time and the sizes.
    /// - Parameters:
    ///   - tar: the rootfs tar.
    ///   - bootDir: a host directory with the boot partition's files.
    ///   - scratch: where the spool and the image go.
    ///   - table: MBR or GPT.
    ///   - zstdLevel: squashfs compression level (nil: Ingot's default).
    static func run(tar: String, bootDir: String, scratch: String, table: TableKind, zstdLevel: Int? = nil) throws
        -> PhaseResult
    {
        var result = PhaseResult()
        let total = monotonicSeconds()
        let spool = try ContentSpool(directory: scratch)

        let (root, composeSeconds) = try timed { () throws -> FileTree in
            let tree = try FileTree(spool: spool)
            try tree.applyLayer(archive: tar, label: "minbase")
            return tree
        }
        result.seconds["compose"] = composeSeconds
        if Corruption.wanted("image") { try Corruption.damage(root, mode: true) }

        let (boot, bootSeconds) = try timed { () throws -> FileTree in
            let tree = try FileTree(spool: spool)
            try tree.applyDirectory(bootDir, label: "boot files")
            return tree
        }
        result.seconds["bootTree"] = bootSeconds

        let path = scratch + "/ingot.img"
        try? FileManager.default.removeItem(atPath: path)
        let image = try ImageFile(path: path, create: true)

        let bootRange = ByteRange(offset: firstOffset, size: bootSize)
        let (_, fatSeconds) = try timed {
            try FATWriter.write(
                tree: boot, to: image, range: bootRange,
                options: FATOptions(type: .fat32, volumeLabel: "BOOT", volumeID: 0x1D60_7B00))
        }
        result.seconds["fat"] = fatSeconds

        // Room for any squashfs of this tar: never larger than its content plus metadata.
        let rootStart = bootRange.end
        let provisional = ByteRange(offset: rootStart, size: fileSize(tar) * 2 + 64 * mib)
        let (squash, squashSeconds) = try timed {
            try SquashfsWriter.write(
                tree: root, to: image, range: provisional,
                options: SquashfsOptions(compression: .zstd, level: zstdLevel, blockSize: 131072))
        }
        result.seconds["squashfs"] = squashSeconds
        result.counts["rootfs"] = squash.bytesUsed
        result.counts["rootInodes"] = Int64(squash.inodes)

        let (layout, tableSeconds) = try timed { () throws -> DiskLayout in
            let layout = try LayoutPlanner.plan(
                table: table, partitions: partitions(table: table), contentSizes: ["root-a": squash.bytesUsed],
                firstOffset: firstOffset, seed: "ingot-bench", constraints: .none(boardName: "bench"))
            if let planned = layout.partition(named: "root-a"), planned.range.offset != rootStart {
                throw Error.rootMoved(planned: planned.range.offset, written: rootStart)
            }
            try PartitionTableWriter.write(layout, to: image)
            return layout
        }
        result.seconds["table"] = tableSeconds

        if let data = layout.partition(named: "data") {
            let (_, ext4Seconds) = try timed {
                try ChildProcess.run(
                    [
                        "mke2fs", "-q", "-F", "-t", "ext4", "-L", "data", "-U", "clear",
                        "-E", "offset=\(data.range.offset),nodiscard,root_owner=0:0", path,
                        "\(data.range.size / 1024)k",
                    ])
            }
            result.seconds["ext4"] = ext4Seconds
            result.counts["dataOffset"] = data.range.offset
        }
        result.seconds["total"] = monotonicSeconds() - total
        result.counts["rootOffset"] = rootStart
        result.counts["imageSize"] = fileSize(path)
        result.counts["imageAllocated"] = allocatedSize(path)
        result.counts["spool"] = spool.size
        return result
    }
}
