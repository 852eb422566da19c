// The measured phases, each run in its own child process (`ingot-bench phase NAME ...`, hidden):
// `read` (the libarchive baseline), `compose`, `compose-initramfs` and `ingot-image`. A phase
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

    @Argument(help: "read | compose | compose-initramfs | ingot-image")
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

    @Option(help: "squashfs zstd level for ingot-image (default: Ingot's).")
    var zstdLevel: Int?

    enum Error: Swift.Error, CustomStringConvertible {
        case unknownPhase(String)
        case missing(String, String)
        var description: String {
            switch self {
            case .unknownPhase(let n): return "unknown phase '\(n)'; use read, compose, compose-initramfs or ingot-image"
            case .missing(let phase, let option): return "phase '\(phase)' needs \(option)"
            }
        }
    }

    func run() throws {
        var out = PhaseResult()
        switch name {
        case "read":
            out = try Phases.read(tar: tar)
        case "compose":
            out = try Phases.compose(tar: tar, scratch: scratch, initramfs: false)
        case "compose-initramfs":
            out = try Phases.compose(tar: tar, scratch: scratch, initramfs: true)
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
        try out.save(result)
    }
}

enum Phases {
    /// The baseline: every entry's header and data read through libarchive, nothing kept.
    static func read(tar: String) throws -> PhaseResult {
        var entries: Int64 = 0
        var bytes: Int64 = 0
        let (_, seconds) = try timed {
            let reader = try ArchiveReader(path: tar, formats: .all)
            while let entry = try reader.next() {
                entries += 1
                if entry.kind == .file { try reader.readData { bytes += Int64($0.count) } }
            }
        }
        return PhaseResult(seconds: ["read": seconds], counts: ["entries": entries, "bytes": bytes])
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
}

extension Phases {
    /// Untimed check: every regular file of the composed tree has exactly the bytes libarchive
    /// reads for it, so a fast compose cannot be a wrong one.
    static func verifyCompose(tar: String, scratch: String) throws -> PhaseResult {
        let tree = try FileTree(spool: try ContentSpool(directory: scratch))
        try tree.applyLayer(archive: tar, label: "minbase")
        let reader = try ArchiveReader(path: tar, formats: .all)
        var compared: Int64 = 0
        var mismatched: Int64 = 0
        var bytes: Int64 = 0
        var expected: [UInt8] = []
        while let entry = try reader.next() {
            guard entry.kind == .file, let clean = FileTree.sanitize(entry.path),
                let content = tree.lookup(clean)?.content
            else { continue }
            expected.removeAll(keepingCapacity: true)
            try reader.readData { expected.append(contentsOf: $0) }
            var actual: [UInt8] = []
            actual.reserveCapacity(Int(content.size))
            try tree.readChunks(of: content) { actual.append(contentsOf: $0) }
            compared += 1
            bytes += Int64(actual.count)
            if actual != expected { mismatched += 1 }
        }
        return PhaseResult(counts: ["compared": compared, "mismatched": mismatched, "bytes": bytes])
    }
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
