// `ingot-bench pull`: pulls a generated multi-layer image (~200 MB of incompressible layers,
// pushed to a docker-registry the benchmark starts on 127.0.0.1) into a fresh Ingot store, beside
// `skopeo copy docker://… oci:…` of the same image in the same run; alternating order, min/median/
// max wall time, throughput and peak RSS per side. Byte-identical layer digests on both sides
// decide the verdict; the targets are ≤ 1.0× skopeo's median time and ≤ 128 MB peak RSS.

import ArgumentParser
import Crypto
import Foundation
import IngotRegistry
import IngotSources
import IngotSpec
import IngotSystem

#if canImport(Glibc)
    import Glibc
#endif

struct PullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull", abstract: "Registry pull into the store vs skopeo copy to an OCI layout.")

    @Option(help: "Runs per side (alternating order).") var runs: Int = 5
    @Option(help: "Layers in the generated image.") var layers: Int = 5
    @Option(help: "Megabytes per layer.") var layerMB: Int = 40
    @Option(help: "Scratch directory (default: a new one under /var/tmp).") var scratch: String?
    @Option(help: "Parallel layer downloads for Ingot.") var jobs: Int = 4

    enum Error: Swift.Error, CustomStringConvertible {
        case setup(String)
        var description: String {
            switch self {
            case .setup(let s): return "pull benchmark setup failed: \(s)"
            }
        }
    }

    func run() throws {
        let root = try scratch ?? makeScratch()
        defer { if scratch == nil { try? FileManager.default.removeItem(atPath: root) } }
        print("pull: generating \(layers) layers x \(layerMB) MB (incompressible) under \(root)")
        let (layout, layerDigests, total) = try generate(root)
        let registry = try BenchRegistry(dir: root + "/registry")
        defer { registry.stop() }
        try sh([
            "skopeo", "copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false", "oci:\(layout):1",
            "docker://\(registry.host)/bench/big:1",
        ])
        let ref = "\(registry.host)/bench/big:1"
        print("pull: image \(ref), \(Figures.mb(total)) MB in \(layerDigests.count) layers + config")

        var ingot: [ChildUsage] = []
        var skopeo: [ChildUsage] = []
        var verdictOK = true
        for run in 0..<runs {
            for side in (run % 2 == 0 ? ["ingot", "skopeo"] : ["skopeo", "ingot"]) {
                let dir = "\(root)/run-\(run)-\(side)"
                try? FileManager.default.removeItem(atPath: dir)
                if side == "ingot" {
                    let usage = try ChildProcess.run(
                        [
                            ChildProcess.selfPath, "pull-phase", "--store", dir, "--reference", ref, "--http",
                            registry.host,
                            "--jobs", String(jobs),
                        ], output: "\(root)/ingot-\(run).log", check: true)
                    ingot.append(usage)
                    let got = try ingotLayers(store: dir, reference: ref)
                    if got != layerDigests {
                        verdictOK = false; print("  run \(run + 1) ingot: layer digests differ: \(got)")
                    }
                } else {
                    let usage = try ChildProcess.run(
                        [
                            "skopeo", "copy", "--quiet", "--src-tls-verify=false",
                            "--dest-oci-accept-uncompressed-layers", "docker://\(ref)", "oci:\(dir):1",
                        ],
                        output: "\(root)/skopeo-\(run).log", check: true)
                    skopeo.append(usage)
                    let got = try layoutLayers(dir)
                    if got != layerDigests {
                        verdictOK = false; print("  run \(run + 1) skopeo: layer digests differ: \(got)")
                    }
                }
                try? FileManager.default.removeItem(atPath: dir)
            }
        }
        func line(_ name: String, _ u: [ChildUsage]) -> String {
            let walls = u.map(\.wall)
            let median = Figures.median(walls)
            let throughput = Double(total) / 1e6 / median
            return
                "  \(name): wall min \(Figures.s(walls.min() ?? 0)) / median \(Figures.s(median)) / max \(Figures.s(walls.max() ?? 0)) s, "
                + String(format: "%.0f MB/s", throughput)
                + ", peak RSS max \(Figures.mb(u.map(\.peakRSS).max() ?? 0)) MB"
        }
        print("pull \(Figures.mb(total)) MB, \(runs) runs per side (alternating order):")
        print(line("ingot (store, \(jobs) parallel layers)", ingot))
        print(line("skopeo copy docker:// → oci:", skopeo))
        let ratio = Figures.median(ingot.map(\.wall)) / Figures.median(skopeo.map(\.wall))
        let rss = ingot.map(\.peakRSS).max() ?? 0
        print(
            Figures.target("ingot/skopeo median time", measured: Figures.x(ratio), bound: "<= 1.00x", met: ratio <= 1.0)
        )
        print(
            Figures.target(
                "ingot peak RSS", measured: "\(Figures.mb(rss)) MB", bound: "<= 128 MB", met: rss <= 128_000_000))
        print(
            Figures.target(
                "layer digests identical on both sides", measured: verdictOK ? "yes" : "no", bound: "yes",
                met: verdictOK))
        if !verdictOK { throw ExitCode(1) }
    }

    private func makeScratch() throws -> String {
        var template = Array("/var/tmp/ingot-bench-pull.XXXXXX".utf8CString)
        guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw Error.setup("mkdtemp failed")
        }
        return String(cString: p)
    }

    /// An OCI layout with `layers` tars of random data; returns the layout, layer digests, total bytes.
    private func generate(_ root: String) throws -> (String, [String], Int64) {
        let layout = root + "/layout"
        try FileManager.default.createDirectory(atPath: layout + "/blobs/sha256", withIntermediateDirectories: true)
        var descriptors: [[String: Any]] = []
        var digests: [String] = []
        var diffIDs: [String] = []
        var total: Int64 = 0
        for i in 0..<layers {
            let src = "\(root)/src\(i)"
            try FileManager.default.createDirectory(atPath: src + "/data", withIntermediateDirectories: true)
            try sh([
                "dd", "if=/dev/urandom", "of=\(src)/data/layer\(i).bin", "bs=1M", "count=\(layerMB)", "status=none",
            ])
            let tar = "\(root)/layer\(i).tar"
            try sh(["tar", "--owner=0", "--group=0", "--mtime=@0", "-cf", tar, "-C", src, "."])
            try? FileManager.default.removeItem(atPath: src)
            let digest = try hashFile(tar)
            let size = try FileManager.default.attributesOfItem(atPath: tar)[.size] as! NSNumber
            guard rename(tar, "\(layout)/blobs/sha256/\(digest.dropFirst(7))") == 0 else {
                throw Error.setup("rename \(tar)")
            }
            descriptors.append([
                "mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest, "size": size.int64Value,
            ])
            digests.append(digest)
            diffIDs.append(digest)
            total += size.int64Value
        }
        func blob(_ object: Any, _ mediaType: String, extra: [String: Any] = [:]) throws -> [String: Any] {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            let digest = "sha256:" + SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
            try data.write(to: URL(fileURLWithPath: "\(layout)/blobs/sha256/\(digest.dropFirst(7))"))
            var d: [String: Any] = ["mediaType": mediaType, "digest": digest, "size": data.count]
            for (k, v) in extra { d[k] = v }
            return d
        }
        let config = try blob(
            ["architecture": "amd64", "os": "linux", "rootfs": ["type": "layers", "diff_ids": diffIDs]],
            "application/vnd.oci.image.config.v1+json")
        total += (config["size"] as! Int).int64
        let manifest = try blob(
            [
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config,
                "layers": descriptors,
            ],
            "application/vnd.oci.image.manifest.v1+json",
            extra: ["annotations": ["org.opencontainers.image.ref.name": "1"]])
        let index = try JSONSerialization.data(
            withJSONObject: ["schemaVersion": 2, "manifests": [manifest]], options: [.sortedKeys])
        try index.write(to: URL(fileURLWithPath: layout + "/index.json"))
        try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: URL(fileURLWithPath: layout + "/oci-layout"))
        return (layout, digests, total)
    }

    /// Layer digests of an OCI layout, each blob re-hashed from its file.
    private func layoutLayers(_ dir: String) throws -> [String] {
        struct Index: Decodable { var manifests: [RegistryDescriptor] }
        struct Manifest: Decodable { var layers: [RegistryDescriptor] }
        let index = try JSONDecoder().decode(
            Index.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/index.json")))
        guard let top = index.manifests.first else { throw Error.setup("\(dir): empty index") }
        let manifest = try JSONDecoder().decode(
            Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: "\(dir)/blobs/sha256/\(top.hex)")))
        return try manifest.layers.map { try hashFile("\(dir)/blobs/sha256/\($0.hex)") }
    }

    private func ingotLayers(store: String, reference: String) throws -> [String] {
        let ref = try RegistryReference.parse(reference)
        let dir = ImageStore(store: try ContentStore(root: store)).directory(for: ref.description, arch: "amd64")
        return try layoutLayers(dir)
    }
}

