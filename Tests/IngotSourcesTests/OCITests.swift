// OCI layouts, OCI archives and docker archives: the right manifest per architecture, verified
// blobs, config fields, and errors for tampered, missing and truncated inputs.

import Foundation
import IngotSpec
import Testing

@testable import IngotSources

@Suite struct OCITests {
    func resolver(_ store: ContentStore, _ arch: Architecture) -> SourceResolver {
        SourceResolver(store: store, lock: nil, arch: arch, logger: nil)
    }

    func digests(_ image: ResolvedImage) -> [String] {
        image.layers.compactMap {
            if case .archive(_, let d) = $0.source { return d.description }
            return nil
        }
    }

    @Test func layoutPicksLayersPerArchitecture() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var fx = OCIFixture(dir)
        try fx.buildLayout()
        let store = try makeStore(dir)
        for arch in Architecture.allCases {
            let image = try await resolver(store, arch).resolve(ref: .ociLayout(path: fx.layout, tag: "v1"))
            #expect(digests(image) == fx.layers[arch.rawValue])
            #expect(image.config?.env == ["PATH=/bin", "ARCH=\(arch.rawValue)"])
            #expect(image.config?.entrypoint == ["/bin/sh", "-c"])
            #expect(image.config?.cmd == ["/bin/app"])
            #expect(image.config?.workingDir == "/srv")
            #expect(image.inputs.first?.arch == arch.rawValue)
            // The stored layers are real tars with the arch's files (read back with libarchive).
            guard case .archive(let path, _) = image.layers[0].source else {
                Issue.record("layer is not an archive")
                continue
            }
            #expect(try archiveListing(path).contains("./etc/base-\(arch.rawValue)"))
        }
        // Without a tag the single top-level entry is used as well.
        let untagged = try await resolver(store, .arm64).resolve(ref: .ociLayout(path: fx.layout, tag: nil))
        #expect(digests(untagged) == fx.layers["arm64"])
    }

    @Test func unknownTagListsAvailableTags() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var fx = OCIFixture(dir)
        try fx.buildLayout()
        let store = try makeStore(dir)
        await #expect {
            try await resolver(store, .amd64).resolve(ref: .ociLayout(path: fx.layout, tag: "v2"))
        } throws: { error in
            let text = "\(error)"
            return text.contains("tagged 'v2'") && text.contains("tag 'v1'") && text.contains(fx.layout)
        }
    }

    @Test func tamperedBlobIsRejected() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var fx = OCIFixture(dir)
        try fx.buildLayout()
        let store = try makeStore(dir)
        let victim = try Digest(parsing: fx.layers["arm64"]![1])
        let path = fx.layout + "/blobs/sha256/" + victim.hex
        var bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
        bytes[100] ^= 0xff  // same size, different content
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        await #expect {
            try await resolver(store, .arm64).resolve(ref: .ociLayout(path: fx.layout, tag: "v1"))
        } throws: { error in
            let text = "\(error)"
            return text.contains(victim.description) && text.contains(Digest.of(bytes).description)
        }
        #expect(!store.contains(Digest.of(bytes)))
        // amd64 does not use the damaged blob and still resolves.
        let ok = try await resolver(store, .amd64).resolve(ref: .ociLayout(path: fx.layout, tag: "v1"))
        #expect(ok.layers.count == 2)
    }

    @Test func ociArchiveMatchesLayout() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var fx = OCIFixture(dir)
        try fx.buildLayout()
        let archive = try fx.ociArchive()
        let store = try makeStore(dir)
        for arch in Architecture.allCases {
            let image = try await resolver(store, arch).resolve(ref: .ociArchive(path: archive))
            #expect(digests(image) == fx.layers[arch.rawValue])
            #expect(image.config?.workingDir == "/srv")
        }
    }

    @Test func dockerArchiveResolves() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let fx = OCIFixture(dir)
        let archive = try fx.dockerArchive(arch: "arm64")
        let store = try makeStore(dir)
        let image = try await resolver(store, .arm64).resolve(ref: .dockerArchive(path: archive))
        #expect(image.layers.count == 2)
        #expect(image.config?.env == ["D=1"])
        #expect(image.inputs.first?.name == "demo:latest")
        guard case .archive(let path, _) = image.layers[1].source else {
            Issue.record("layer is not an archive")
            return
        }
        #expect(try archiveListing(path).contains("./etc/two"))
        // The same archive is refused for the other architecture, naming what it holds.
        await #expect {
            try await resolver(store, .amd64).resolve(ref: .dockerArchive(path: archive))
        } throws: { "\($0)".contains("linux/arm64") && "\($0)".contains("amd64") }
    }

    @Test func truncatedArchivesAreReported() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var fx = OCIFixture(dir)
        try fx.buildLayout()
        let archive = try fx.ociArchive()
        let data = try Data(contentsOf: URL(fileURLWithPath: archive))
        let cut = dir.path + "/cut.tar"
        try data.prefix(data.count / 2 + 100).write(to: URL(fileURLWithPath: cut))
        let store = try makeStore(dir)
        await #expect {
            try await resolver(store, .amd64).resolve(ref: .ociArchive(path: cut))
        } throws: { error in
            let text = "\(error)"
            return text.contains(cut) && (text.contains("runcated") || text.contains("missing"))
        }
        let docker = try fx.dockerArchive(arch: "amd64")
        let d = try Data(contentsOf: URL(fileURLWithPath: docker))
        let cutDocker = dir.path + "/cut-docker.tar"
        try d.prefix(3000).write(to: URL(fileURLWithPath: cutDocker))
        await #expect {
            try await resolver(store, .amd64).resolve(ref: .dockerArchive(path: cutDocker))
        } throws: { "\($0)".contains(cutDocker) }
    }

    @Test func tarAndDirectorySources() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let fx = OCIFixture(dir)
        let tgz = try fx.layerTar(name: "etc/hello", content: "hi\n", gzip: true)
        try dir.write("in.tar.gz", tgz)
        let store = try makeStore(dir)
        let r = resolver(store, .amd64)
        let image = try await r.resolve(ref: .tar(path: dir.path + "/in.tar.gz"))
        #expect(image.inputs.first?.sha256 == Digest.of(tgz).hex)
        try dir.write("garbage.tar", "this is not a tar archive at all")
        await #expect { try await r.resolve(ref: .tar(path: dir.path + "/garbage.tar")) } throws: {
            "\($0)".contains(dir.path + "/garbage.tar")
        }
        try dir.write("tree/etc/motd", "welcome\n")
        let d1 = try await r.resolve(ref: .directory(path: dir.path + "/tree"))
        guard case .directory(let p) = d1.layers[0].source else {
            Issue.record("not a directory layer")
            return
        }
        #expect(p == dir.path + "/tree")
        try dir.write("tree/etc/motd", "changed\n")
        let d2 = try await r.resolve(ref: .directory(path: dir.path + "/tree"))
        #expect(d1.inputs[0].sha256 != d2.inputs[0].sha256)
        let spec = ImageSpec(
            ref: .directory(path: dir.path + "/missing"), raw: "dir:./missing",
            location: SourceLocation(file: "app.yml", line: 7, column: 12))
        await #expect { try await r.resolve(spec) } throws: {
            "\($0)".hasPrefix("app.yml:7:12:") && "\($0)".contains("missing")
        }
    }
}
