// The measured phases, each run in its own child process (`ingot-bench phase NAME ...`, hidden):
// `walk` (the libarchive header walk that reads what compose reads), `compose`,
// `compose-initramfs`, `compose-squashfs`, `ingot-image`, and the untimed `verify-compose`. A phase
// does its work, times its steps on the monotonic clock and writes a `PhaseResult` JSON file; the
// parent adds wall time and peak RSS from `wait4`.

import ArgumentParser
import Foundation
import IngotDisk
import IngotFilesystems
import IngotTree

struct PhaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phase", abstract: "Runs one measured phase (used by the benchmarks themselves).",
        shouldDisplay: false)

    @Argument(help: "walk | compose | compose-initramfs | compose-squashfs | verify-compose | ingot-image")
    var name: String

    @Option(help: "Where to write the phase's JSON result.")
    var result: String

    @Option(help: "The rootfs tar.")
    var tar: String

    @Option(help: "Directory for the content spool and outputs.")
    var scratch: String

    @Option(help: "Directory holding the boot partition's files (ingot-image).")
    var bootDir: String?

    @Option(help: "Partition table for ingot-image: mbr or gpt.")
    var table: String = "mbr"

    @Option(help: "squashfs zstd level (ingot-image, compose-squashfs; default: Ingot's).")
    var zstdLevel: Int?

    @Option(help: "Where compose-squashfs writes the squashfs.")
    var output: String?

    enum Error: Swift.Error, CustomStringConvertible {
        case unknownPhase(String)
        case missing(String, String)
        var description: String {
            switch self {
            case .unknownPhase(let n):
                return
                    "unknown phase '\(n)'; use walk, compose, compose-initramfs, compose-squashfs, verify-compose or ingot-image"
            case .missing(let phase, let option): return "phase '\(phase)' needs \(option)"
            }
        }
    }

    func run() throws {
        var out = PhaseResult()
        switch name {
        case "walk":
            out = try Phases.walk(tar: tar)
        case "compose":
            out = try Phases.compose(tar: tar, scratch: scratch, initramfs: false)
        case "compose-initramfs":
            out = try Phases.compose(tar: tar, scratch: scratch, initramfs: true)
        case "compose-squashfs":
            guard let output else { throw Error.missing(name, "--output") }
            out = try Phases.composeSquashfs(tar: tar, scratch: scratch, output: output, zstdLevel: zstdLevel)
        case "verify-compose":
            out = try Phases.verifyCompose(tar: tar, scratch: scratch)
        case "ingot-image":
            guard let bootDir else { throw Error.missing(name, "--boot-dir") }
            guard let kind = TableKind(rawValue: table), kind != .hybrid else {
                throw Error.missing(name, "--table mbr or --table gpt")
            }
            out = try ImagePhase.run(tar: tar, bootDir: bootDir, scratch: scratch, table: kind, zstdLevel: zstdLevel)
        default:
            throw Error.unknownPhase(name)
        }
        out.counts["selfPeakRSS"] = Phases.selfPeakRSS()
        try out.save(result)
    }
}

enum Phases {
    /// The peer of compose: a libarchive walk over the headers that reads exactly the data compose
    /// reads and skips the rest. Compose copies files of at most `ContentSpool.inlineLimit` bytes
    /// into memory and references larger ones in place when the tar is uncompressed (the real read
    /// happens later, in the squashfs or initramfs writer); from a compressed tar it must decode
    /// every byte. The walk makes the same choice per entry, with the same reader call
    /// (`storedDataRange`), and keeps nothing.
    static func walk(tar: String) throws -> PhaseResult {
        var entries: Int64 = 0
        var read: Int64 = 0
        var skipped: Int64 = 0
        let (_, seconds) = try timed {
            let reader = try ArchiveReader(path: tar, formats: .all)
            while let entry = try reader.next() {
                entries += 1
                guard entry.kind == .file else { continue }
                if entry.size <= Int64(ContentSpool.inlineLimit) {
                    read += Int64(try reader.readAll().count)
                } else if let stored = reader.storedDataRange(), stored.size == entry.size {
                    skipped += entry.size  // the next header read skips it, as in compose
                } else {
                    try reader.readData { read += Int64($0.count) }
                }
            }
        }
        return PhaseResult(seconds: ["walk": seconds], counts: ["entries": entries, "read": read, "skipped": skipped])
    }

    /// Ingot's compose (tree from the tar, content spooled to disk) and optionally the gzip
    /// initramfs written from it.
    static func compose(tar: String, scratch: String, initramfs: Bool) throws -> PhaseResult {
        var result = PhaseResult()
        let (tree, composeSeconds) = try timed { () throws -> FileTree in
            let tree = try FileTree(spool: try ContentSpool(directory: scratch))
            result.counts["entries"] = Int64(try tree.applyLayer(archive: tar, label: "minbase"))
            return tree
        }
        result.seconds["compose"] = composeSeconds
        result.counts["spool"] = tree.spool.size
        if initramfs {
            let path = scratch + "/initramfs.cpio.gz"
            let (report, seconds) = try timed {
                try InitramfsWriter.write(tree: tree, to: path, compression: .gzip)
            }
            result.seconds["initramfs"] = seconds
            result.counts["initramfsEntries"] = Int64(report.entries)
            result.counts["initramfsContent"] = report.contentBytes
            result.counts["initramfsSize"] = fileSize(path)
            try? FileManager.default.removeItem(atPath: path)
        }
        return result
    }