/// The Ingot side of `pull`, in its own process so its peak RSS is measured alone.
struct PullPhaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull-phase", abstract: "One Ingot pull (used by `pull`).", shouldDisplay: false)
    @Option var store: String
    @Option var reference: String
    @Option var http: [String] = []
    @Option var jobs: Int = 4

    func run() throws {
        let ref = try RegistryReference.parse(reference)
        let options = RegistryOptions(plainHTTP: Set(http), parallelDownloads: jobs)
        let contentStore = try ContentStore(root: store)
        let outcome = try runBlocking {
            try await RegistryPuller(store: contentStore, options: options).pull(ref, arch: "amd64")
        }
        print("pulled \(outcome.bytesReceived) bytes, manifest \(outcome.manifestDigest)")
    }
}

/// A docker-registry on a free 127.0.0.1 port with its own storage, for the benchmark.
final class BenchRegistry {
    let host: String
    private let process: IngotSystem.ChildProcess

    init(dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir + "/storage", withIntermediateDirectories: true)
        let (_, portText) = try sh([
            "python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])",
        ])
        host = "127.0.0.1:" + portText.trimmingCharacters(in: .whitespacesAndNewlines)
        let config = """
            version: 0.1
            log:
              level: error
              accesslog:
                disabled: true
            storage:
              filesystem:
                rootdirectory: \(dir)/storage
            http:
              addr: \(host)
              secret: ingot-bench

            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: dir + "/config.yml"))
        process = try IngotSystem.ChildProcess.spawn(
            .init(
                "/usr/bin/docker-registry", ["serve", dir + "/config.yml"], standardOutput: .null, standardError: .null)
        )
        for _ in 0..<100 {
            if (try? sh(["curl", "-sf", "-o", "/dev/null", "http://\(host)/v2/"]))?.0 == 0 { return }
            usleep(100_000)
        }
        stop()
        throw PullCommand.Error.setup("docker-registry did not start on \(host)")
    }

    func stop() {
        guard !process.hasEnded else { return }
        process.terminate()
        _ = process.waitBlocking()
    }
}

/// Runs a tool (looked up in PATH) with both outputs merged, throwing with its output when it fails.
@discardableResult
private func sh(_ argv: [String]) throws -> (Int32, String) {
    let end = try IngotSystem.ChildProcess.runBlocking(
        .init(argv[0], Array(argv.dropFirst()), standardError: .standardOutput))
    guard end.status.succeeded else {
        throw PullCommand.Error.setup("\(argv.joined(separator: " ")): \(end.standardOutputText)")
    }
    return (0, end.standardOutputText)
}

/// sha256 of a file as `sha256:<hex>`, streamed.
private func hashFile(_ path: String) throws -> String {
    "sha256:" + SHA256Stream.hex(try SHA256Stream.digest(ofFile: path))
}

extension Int {
    fileprivate var int64: Int64 { Int64(self) }
}
