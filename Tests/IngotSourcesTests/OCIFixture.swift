// Builds small OCI layouts and docker archives inside a test's temp dir: real tar layers made by
// the `tar` CLI, blobs named by their sha256, manifests per architecture under a nested index.

import Foundation

@testable import IngotSources

struct OCIFixture {
    let dir: TempDir
    /// Layout directory.
    var layout: String { dir.path + "/layout" }
    /// The layer digests per architecture, bottom first.
    var layers: [String: [String]] = [:]

    init(_ dir: TempDir) { self.dir = dir }

    /// Writes `data` as a blob of the layout; returns a descriptor JSON object.
    @discardableResult
    func blob(_ data: Data, mediaType: String, extra: [String: Any] = [:]) throws -> [String: Any] {
        let d = Digest.of(data)
        try dir.write("layout/blobs/sha256/\(d.hex)", data)
        var desc: [String: Any] = ["mediaType": mediaType, "digest": d.description, "size": data.count]
        for (k, v) in extra { desc[k] = v }
        return desc
    }

    func json(_ object: Any) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// A tar of one file `name` with `content`, optionally gzip-compressed.
    func layerTar(name: String, content: String, gzip: Bool) throws -> Data {
        let src = dir.path + "/src-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: src + "/etc", withIntermediateDirectories: true)
        try Data(content.utf8).write(to: URL(fileURLWithPath: src + "/" + name))
        let out = dir.path + "/layer-\(UUID().uuidString).tar" + (gzip ? ".gz" : "")
        let (rc, log) = try sh(["tar", gzip ? "-czf" : "-cf", out, "-C", src, "--owner=0", "--group=0", "."])
        guard rc == 0 else { throw FixtureError(log) }
        return try Data(contentsOf: URL(fileURLWithPath: out))
    }

    struct FixtureError: Error {
        let message: String
        init(_ m: String) { message = m }
    }

    /// Layout with a nested index tagged "v1" holding amd64 and arm64 manifests (2 layers each).
    mutating func buildLayout() throws {
        var manifests: [[String: Any]] = []
        for arch in ["amd64", "arm64"] {
            let l1 = try layerTar(name: "etc/base-\(arch)", content: "base \(arch)\n", gzip: true)
            let l2 = try layerTar(name: "etc/app-\(arch)", content: "app \(arch)\n", gzip: false)
            let d1 = try blob(l1, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip")
            let d2 = try blob(l2, mediaType: "application/vnd.oci.image.layer.v1.tar")
            layers[arch] = [d1["digest"] as! String, d2["digest"] as! String]
            let config: [String: Any] = [
                "architecture": arch, "os": "linux",
                "config": [
                    "Env": ["PATH=/bin", "ARCH=\(arch)"], "Cmd": ["/bin/app"], "Entrypoint": ["/bin/sh", "-c"],
                    "WorkingDir": "/srv",
                ],
                "rootfs": ["type": "layers", "diff_ids": []],
            ]
            let c = try blob(try json(config), mediaType: "application/vnd.oci.image.config.v1+json")
            let manifest: [String: Any] = [
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": c,
                "layers": [d1, d2],
            ]
            manifests.append(
                try blob(
                    try json(manifest), mediaType: "application/vnd.oci.image.manifest.v1+json",
                    extra: ["platform": ["architecture": arch, "os": "linux"]]))
        }
        let nested: [String: Any] = [
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests,
        ]
        let n = try blob(
            try json(nested), mediaType: "application/vnd.oci.image.index.v1+json",
            extra: ["annotations": ["org.opencontainers.image.ref.name": "v1"]])
        try dir.write("layout/index.json", try json(["schemaVersion": 2, "manifests": [n]]))
        try dir.write("layout/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}")
    }

    /// An OCI archive (tar of the layout).
    func ociArchive() throws -> String {
        let out = dir.path + "/image.oci.tar"
        let (rc, log) = try sh(["tar", "-cf", out, "-C", layout, "."])
        guard rc == 0 else { throw FixtureError(log) }
        return out
    }

    /// A legacy `docker save` archive for `arch` with two uncompressed layers.
    func dockerArchive(arch: String) throws -> String {
        let root = dir.path + "/docker"
        var layerPaths: [String] = []
        var diffIDs: [String] = []
        for (i, name) in ["etc/one", "etc/two"].enumerated() {
            let data = try layerTar(name: name, content: "docker \(i) \(arch)\n", gzip: false)
            let id = String(repeating: String(i), count: 64)
            try dir.write("docker/\(id)/layer.tar", data)
            layerPaths.append("\(id)/layer.tar")
            diffIDs.append(Digest.of(data).description)
        }
        let config: [String: Any] = [
            "architecture": arch, "os": "linux",
            "config": ["Env": ["D=1"], "Cmd": ["/bin/true"]],
            "rootfs": ["type": "layers", "diff_ids": diffIDs],
        ]
        let configData = try json(config)
        let configName = Digest.of(configData).hex + ".json"
        try dir.write("docker/\(configName)", configData)
        try dir.write(
            "docker/manifest.json",
            try json([["Config": configName, "RepoTags": ["demo:latest"], "Layers": layerPaths]]))
        let out = dir.path + "/docker.tar"
        let (rc, log) = try sh(["tar", "-cf", out, "-C", root, "."])
        guard rc == 0 else { throw FixtureError(log) }
        return out
    }
}
