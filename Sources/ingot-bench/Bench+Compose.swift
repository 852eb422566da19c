// `ingot-bench compose --tar minbase.tar [--compressed minbase.tar.xz]` (issues 2 and 7): composing
// a root tree from a rootfs tar, measured two ways against peers that do the same work, for each
// input (the plain tar, and a compressed copy when given):
//   1. compose vs a libarchive header walk that reads exactly what compose reads (headers, files
//      of at most 4 KiB, and every byte only when the tar is compressed) and skips the rest;
//   2. compose + its first consumer (the squashfs writer) vs `bsdtar -x` (libarchive) into a
//      directory + `mksquashfs` of it, with the same compression, level, block size and threads.
// Sides alternate order every run; every figure is printed as min / median / max. Untimed checks
// (tree vs tar bytes and metadata, `unsquashfs -lln` vs the tar listing, extracted bytes vs the
// tar, on both sides) decide the verdict: any mismatch prints MISSED and exits non-zero.
// Targets: compose <= 2x the walk; compose + squashfs <= 0.5x the peer, with a squashfs no larger;
// peak RSS <= 256 MB.

import ArgumentParser
import Foundation

struct ComposeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compose",
        abstract: "Compose vs a libarchive header walk; compose + squashfs vs bsdtar + mksquashfs.")

    @Option(help: "The rootfs tar (e.g. a debootstrap minbase).")
    var tar: String

    @Option(help: "A compressed input too (e.g. minbase.tar.xz, or a .deb's data.tar.xz).")
    var compressed: String?

    @Option(help: "Runs of compose and of the header walk (cheap; at least 5).")
    var runs: Int = 5

    @Option(help: "Runs of each squashfs side (seconds each; at least 3).")
    var squashfsRuns: Int = 3

    @Option(help: "Scratch directory (spool, squashfs files, the peer's extracted tree; ~4x the tar).")
    var scratch: String = "/var/tmp/ingot-bench"

    @Option(help: "zstd level of both squashfs writers.")
    var zstdLevel: Int = 3

    @Flag(help: "Leave out the squashfs comparison (it needs root: bsdtar restores owners).")
    var noSquashfs = false

    @Flag(help: "Also time Ingot's gzip initramfs from the composed tree (3 runs; no peer, no target).")
    var initramfs = false

    static let rssTarget: Int64 = 256 * 1_000_000
    static let walkTarget = 2.0
    static let squashfsTarget = 0.5

    enum Error: Swift.Error, CustomStringConvertible {
        case notRoot
        case tooFewRuns(String, Int)
        var description: String {
            switch self {
            case .notRoot:
                return "the squashfs comparison extracts the tar with its owners (bsdtar -x as root); run as root "
                    + "(ci/bench does) or pass --no-squashfs"
            case .tooFewRuns(let option, let least): return "\(option) must be at least \(least)"
            }
        }
    }

    func run() throws {
        guard runs >= 5 else { throw Error.tooFewRuns("--runs", 5) }
        guard squashfsRuns >= 3 else { throw Error.tooFewRuns("--squashfs-runs", 3) }
        guard noSquashfs || getuid() == 0 else { throw Error.notRoot }
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        print("compose benchmark")
        print(machineLine())
        if let warning = Corruption.warning { print(warning) }
        let verdict = Verdict()
        verdict.indent = "     "
        for input in [tar] + (compressed.map { [$0] } ?? []) {
            try measure(input: input, verdict: verdict)
        }
        try verdict.finish("compose benchmark")
    }

    private func measure(input: String, verdict: Verdict) throws {
        let name = (input as NSString).lastPathComponent
        print("")
        print("== \(name) (\(Figures.mb(fileSize(input))) MB) ==")
        let args = ["--tar", input, "--scratch", scratch]
        // Warm the page cache so neither side pays for the first read from disk.
        try ChildProcess.shell("cat '\(input)' > /dev/null")

        // 1. compose vs the header walk, alternating which goes first.
        var walk = Samples()
        var compose = Samples()
        for i in 0..<runs {
            for side in i % 2 == 0 ? [0, 1] : [1, 0] {
                if side == 0 {
                    let (r, u) = try runPhase("walk", arguments: args, scratch: scratch)
                    walk.add(r, u)
                } else {
                    let (r, u) = try runPhase("compose", arguments: args, scratch: scratch)
                    compose.add(r, u)
                }
            }
            FileHandle.standardError.write(Data("  \(name): compose run \(i + 1)/\(runs) done\n".utf8))
        }
        let inPlace = walk.count("skipped") > 0
        print(
            "1. compose vs a libarchive header walk that reads what compose reads, \(runs) runs each, alternating order"
        )
        print(
            "   \(walk.count("entries")) entries; both read \(Figures.mb(walk.count("read"))) MB of file data "
                + (inPlace
                    ? "(files <= 4 KiB) and skip \(Figures.mb(walk.count("skipped"))) MB that compose references in place"
                    : "(the input is compressed: every byte is decoded; compose also copies it to its spool)"))
        var table = Table("side", "time (s) min/med/max", "process wall (s)", "cpu (s)", "peak RSS (MB)")
        table.add(
            "libarchive header walk (peer)", Figures.spread(walk.allSeconds("walk")),
            Figures.spread(walk.walls), Figures.spread(walk.cpus), Figures.spreadMB(walk.rsses))
        table.add(
            "ingot compose", Figures.spread(compose.allSeconds("compose")), Figures.spread(compose.walls),
            Figures.spread(compose.cpus), Figures.spreadMB(compose.rsses))
        print(table.render())
        let paired = zip(compose.allSeconds("compose"), walk.allSeconds("walk")).map { $0 / max($1, 1e-9) }
        let cpuRatio = Figures.median(compose.cpus) / max(Figures.median(walk.cpus), 1e-9)
        print(
            "   compose / walk per run: \(Figures.x(paired.min() ?? 0)) to \(Figures.x(paired.max() ?? 0)); "
                + "cpu (medians): \(Figures.x(cpuRatio))")

        if initramfs {
            var both = Samples()
            for _ in 0..<3 {
                let (r, u) = try runPhase("compose-initramfs", arguments: args, scratch: scratch)
                both.add(r, u)
            }
            print(
                "   ingot initramfs (cpio, gzip -6, one core; 3 runs, no peer): "
                    + "\(Figures.spread(both.allSeconds("initramfs"))) s, \(both.count("initramfsEntries")) entries, "
                    + "\(Figures.mb(both.count("initramfsSize"))) MB, peak RSS \(Figures.spreadMB(both.rsses)) MB")
        }

        print("   checks (not timed):")
        let (check, _) = try runPhase("verify-compose", arguments: args, scratch: scratch)
        let problems = ((try? String(contentsOfFile: scratch + "/verify-compose.txt", encoding: .utf8)) ?? "")
            .split(separator: "\n").map(String.init)
        let composeOK = verdict.check(
            "\(name): composed tree vs the tar (libarchive), \(check.counts["entries"] ?? 0) entries' type, mode, "
                + "owner, link; \(check.counts["compared"] ?? 0) files' bytes (\(Figures.mb(check.counts["bytes"] ?? 0)) MB)",
            passed: (check.counts["mismatched"] ?? -1) == 0 && (check.counts["compared"] ?? 0) > 0,
            detail: "\(check.counts["mismatched"] ?? -1) differences", problems: problems)

        print("   targets:")
        let ratio = Figures.median(compose.allSeconds("compose")) / max(Figures.median(walk.allSeconds("walk")), 1e-9)
        verdict.target(
            "\(name): compose / header walk (medians)", measured: Figures.x(ratio), bound: "<= 2x",
            withinBound: ratio <= Self.walkTarget, checks: composeOK)
        let rss = compose.rsses.max() ?? 0
        verdict.target(
            "\(name): compose peak RSS", measured: Figures.mb(rss) + " MB", bound: "<= 256 MB",
            withinBound: rss <= Self.rssTarget, checks: composeOK)

        if !noSquashfs {
            try SquashfsPair(input: input, name: name, scratch: scratch, runs: squashfsRuns, zstdLevel: zstdLevel)
                .measure(verdict: verdict, composeOK: composeOK)
        }
    }
}
