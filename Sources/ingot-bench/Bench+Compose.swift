// `ingot-bench compose --tar minbase.tar` (issue 2): composing a root tree from a rootfs tar, and
// writing its gzip initramfs, against the named peer "libarchive read" (every entry and its data
// read, nothing kept) in the same run. Each phase runs in its own child process, so peak RSS is
// per phase. Targets: compose <= 2x the read time, peak RSS <= 256 MB.

import ArgumentParser
import Foundation

struct ComposeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compose",
        abstract: "Compose a tree (and its initramfs) from a rootfs tar vs a plain libarchive read.")

    @Option(help: "The rootfs tar (e.g. a debootstrap minbase).")
    var tar: String

    @Option(help: "Runs of each phase; medians are printed.")
    var runs: Int = 3

    @Option(help: "Scratch directory for the content spool and the initramfs.")
    var scratch: String = "/var/tmp/ingot-bench"

    @Flag(help: "Skip the initramfs phase (gzip of the whole tree is the slow part).")
    var noInitramfs = false

    static let rssTarget: Int64 = 256 * 1_000_000
    static let ratioTarget = 2.0

    func run() throws {
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let args = ["--tar", tar, "--scratch", scratch]
        print("compose benchmark: \(tar) (\(Figures.mb(fileSize(tar))) MB)")
        print(machineLine())
        // Warm the page cache so neither side pays for the first read from disk.
        try ChildProcess.shell("cat '\(tar)' > /dev/null")

        var read = Samples()
        var compose = Samples()
        var both = Samples()
        for i in 0..<max(1, runs) {
            let (r, ru) = try runPhase("read", arguments: args, scratch: scratch)
            read.add(r, ru)
            let (c, cu) = try runPhase("compose", arguments: args, scratch: scratch)
            compose.add(c, cu)
            if !noInitramfs && i == 0 {
                let (b, bu) = try runPhase("compose-initramfs", arguments: args, scratch: scratch)
                both.add(b, bu)
            }
            FileHandle.standardError.write(Data("  run \(i + 1)/\(runs) done\n".utf8))
        }

        print("entries: \(read.count("entries")), file data: \(Figures.mb(read.count("bytes"))) MB, "
            + "spooled: \(Figures.mb(compose.count("spool"))) MB; median of \(runs) runs, separate processes")
        var table = Table("phase", "time (s)", "process wall (s)", "cpu (s)", "peak RSS (MB)")
        table.add("libarchive read (peer)", Figures.s(read.seconds("read")), Figures.s(read.wall),
                  Figures.s(read.cpu), Figures.mb(read.peakRSS))
        table.add("ingot compose", Figures.s(compose.seconds("compose")), Figures.s(compose.wall),
                  Figures.s(compose.cpu), Figures.mb(compose.peakRSS))
        if !both.results.isEmpty {
            table.add("ingot compose (+initramfs run)", Figures.s(both.seconds("compose")), "", "", "")
            table.add("ingot initramfs (cpio, gzip)", Figures.s(both.seconds("initramfs")), Figures.s(both.wall),
                      Figures.s(both.cpu), Figures.mb(both.peakRSS))
        }
        print(table.render())
        if !both.results.isEmpty {
            print("initramfs: \(both.count("initramfsEntries")) entries, \(Figures.mb(both.count("initramfsSize"))) MB gzip "
                + "(1 run; no target, gzip -6 through libarchive on one core)")
        }

        let (check, _) = try runPhase("verify-compose", arguments: args, scratch: scratch)
        let mismatched = check.counts["mismatched"] ?? -1
        print("check (not timed): \(check.counts["compared"] ?? 0) files of the composed tree compared with libarchive's "
            + "bytes (\(Figures.mb(check.counts["bytes"] ?? 0)) MB): \(mismatched == 0 ? "all equal" : "\(mismatched) DIFFER")")

        let ratio = compose.seconds("compose") / max(read.seconds("read"), 1e-9)
        let rss = max(compose.peakRSS, both.peakRSS)
        print("targets:")
        print(Figures.target("compose / read", measured: Figures.x(ratio), bound: "<= 2x", met: ratio <= Self.ratioTarget))
        print(Figures.target("ingot peak RSS", measured: Figures.mb(rss) + " MB", bound: "<= 256 MB",
                             met: rss <= Self.rssTarget))
    }
}
