// `ingot-bench closure`: the `deb:` closure of nginx-light and of python3 for arm64, resolved,
// fetched from a warm store and composed by Ingot (a rootfs tar written at the end), beside the
// same done with apt and dpkg (`apt-get install --download-only` on a private empty status with
// a warm archives directory, then `dpkg -x` of every .deb) — runs alternate, each side in its
// own process (wall time and peak RSS from wait4). The two package sets must be the same; a
// mismatch prints MISSED and fails the command. Also times warm rebuilds of examples/hello.yml
// and examples/nginx.yml through the `ingot` CLI.

import ArgumentParser
import Foundation
import IngotSources
import IngotSpec
import IngotTree

#if canImport(Glibc)
    import Glibc
#endif

struct ClosureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "closure",
        abstract: "Resolve + fetch (warm) + compose Debian closures vs apt-get --download-only + dpkg -x.")

    @Option(help: "Packages whose closures are measured (comma-separated).")
    var packages: String = "nginx-light,python3"

    @Option(help: "Debian architecture.")
    var arch: String = "arm64"

    @Option(help: "Runs of each side (alternating); min/median/max are printed.")
    var runs: Int = 5

    @Option(help: "Scratch directory (stores, trees, outputs).")
    var scratch: String = "/var/tmp/ingot-bench-closure"

    @Option(help: "The ingot executable, for the warm rebuild figures (skipped when absent).")
    var ingot: String?

    @Option(help: "Runs of each warm rebuild.")
    var rebuildRuns: Int = 5

    static let ratioTarget = 0.5

    enum Error: Swift.Error, CustomStringConvertible {
        case missed(String)
        var description: String {
            switch self {
            case .missed(let what): return "MISSED: \(what)"
            }
        }
    }

    func run() throws {
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        print("closure benchmark: \(packages) for \(arch), \(runs) alternating runs per side")
        print(machineLine())
        var failures: [String] = []
        for package in packages.split(separator: ",").map(String.init) {
            do { try measure(package) } catch let e as Error { failures.append(e.description) }
        }
        if let ingot { try rebuilds(ingot) }
        if !failures.isEmpty {
            for f in failures { print(f) }
            throw ExitCode(1)
        }
    }

    /// One package: warm both caches, then alternate the measured runs.
    func measure(_ package: String) throws {
        let store = "\(scratch)/store"
        let peerArchives = "\(scratch)/peer-archives/\(arch)-\(package)"
        try FileManager.default.createDirectory(atPath: peerArchives + "/partial", withIntermediateDirectories: true)
        let ingotArgs = ["closure-phase", "--package", package, "--arch", arch, "--store", store, "--scratch", scratch]
        // Warm-up (not measured): fills the store and the peer's archives directory.
        _ = try ingotRun(ingotArgs, resolve: true)
        _ = try ChildProcess.run(
            ["/bin/sh", "-c", peerScript(package, archives: peerArchives)], output: scratch + "/peer.log")

        var ingotResolve: [(PhaseResult, ChildUsage)] = []
        var ingotWarm: [(PhaseResult, ChildUsage)] = []
        var peer: [ChildUsage] = []
        for i in 0..<max(1, runs) {
            if i % 2 == 0 {
                ingotResolve.append(try ingotRun(ingotArgs, resolve: true))
                peer.append(
                    try ChildProcess.run(
                        ["/bin/sh", "-c", peerScript(package, archives: peerArchives)], output: scratch + "/peer.log"))
            } else {
                peer.append(
                    try ChildProcess.run(
                        ["/bin/sh", "-c", peerScript(package, archives: peerArchives)], output: scratch + "/peer.log"))
                ingotResolve.append(try ingotRun(ingotArgs, resolve: true))
            }
            ingotWarm.append(try ingotRun(ingotArgs, resolve: false))
            FileHandle.standardError.write(Data("  \(package): run \(i + 1)/\(runs) done\n".utf8))
        }

        // The same package set on both sides.
        let ingotSet = Set(
            (try? String(contentsOfFile: scratch + "/closure-\(package).txt", encoding: .utf8))?.split(separator: "\n")
                .map(String.init) ?? [])
        let peerDebs = ((try? FileManager.default.contentsOfDirectory(atPath: peerArchives)) ?? []).filter {
            $0.hasSuffix(".deb")
        }
        let peerSet = Set(peerDebs.compactMap { $0.split(separator: "_").first.map(String.init) })
        let peerDebBytes = peerDebs.reduce(Int64(0)) { $0 + fileSize(peerArchives + "/" + $1) }
        let peerTree =
            (try? ChildProcess.capture(["du", "-sb", scratch + "/peer-root"]))?.split(separator: "\t").first.flatMap {
                Int64($0)
            } ?? 0

        func row(_ t: inout Table, _ name: String, _ u: [ChildUsage], count: Int, debs: Int64, out: Int64) {
            let w = u.map(\.wall).sorted()
            t.add(
                name, Figures.s(w.first ?? 0), Figures.s(Figures.median(w)), Figures.s(w.last ?? 0),
                Figures.s(Figures.median(u.map(\.cpu))), Figures.mb(u.map(\.peakRSS).max() ?? 0), "\(count)",
                Figures.mb(debs), Figures.mb(out))
        }
        var t = Table(
            "closure of \(package) (\(arch))", "wall min s", "median", "max", "cpu s (median)", "peak RSS MB",
            "packages",
            "debs MB", "output MB")
        let last = ingotResolve.last?.0 ?? PhaseResult()
        row(
            &t, "ingot: apt resolve + warm store + compose + tar", ingotResolve.map(\.1),
            count: Int(last.counts["packages"] ?? 0), debs: last.counts["debBytes"] ?? 0,
            out: last.counts["tarBytes"] ?? 0)
        row(
            &t, "ingot: cached resolution (lists unchanged)", ingotWarm.map(\.1),
            count: Int(last.counts["packages"] ?? 0), debs: last.counts["debBytes"] ?? 0,
            out: last.counts["tarBytes"] ?? 0)
        row(
            &t, "peer: apt-get --download-only (warm) + dpkg -x", peer, count: peerSet.count, debs: peerDebBytes,
            out: peerTree)
        print(t.render())
        let phases = ["resolve", "compose", "tar"].map { k in
            "\(k) \(Figures.s(Figures.median(ingotResolve.compactMap { $0.0.seconds[k] }))) s"
        }
        print(
            "ingot phases (median; resolve includes the warm-store fetch and unpack lookups): "
                + phases.joined(separator: ", "))
        let peerWall = max(0.001, Figures.median(peer.map(\.wall)))
        let ratio = Figures.median(ingotResolve.map(\.1.wall)) / peerWall
        print(
            Figures.target(
                "ingot/peer wall (median, apt resolving on both sides)", measured: Figures.x(ratio),
                bound: "<= \(Figures.x(Self.ratioTarget))", met: ratio <= Self.ratioTarget))
        let warmRatio = Figures.median(ingotWarm.map(\.1.wall)) / peerWall
        print(
            Figures.target(
                "ingot/peer wall (median, ingot's warm store as a build uses it)", measured: Figures.x(warmRatio),
                bound: "<= \(Figures.x(Self.ratioTarget))", met: warmRatio <= Self.ratioTarget))
        let cpuRatio = Figures.median(ingotResolve.map(\.1.cpu)) / max(0.001, Figures.median(peer.map(\.cpu)))
        print(
            "  ingot/peer cpu (median, apt resolving on both sides): \(Figures.x(cpuRatio)) (less sensitive to other load)"
        )
        if ingotSet != peerSet || ingotSet.isEmpty {
            let onlyIngot = ingotSet.subtracting(peerSet).sorted()
            let onlyPeer = peerSet.subtracting(ingotSet).sorted()
            print("MISSED: package sets differ: only ingot \(onlyIngot), only apt \(onlyPeer)")
            throw Error.missed("closure of \(package): package sets differ")
        }
        print("package sets match: \(ingotSet.count) packages")
        print()
    }

    func ingotRun(_ args: [String], resolve: Bool) throws -> (PhaseResult, ChildUsage) {
        let result = scratch + "/closure-phase.json"
        try? FileManager.default.removeItem(atPath: result)
        let usage = try ChildProcess.run(
            [ChildProcess.selfPath] + args + ["--result", result] + (resolve ? ["--resolve"] : []),
            output: scratch + "/ingot.log")
        return (try PhaseResult.load(result), usage)
    }

    /// apt resolves on a private empty status with the same options Ingot uses, finds every
    /// .deb already in its archives directory (verifying each), and dpkg -x unpacks them all.
    func peerScript(_ package: String, archives: String) -> String {
        let d = scratch + "/peer"
        let root = scratch + "/peer-root"
        let sandbox = getuid() == 0 ? "-o APT::Sandbox::User=root" : ""
        return """
            set -e
            rm -rf '\(d)' '\(root)'
            mkdir -p '\(d)/cache' '\(root)'
            : > '\(d)/status'
            apt-get -q -y --download-only -o APT::Architecture=\(arch) -o APT::Architectures=\(arch) \
              -o Dir::State::status='\(d)/status' -o Dir::State::extended_states='\(d)/extended_states' \
              -o Dir::Cache='\(d)/cache' -o Dir::Cache::archives='\(archives)' \
              -o Dir::Cache::pkgcache='\(archives)/../pkgcache-\(arch).bin' \
              -o Dir::Cache::srcpkgcache='\(archives)/../srcpkgcache-\(arch).bin' \
              -o Debug::NoLocking=1 -o APT::Install-Recommends=false \
              -o pkgCacheGen::Essential=none -o Dir::Log='\(d)' \(sandbox) install \(package)
            for f in '\(archives)'/*.deb; do dpkg -x "$f" '\(root)'; done
            """
    }

    /// Warm `ingot build` of the examples, through the CLI.
    func rebuilds(_ ingot: String) throws {
        var t = Table(
            "warm rebuild (ingot build, default format)", "wall min s", "median", "max", "cpu s (median)", "peak RSS MB"
        )
        for (spec, board, target) in [
            ("examples/hello.yml", "x86_64-efi", 1.5), ("examples/nginx.yml", "x86_64-efi", 3.0),
        ] {
            let out = scratch + "/rebuild"
            let argv = [ingot, "build", spec, "--board", board, "-o", out]
            _ = try ChildProcess.run(argv, output: scratch + "/rebuild.log")  // warm-up, not measured
            var walls: [Double] = []
            var cpus: [Double] = []
            var rss: [Int64] = []
            for _ in 0..<max(1, rebuildRuns) {
                let u = try ChildProcess.run(argv, output: scratch + "/rebuild.log")
                walls.append(u.wall)
                cpus.append(u.cpu)
                rss.append(u.peakRSS)
            }
            let w = walls.sorted()
            t.add(
                "\(spec) --board \(board)", Figures.s(w.first ?? 0), Figures.s(Figures.median(w)),
                Figures.s(w.last ?? 0),
                Figures.s(Figures.median(cpus)), Figures.mb(rss.max() ?? 0))
            print(t.render())
            t.rows.removeAll()
            print(
                Figures.target(
                    "warm rebuild of \(spec) (median)", measured: Figures.s(Figures.median(w)) + " s",
                    bound: "<= \(Figures.s(target)) s", met: Figures.median(w) <= target))
        }
    }
}

