// Real block devices for flash tests: loop devices attached by the test (root only; CI runs as
// root, so there these tests must run and fail rather than skip), always detached in cleanup.
// Also the image fixture (GPT, a FAT partition with a label, scattered random data, Ingot's bmap
// beside it) and small process helpers.

import Crypto
import Foundation
import IngotDisk
import IngotTestSupport

@testable import IngotFlash

enum Host {
    static let isRoot = getuid() == 0
    static let ci = ProcessInfo.processInfo.environment["CI"] == "true"
    /// Loop tests run as root; under CI=true they run regardless (and fail if not root).
    static let loopTests = ci || (isRoot && FileManager.default.fileExists(atPath: "/dev/loop-control"))

    static func has(_ tool: String) -> Bool {
        (try? run(["/bin/sh", "-c", "command -v \(tool)"]).status) == 0
    }

    struct Output {
        var status: Int32
        var out: String
        var err: String
    }

    /// Runs argv (argv[0] looked up in PATH, then sbin) and captures its output.
    @discardableResult
    static func run(_ argv: [String], input: String? = nil) throws -> Output {
        let r = try Command.run(argv[0], Array(argv.dropFirst()), input: .bytes(Array((input ?? "").utf8)))
        return Output(status: r.status, out: r.stdout, err: r.stderr)
    }

    /// Runs a shell command and requires success; returns stdout.
    @discardableResult
    static func sh(_ script: String) throws -> String {
        let r = try run(["/bin/sh", "-c", script])
        guard r.status == 0 else { throw Failure("`\(script)` exited \(r.status): \(r.err)\(r.out)") }
        return r.out
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }
}

/// A scratch directory removed on deinit.
final class Scratch {
    let dir: String
    init(_ tag: String) throws {
        dir = NSTemporaryDirectory() + "flash-\(tag)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }
    func path(_ name: String) -> String { dir + "/" + name }
}

/// A loop device over a backing file, detached on deinit (or `detach()`).
final class Loop {
    let path: String
    let backing: String
    private var attached = true
    var name: String { (path as NSString).lastPathComponent }

