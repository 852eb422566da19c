// The second half of `ingot-bench compose`: compose + its first consumer against the way a root
// squashfs is usually made from a tar, from the same input file:
//   - Ingot, in one process: the tree composed from the tar, then `SquashfsWriter` to a file;
//   - the peer: `bsdtar -xp --numeric-owner` (libarchive) into an empty directory, then
//     `mksquashfs DIR OUT -noappend`, two commands whose wall and CPU times are added.
// Both: zstd at the same level, 128 KiB blocks, duplicate files shared, fragments for files
// smaller than a block, every core (mksquashfs's default -processors, Ingot's default workers),
// warm page cache, nothing fsynced. Checks (not timed) on both outputs: `unsquashfs -lln` against
// the tar's listing, and every file's bytes after `unsquashfs -d` against libarchive's.

import Foundation

struct SquashfsPair {
    let input: String
    let name: String
    let scratch: String
    let runs: Int
    let zstdLevel: Int

    var extractDir: String { scratch + "/peer-root" }
    var peerOutput: String { scratch + "/mksquashfs.sqfs" }
    var ingotOutput: String { scratch + "/ingot.sqfs" }

    func measure(verdict: Verdict, composeOK: Bool) throws {
        let log = scratch + "/peer.log"
        var extract: [ChildUsage] = []
        var mksquashfs: [ChildUsage] = []
        var ingot = Samples()
        for i in 0..<runs {
            for side in i % 2 == 0 ? [0, 1] : [1, 0] {
                if side == 0 {
                    // Untimed: the peer starts from an empty directory every run.
                    try ChildProcess.run(["rm", "-rf", extractDir, peerOutput])
                    try FileManager.default.createDirectory(atPath: extractDir, withIntermediateDirectories: true)
                    extract.append(
                        try ChildProcess.run(
                            ["bsdtar", "-x", "-p", "--numeric-owner", "-f", input, "-C", extractDir], output: log))
                    mksquashfs.append(
                        try ChildProcess.run(
                            [
                                "mksquashfs", extractDir, peerOutput, "-noappend", "-no-progress", "-comp", "zstd",
                                "-Xcompression-level", String(zstdLevel), "-b", "131072",
                            ], output: log))
                } else {
                    let (r, u) = try runPhase(
                        "compose-squashfs",
                        arguments: [
                            "--tar", input, "--scratch", scratch, "--output", ingotOutput, "--zstd-level",
                            String(zstdLevel),
                        ], scratch: scratch)
                    ingot.add(r, u)
                }
            }
            FileHandle.standardError.write(Data("  \(name): squashfs run \(i + 1)/\(runs) done\n".utf8))
        }
        let peer = zip(extract, mksquashfs).map { combined($0, $1) }
        let peerSize = fileSize(peerOutput)
        let ingotSize = ingot.count("squashfs")

        print(
            "2. compose + squashfs vs bsdtar -x + mksquashfs, \(runs) runs each (a run is seconds of zstd over the "
                + "whole tree; 3 runs keep the benchmark within minutes on 2 shared cores), alternating order")
        print(
            "   both: zstd level \(zstdLevel), 128 KiB blocks, duplicates shared, fragments for files smaller than a "
                + "block, \(ProcessInfo.processInfo.activeProcessorCount) threads (every core), warm cache, no fsync")
        var t = Table("side", "wall (s) min/med/max", "cpu (s)", "peak RSS (MB)", "squashfs (bytes)")
        t.add(
            "bsdtar -x (libarchive read)", Figures.spread(extract.map(\.wall)), Figures.spread(extract.map(\.cpu)),
            Figures.spreadMB(extract.map(\.peakRSS)), "")
        t.add(
            "mksquashfs", Figures.spread(mksquashfs.map(\.wall)), Figures.spread(mksquashfs.map(\.cpu)),
            Figures.spreadMB(mksquashfs.map(\.peakRSS)), String(peerSize))
        t.add(
            "peer total (peer)", Figures.spread(peer.map(\.wall)), Figures.spread(peer.map(\.cpu)),
            Figures.spreadMB(peer.map(\.peakRSS)), String(peerSize))
        t.add(
            "ingot compose + squashfs", Figures.spread(ingot.walls), Figures.spread(ingot.cpus),
            Figures.spreadMB(ingot.rsses), String(ingotSize))
        print(t.render())
        print(
            "   peak RSS of bsdtar and mksquashfs cannot read below \(Figures.mb(runnerFloor())) MB, the process "
                + "runner's floor (Bench+Phases.swift, runnerFloor); Ingot's figure is its own")
        print(
            "   ingot steps (s, min/med/max): compose \(Figures.spread(ingot.allSeconds("compose"))), "
                + "squashfs \(Figures.spread(ingot.allSeconds("squashfs")))")

        print("   checks (not timed):")
        let expected = try Listing.tar(input)
        var checks = composeOK
        for (side, image) in [("ingot", ingotOutput), ("mksquashfs", peerOutput)] {
            let listed = try Listing.squashfs([image])
            let diffs = Listing.differences(expected: expected, actual: listed)
            checks =
                verdict.check(
                    "\(name): \(side) squashfs, unsquashfs -lln vs tar -tv (\(expected.count) paths: type, mode, owner, "
                        + "size, link target, device)", passed: diffs.isEmpty && !expected.isEmpty,
                    detail: "\(diffs.count) differences", problems: diffs) && checks
            let dir = scratch + "/check-root"
            try ChildProcess.run(["rm", "-rf", dir])
            try ChildProcess.run(["unsquashfs", "-no-progress", "-d", dir, image], output: scratch + "/unsquashfs.log")
            let bytes = try ContentCheck.compare(tar: input, directory: dir)
            try ChildProcess.run(["rm", "-rf", dir])
            checks =
                verdict.check(
                    "\(name): \(side) squashfs, unsquashfs -d then \(bytes.compared) files' bytes vs the tar's "
                        + "(\(Figures.mb(bytes.bytes)) MB)", passed: bytes.problems.isEmpty && bytes.compared > 0,
                    detail: "\(bytes.problems.count) differ", problems: bytes.problems) && checks
        }
        try ChildProcess.run(["rm", "-rf", extractDir])

        print("   targets:")
        let ratio = ingot.wall / max(Figures.median(peer.map(\.wall)), 1e-9)
        verdict.target(
            "\(name): compose + squashfs / (bsdtar + mksquashfs) wall (medians)", measured: Figures.x(ratio),
            bound: "<= 0.5x", withinBound: ratio <= ComposeCommand.squashfsTarget, checks: checks)
        verdict.target(
            "\(name): ingot squashfs vs mksquashfs's", measured: "\(ingotSize) vs \(peerSize) bytes",
            bound: "no larger", withinBound: ingotSize <= peerSize && ingotSize > 0, checks: checks)
        let rss = ingot.rsses.max() ?? 0
        verdict.target(
            "\(name): compose + squashfs peak RSS", measured: Figures.mb(rss) + " MB", bound: "<= 256 MB",
            withinBound: rss <= ComposeCommand.rssTarget, checks: checks)
    }
}