    /// Compose and its first consumer: the tree composed from the tar, then written as a squashfs
    /// file (zstd at `zstdLevel`, 128 KiB blocks, duplicates shared, one worker per core).
    static func composeSquashfs(tar: String, scratch: String, output: String, zstdLevel: Int?) throws -> PhaseResult {
        var result = PhaseResult()
        let (tree, composeSeconds) = try timed { () throws -> FileTree in
            let tree = try FileTree(spool: try ContentSpool(directory: scratch))
            result.counts["entries"] = Int64(try tree.applyLayer(archive: tar, label: "minbase"))
            return tree
        }
        result.seconds["compose"] = composeSeconds
        if Corruption.wanted("squashfs") { try Corruption.damage(tree, mode: true) }
        let (report, squashSeconds) = try timed { () throws -> SquashfsReport in
            try? FileManager.default.removeItem(atPath: output)
            let image = try ImageFile(path: output, create: true)
            let report = try SquashfsWriter.write(
                tree: tree, to: image, range: ByteRange(offset: 0, size: Int64.max / 4),
                options: SquashfsOptions(compression: .zstd, level: zstdLevel, blockSize: 131072))
            try image.truncate(to: report.bytesUsed)
            return report
        }
        result.seconds["squashfs"] = squashSeconds
        result.counts["squashfs"] = report.bytesUsed
        result.counts["inodes"] = Int64(report.inodes)
        return result
    }
}

extension Phases {
    /// Untimed check: every entry of the tar is in the composed tree with its type, mode, owner
    /// and link target, and every regular file has exactly the bytes libarchive reads for it, so a
    /// fast compose cannot be a wrong one. Counts `mismatched` and writes the first differences
    /// into `scratch/verify-compose.txt`.
    static func verifyCompose(tar: String, scratch: String) throws -> PhaseResult {
        let tree = try FileTree(spool: try ContentSpool(directory: scratch))
        try tree.applyLayer(archive: tar, label: "minbase")
        if Corruption.wanted("compose") { try Corruption.damage(tree, mode: false) }
        let reader = try ArchiveReader(path: tar, formats: .all)
        var compared: Int64 = 0
        var entries: Int64 = 0
        var bytes: Int64 = 0
        var problems: [String] = []
        var expected: [UInt8] = []
        var actual: [UInt8] = []
        while let entry = try reader.next() {
            guard let clean = FileTree.sanitize(entry.path) else {
                problems.append("\(entry.path): the path climbs out of the root")
                continue
            }
            entries += 1
            guard let node = tree.lookup(clean) else {
                problems.append("\(clean): in the tar, missing from the tree")
                continue
            }
            if entry.kind != .hardlink {
                var wrong: [String] = []
                if node.permissions != entry.permissions && entry.kind != .symlink {
                    wrong.append("mode \(String(node.permissions, radix: 8)) vs \(String(entry.permissions, radix: 8))")
                }
                if node.uid != entry.uid || node.gid != entry.gid {
                    wrong.append("owner \(node.uid)/\(node.gid) vs \(entry.uid)/\(entry.gid)")
                }
                switch (entry.kind, node.kind) {
                case (.directory, .directory), (.file, .file), (.characterDevice, .characterDevice),
                    (.blockDevice, .blockDevice), (.fifo, .fifo), (.socket, .socket):
                    break
                case (.symlink, .symlink(let target)):
                    if target != entry.linkTarget { wrong.append("link \(target) vs \(entry.linkTarget ?? "")") }
                default:
                    wrong.append("type differs")
                }
                if !wrong.isEmpty { problems.append("\(clean): " + wrong.joined(separator: ", ")) }
            }
            guard entry.kind == .file, let content = node.content else { continue }
            expected.removeAll(keepingCapacity: true)
            try reader.readData { expected.append(contentsOf: $0) }
            actual.removeAll(keepingCapacity: true)
            try tree.readChunks(of: content) { actual.append(contentsOf: $0) }
            compared += 1
            bytes += Int64(actual.count)
            if actual != expected { problems.append("\(clean): bytes differ from libarchive's") }
        }
        try problems.prefix(50).joined(separator: "\n").write(
            toFile: scratch + "/verify-compose.txt", atomically: true, encoding: .utf8)
        return PhaseResult(counts: [
            "entries": entries, "compared": compared, "mismatched": Int64(problems.count), "bytes": bytes,
        ])
    }
}

extension Phases {
    /// This process's own peak RSS (VmHWM), or a waited-for child's if larger (mke2fs under the
    /// image phase). The parent cannot measure it from outside: `posix_spawn` starts a child
    /// with vfork, sharing the parent's memory until exec, and Linux carries that memory's
    /// high-water mark into the child's `ru_maxrss` (see `runnerFloor`). VmHWM is the exec'd
    /// program's own.
    static func selfPeakRSS() -> Int64 {
        var own: Int64 = 0
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kb = Int64(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        {
            own = kb * 1024
        }
        var children = rusage()
        getrusage(__rusage_who_t(RUSAGE_CHILDREN.rawValue), &children)
        return max(own, Int64(children.ru_maxrss) * 1024)
    }
}

/// The lowest peak RSS the process runner can report for a child right now: that of `/bin/true`.
/// `posix_spawn` (vfork) children share this process's memory until exec, and Linux carries its
/// high-water mark into the child's `ru_maxrss`, so an external command's peak RSS at or below
/// this figure means "no more than this". Phases report their own figure instead.
func runnerFloor() -> Int64 {
    (try? ChildProcess.run(["/bin/true"]).peakRSS) ?? 0
}

/// Size of a file in bytes (0 when missing).
func fileSize(_ path: String) -> Int64 {
    var st = stat()
    return stat(path, &st) == 0 ? Int64(st.st_size) : 0
}

/// Bytes actually allocated to a (sparse) file.
func allocatedSize(_ path: String) -> Int64 {
    var st = stat()
    return stat(path, &st) == 0 ? Int64(st.st_blocks) * 512 : 0
}