/// The Ingot side of one closure run, in its own process.
struct ClosurePhaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "closure-phase", abstract: "One measured Ingot closure run (used by `closure`).",
        shouldDisplay: false)

    @Option var package: String
    @Option var arch: String
    @Option var store: String
    @Option var scratch: String
    @Option var result: String
    @Flag(help: "Forget cached resolutions first, so apt's solver runs.") var resolve = false

    /// Runs the async resolution on a task and waits for it (the bench's root command is synchronous).
    func run() throws {
        let command = self
        try runBlocking { try await command.measure() }
    }

    func measure() async throws {
        guard let a = Architecture.allCases.first(where: { $0.debian == arch }) else {
            throw ValidationError("unknown architecture \(arch)")
        }
        var out = PhaseResult()
        let contentStore = try ContentStore(root: store)
        if resolve { try? FileManager.default.removeItem(atPath: store + "/refs/apt-closure") }
        let t0 = monotonicSeconds()
        let resolver = SourceResolver(store: contentStore, lock: nil, arch: a, logger: nil)
        let closure = try await resolver.closure(DebianRequest(packages: [package]))
        let t1 = monotonicSeconds()
        let tree = try FileTree(spool: try ContentSpool(directory: scratch))
        for layer in closure.packages.map(\.data) + (closure.configuration.map { [$0] } ?? []) {
            guard case .archive(let path, _) = layer.source else { continue }
            try tree.applyLayer(archive: path, label: layer.origin)
        }
        let t2 = monotonicSeconds()
        let tar = scratch + "/ingot-rootfs.tar"
        let entries = try writeTar(tree, to: tar)
        let t3 = monotonicSeconds()
        out.seconds = ["resolve": t1 - t0, "compose": t2 - t1, "tar": t3 - t2]
        out.counts = [
            "packages": Int64(closure.packages.count), "entries": entries, "tarBytes": fileSize(tar),
            "debBytes": closure.packages.reduce(Int64(0)) { $0 + fileSize($1.debPath) },
        ]
        try (closure.packages.map(\.name).sorted().joined(separator: "\n") + "\n")
            .write(toFile: scratch + "/closure-\(package).txt", atomically: true, encoding: .utf8)
        try out.save(result)
    }

    /// The composed tree as an uncompressed tar (hard links kept): the build's `tar` output writer.
    func writeTar(_ tree: FileTree, to path: String) throws -> Int64 {
        try tree.writeTar(to: path)
    }
}
