// `ingot-bench flash` (issue 10): writing a 1 GiB image with about 25 % mapped to a loop device,
// with `ingot flash` (bmap, O_DIRECT, read-back verify included) against `dd bs=4M conv=fsync`
// and `bmaptool copy` (which does not read back), all in the same run, in rotating order, each
// from a discarded (all-zero) device. After every run, untimed, the device's first image-size
// bytes must hash to the image's sha256: a wrong result is MISSED whatever its time.
// Targets: ingot <= 0.5x dd and <= 1.0x bmaptool (median wall times).

import ArgumentParser
import Crypto
import Foundation
import IngotDisk

#if canImport(Glibc)
    import Glibc
#endif

struct FlashBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flash",
        abstract: "ingot flash (with verify) vs dd bs=4M conv=fsync vs bmaptool copy, to a loop device.")

    @Option(help: "Runs of each tool (order rotates every run); min/median/max are printed.")
    var runs: Int = 5

    @Option(help: "Image size in MiB.")
    var sizeMib: Int = 1024

    @Option(help: "Fraction of the image that is mapped (random data in scattered extents).")
    var mapped: Double = 0.25

    @Option(help: "Scratch directory (image, bmap and the loop's backing file).")
    var scratch: String = "/var/tmp/ingot-bench-flash"

    @Option(help: "The ingot binary (default: the one beside this benchmark).")
    var ingot: String?

    @Flag(help: "Also time `ingot flash --no-verify` (not a target; shows what the read-back costs).")
    var noVerifyRow = false

    enum Error: Swift.Error, CustomStringConvertible {
        case notRoot
        case missing(String)
        case mismatch(String)
        var description: String {
            switch self {
            case .notRoot:
                return "ingot-bench flash needs root (it attaches a loop device); run it with sudo or via ci/bench"
            case .missing(let what):
                return "\(what) is missing; build it (swift build -c release --product ingot) or run ci/bootstrap"
            case .mismatch(let why): return why
            }
        }
    }

    func run() throws {
        guard getuid() == 0 else { throw Error.notRoot }
        let ingotPath = ingot ?? ((ChildProcess.selfPath as NSString).deletingLastPathComponent + "/ingot")
        guard FileManager.default.isExecutableFile(atPath: ingotPath) else { throw Error.missing(ingotPath) }
        for tool in ["dd", "bmaptool", "blkdiscard", "losetup"] {
            guard (try? ChildProcess.capture(["sh", "-c", "command -v \(tool)"])) != nil else {
                throw Error.missing(tool)
            }
        }
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let size = Int64(sizeMib) << 20
        let image = scratch + "/bench.img"
        let (mappedBytes, extents) = try makeImage(image, size: size)
        let digest = try sha256(image, count: size)
        print(
            "flash benchmark: \(image), \(Figures.mb(size)) MB image, \(Figures.mb(mappedBytes)) MB mapped "
                + "(\(String(format: "%.0f", Double(mappedBytes) * 100 / Double(size))) %, \(extents) extents), bmap beside it"
        )
        print(machineLine())

        // The device: a loop over a sparse file a little larger than the image.
        let backing = scratch + "/device.bin"
        _ = FileManager.default.createFile(atPath: backing, contents: nil)
        guard truncate(backing, off_t(size + (64 << 20))) == 0 else { throw Error.missing("space for \(backing)") }
        let loop = try ChildProcess.capture(["losetup", "-f", "--show", backing]).trimmingCharacters(
            in: .whitespacesAndNewlines)
        defer { _ = try? ChildProcess.run(["losetup", "-d", loop], check: false) }
        let name = (loop as NSString).lastPathComponent
        let seq =
            (try? String(contentsOfFile: "/sys/block/\(name)/diskseq", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        print("device: \(loop) (loop over \(backing)), identity \(name):diskseq\(seq)")

        var tools: [(name: String, short: String, argv: [String])] = [
            (
                "ingot flash (verify)", "ingot",
                [
                    ingotPath, "flash", image, loop, "--allow-fixed", "--confirm-identity", "\(name):diskseq\(seq)",
                    "--progress=none", "-q",
                ]
            ),
            ("dd bs=4M conv=fsync", "dd", ["dd", "if=\(image)", "of=\(loop)", "bs=4M", "conv=fsync", "status=none"]),
            ("bmaptool copy", "bmaptool", ["bmaptool", "-q", "copy", "--bmap", image + ".bmap", image, loop]),
        ]
        if noVerifyRow {
            tools.append(("ingot flash --no-verify", "ingot-no-verify", tools[0].argv + ["--no-verify"]))
        }
        // Warm the image into the page cache: every tool reads it from memory.
        try ChildProcess.shell("cat '\(image)' > /dev/null")

        var walls = [[Double]](repeating: [], count: tools.count)
        var cpus = [[Double]](repeating: [], count: tools.count)
        var rss = [Int64](repeating: 0, count: tools.count)
        var wrong: [String] = []
        let log = scratch + "/tool.log"
        for run in 0..<max(1, runs) {
            var order: [String] = []
            for k in 0..<tools.count {
                let i = (k + run) % tools.count
                try ChildProcess.run(["blkdiscard", "-f", loop], output: "/dev/null")
                let usage = try ChildProcess.run(tools[i].argv, output: log, check: false)
                if usage.status != 0 {
                    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                    throw Error.mismatch("\(tools[i].name) exited \(usage.status): \(text)")
                }
                walls[i].append(usage.wall)
                cpus[i].append(usage.cpu)
                rss[i] = max(rss[i], usage.peakRSS)
                order.append("\(tools[i].short) \(Figures.s(usage.wall))")
                // Untimed: the device holds exactly the image.
                let got = try sha256(loop, count: size)
                if got != digest {
                    wrong.append("run \(run + 1), \(tools[i].name): device sha256 \(got) != image \(digest)")
                }
            }
            FileHandle.standardError.write(Data("  run \(run + 1)/\(runs): \(order.joined(separator: ", "))\n".utf8))
        }

        var table = Table("tool", "min (s)", "median (s)", "max (s)", "cpu median (s)", "peak RSS (MB)")
        for (i, t) in tools.enumerated() {
            table.add(
                t.name, Figures.s(walls[i].min() ?? 0), Figures.s(Figures.median(walls[i])),
                Figures.s(walls[i].max() ?? 0), Figures.s(Figures.median(cpus[i])), Figures.mb(rss[i]))
        }
        print("wall times over \(runs) runs each, order rotating; every run starts from a discarded device")
        print(table.render())
        let ingotMedian = Figures.median(walls[0])
        let vsDD = ingotMedian / max(Figures.median(walls[1]), 1e-9)
        let vsBmap = ingotMedian / max(Figures.median(walls[2]), 1e-9)
        print("ratios (medians): ingot / dd = \(Figures.x(vsDD)), ingot / bmaptool = \(Figures.x(vsBmap))")
        let perRun = (0..<walls[0].count).map { Figures.x(walls[0][$0] / max(walls[2][$0], 1e-9)) }
        print("ingot / bmaptool per run: \(perRun.joined(separator: " "))")
        let checks = runs * tools.count
        print(
            "check (not timed): device sha256 == image sha256 after each of \(checks) runs: "
                + (wrong.isEmpty ? "all equal" : "\(wrong.count) DIFFER"))
        for w in wrong { print("  \(w)") }
        print("targets:")
        print(
            Figures.target(
                "ingot (with verify) / dd", measured: Figures.x(vsDD), bound: "<= 0.5x",
                met: wrong.isEmpty && vsDD <= 0.5))
        print(
            Figures.target(
                "ingot (with verify) / bmaptool", measured: Figures.x(vsBmap), bound: "<= 1.0x",
                met: wrong.isEmpty && vsBmap <= 1.0))
        if !wrong.isEmpty { throw ExitCode(1) }
    }

    /// Makes (once) a GPT image of `size` bytes whose mapped part is `mapped` of it, in 64
    /// extents of random data spread over the disk, and Ingot's bmap beside it.
    func makeImage(_ path: String, size: Int64) throws -> (Int64, Int) {
        let extents = 64
        let extent = (Int64(Double(size) * mapped) / Int64(extents)) / 4096 * 4096
        let stamp = path + ".params"
        let params = "\(size) \(mapped) \(extents)"
        if (try? String(contentsOfFile: stamp, encoding: .utf8)) == params,
            let b = try? BmapReader.read(contentsOf: path + ".bmap")
        {
            return (b.mappedBytes, extents)
        }
        try? FileManager.default.removeItem(atPath: path)
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        guard truncate(path, off_t(size)) == 0 else { throw Error.missing("space for \(path)") }
        try ChildProcess.shell("printf 'label: gpt\\n,256M,U\\n,\\n' | sfdisk -q '\(path)'")
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { throw Error.missing(path) }
        defer { close(fd) }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var block = [UInt64](repeating: 0, count: Int(extent / 8))
        let step = (size - (2 << 20)) / Int64(extents)
        for i in 0..<extents {
            for j in block.indices {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                block[j] = state
            }
            let at = (1 << 20) + Int64(i) * step + (Int64(i) * 37 % 16) * 4096
            _ = block.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(at)) }
        }
        fsync(fd)
        let summary = try BmapWriter.write(image: path, to: path + ".bmap")
        try params.write(toFile: stamp, atomically: true, encoding: .utf8)
        return (summary.mappedBytes, extents)
    }

    func sha256(_ path: String, count: Int64) throws -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw Error.missing(path) }
        defer { close(fd) }
        var hasher = SHA256()
        var buf = [UInt8](repeating: 0, count: 4 << 20)
        var at: Int64 = 0
        while at < count {
            let want = Int(min(Int64(buf.count), count - at))
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(at)) }
            guard n > 0 else { break }
            buf.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            at += Int64(n)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