    /// Creates `backing` of `size` bytes (sparse, filled with `fill` when given) unless it exists,
    /// and attaches it.
    init(backing: String, size: Int64? = nil, fill: UInt8? = nil, readOnly: Bool = false, partscan: Bool = false)
        throws
    {
        if let size {
            _ = FileManager.default.createFile(atPath: backing, contents: nil)
            guard truncate(backing, off_t(size)) == 0 else { throw Host.Failure("truncate \(backing)") }
            if let fill {
                let fd = open(backing, O_WRONLY)
                defer { close(fd) }
                let block = [UInt8](repeating: fill, count: 1 << 20)
                var at: Int64 = 0
                while at < size {
                    let n = Int(min(Int64(block.count), size - at))
                    _ = block.withUnsafeBytes { pwrite(fd, $0.baseAddress, n, off_t(at)) }
                    at += Int64(n)
                }
            }
        }
        self.backing = backing
        var args = ["losetup", "-f", "--show"]
        if readOnly { args.append("-r") }
        if partscan { args.append("-P") }
        let r = try Host.run(args + [backing])
        guard r.status == 0 else { throw Host.Failure("losetup: \(r.err)") }
        path = r.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Re-attaches `backing` to this same device node (a new medium: new diskseq).
    func reattach(_ newBacking: String) throws {
        try Host.sh("losetup -d \(path)")
        attached = false
        try Host.sh("losetup \(path) \(newBacking)")
        attached = true
    }

    var diskseq: String {
        (try? String(contentsOfFile: "/sys/block/\(name)/diskseq", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    /// The identity token `ingot devices` shows.
    var token: String { "\(name):diskseq\(diskseq)" }

    /// Makes the kernel show the partitions (kernels without the table's parser need BLKPG via
    /// partx) and returns the first partition's node.
    func partitionNode() throws -> String {
        let node = path + "p1"
        for _ in 0..<10 where !FileManager.default.fileExists(atPath: node) { usleep(100_000) }
        if !FileManager.default.fileExists(atPath: node) { try Host.sh("partx -a \(path) || true") }
        for _ in 0..<10 where !FileManager.default.fileExists(atPath: node) { usleep(100_000) }
        guard FileManager.default.fileExists(atPath: node) else { throw Host.Failure("\(node) did not appear") }
        return node
    }

    func detach() {
        guard attached else { return }
        attached = false
        _ = try? Host.run(["partx", "-d", path])
        _ = try? Host.run(["losetup", "-d", path])
    }

    deinit { detach() }
}

enum Fixture {
    static let MiB: Int64 = 1 << 20

    /// A 32 MiB GPT image: p1 a FAT partition labelled INGOTBOOT (8 MiB at 1 MiB), p2 (the rest)
    /// with scattered random extents; Ingot's bmap beside it as IMG.bmap. Returns the image path.
    @discardableResult
    static func image(_ path: String, size: Int64 = 32 << 20, seed: UInt64 = 1) throws -> String {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        guard truncate(path, off_t(size)) == 0 else { throw Host.Failure("truncate \(path)") }
        try Host.sh(
            "printf 'label: gpt\\nlabel-id: 6B2C46F0-0000-4000-8000-00000000000\(seed % 10)\\n,8M,U\\n,\\n' | sfdisk -q \(path)"
        )
        try Host.sh("mkfs.vfat -n INGOTBOOT --offset 2048 \(path) 8192 >/dev/null")
        var rng = seed
        let fd = open(path, O_WRONLY)
        defer { close(fd) }
        for i in 0..<6 {
            // 6 extents of 192 KiB (unaligned to the chunk size) across the second partition.
            let at = 10 * MiB + Int64(i) * ((size - 12 * MiB) / 6) + Int64(i) * 4096
            var bytes = [UInt8](repeating: 0, count: 192 << 10)
            for j in bytes.indices {
                rng = rng &* 6364136223846793005 &+ 1442695040888963407
                bytes[j] = UInt8(truncatingIfNeeded: rng >> 33)
            }
            _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(at)) }
        }
        try BmapWriter.write(image: path, to: path + ".bmap")
        return path
    }

    /// sha256 of the first `count` bytes of `path` (a file or a device).
    static func sha256(_ path: String, count: Int64) throws -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw Host.Failure("open \(path)") }
        defer { close(fd) }
        var hasher = SHA256()
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        var at: Int64 = 0
        while at < count {
            let want = Int(min(Int64(buf.count), count - at))
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(at)) }
            guard n > 0 else { break }
            hasher.update(data: buf[0..<n])
            at += Int64(n)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// The bytes at `offset` of `path`.
    static func bytes(_ path: String, at offset: Int64, count: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw Host.Failure("open \(path)") }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: count)
        _ = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        return buf
    }

    /// Writes `bytes` at `offset` of `path` (and syncs).
    static func poke(_ path: String, at offset: Int64, _ bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { throw Host.Failure("open \(path)") }
        defer { close(fd) }
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        fsync(fd)
    }
}

extension Loop {
    /// A plan writing `image` to these loops (fixed disks, confirmed by token).
    static func plan(
        _ image: String, to loops: [Loop], options: FlashOptions = FlashOptions(), bmap: String? = nil,
        noBmap: Bool = false
    ) throws -> (FlashPlan, [FlashRefusal]) {
        let policy = FlashPolicy(
            allowFixed: true, confirmedTokens: Set(loops.map(\.token)), readOnly: options.verifyOnly)
        return try FlashPlanner.plan(
            FlashRequest(
                image: image, targets: loops.map(\.path), bmap: bmap, noBmap: noBmap, policy: policy, options: options))
    }
}
