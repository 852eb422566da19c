// `ingot cache` behind the scenes: listing pulled images with sizes and last use, removing one,
// exporting an OCI archive skopeo reads and importing it into another store, and a prune that
// waits for a pull holding the store and then keeps everything an image needs.

import Foundation
import IngotRegistry
import IngotSpec
import Testing

@testable import IngotSources

@Suite(.serialized, .enabled(if: registryToolsPresent, "needs docker-registry, skopeo, htpasswd, openssl, python3"))
struct RegistryCacheTests {
    @Test func listExportImportAndRemove() async throws {
        let s = try RegistryTests.Setup()
        defer { s.cleanup() }
        try s.registry.push("oci:\(s.fixture.layout):v1", to: "team/web:1.4")
        let ref = try s.reference("team/web:1.4")
        for arch in [Architecture.amd64, .arm64] {
            _ = try await s.resolver(arch, try s.options()).resolve(ref: .registry(ref))
        }
        let images = ImageStore(store: s.store)
        let entries = images.entries()
        #expect(entries.count == 2)
        for e in entries {
            #expect(e.lastUsed != nil)
            // Manifest + config + 2 layers, each counted once.
            let expected = Set(e.blobs).reduce(Int64(0)) { sum, d in
                sum
                    + (((try? FileManager.default.attributesOfItem(
                        atPath: s.store.root + "/blobs/sha256/" + d.dropFirst(7)))?[.size] as? NSNumber)?.int64Value
                        ?? 0)
            }
            #expect(images.size(of: e) == expected && expected > 0)
        }

        let archive = s.dir.path + "/web.oci.tar"
        let exported = try images.export(reference: "\(s.registry.host)/team/web:1.4", to: archive)
        #expect(exported.count == 2)
        let (rc, out) = try sh(["skopeo", "inspect", "--raw", "--override-arch", "arm64", "oci-archive:\(archive)"])
        #expect(rc == 0, "\(out)")

        let other = try TempDir("ingot-cache-import")
        defer { other.cleanup() }
        let otherImages = ImageStore(store: try makeStore(other))
        let imported = try otherImages.importArchive(archive, as: nil)
        #expect(imported.map(\.arch).sorted() == ["amd64", "arm64"])
        #expect(Set(imported.map(\.manifestDigest)) == Set(entries.map(\.manifestDigest)))
        // The imported image resolves offline, to the same layers.
        var offline = SourceResolver(store: otherImages.store, lock: nil, arch: .arm64, logger: nil)
        offline.registry = RegistryOptions(offline: true)
        let image = try await offline.resolve(ref: .registry(ref))
        #expect(image.layers.count == 2)

        let removed = try images.remove(reference: ref.description)
        #expect(removed.count == 2)
        #expect(images.entries().isEmpty)
        #expect(throws: ImageStore.MaintenanceError.self) {
            try images.export(reference: ref.description, to: archive + "2")
        }
    }

    @Test func pruneWaitsForAPullAndKeepsWhatImagesNeed() async throws {
        let s = try RegistryTests.Setup()
        defer { s.cleanup() }
        try s.registry.push("oci:\(s.fixture.layout):v1", to: "team/web:1")
        let root = s.dir.path + "/shared-store"
        // Garbage: a blob nothing names, and a stale partial download.
        let garbage = try ContentStore(root: root).put(bytes: Array("nobody needs me".utf8))
        try FileManager.default.createDirectory(atPath: root + "/partial", withIntermediateDirectories: true)
        try Data("half".utf8).write(to: URL(fileURLWithPath: root + "/partial/" + String(repeating: "a", count: 64)))

        // A slow pull (through a throttling proxy) holds the store while prune starts.
        let proxy = try ThrottlingProxy(to: s.registry.port, bytesPerSecond: 64 << 10, latency: 0.4, dir: s.dir.path)
        defer { proxy.stop() }
        var options = try s.options()
        let proxied = "127.0.0.1:\(proxy.port)"
        options.plainHTTP.insert(proxied)
        let ref = try RegistryReference.parse("\(proxied)/team/web:1")
        let pullOptions = options
        let pull = Task {
            var resolver = SourceResolver(store: try ContentStore(root: root), lock: nil, arch: .amd64, logger: nil)
            resolver.registry = pullOptions
            return try await resolver.resolve(ref: .registry(ref)).layers.count
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        let report = try await ImageStore.prune(root: root, lock: nil)
        let layers = try await pull.value
        #expect(layers == 2)
        #expect(report.waitedForBuilds, "prune did not wait for the pull")

        // Prune again now that nothing holds the store: the image survives, the garbage does not.
        let after = try await ImageStore.prune(root: root, lock: nil)
        #expect(!after.waitedForBuilds)
        let store = try ContentStore(root: root)
        #expect(!store.contains(garbage))
        let entries = ImageStore(store: store).entries()
        #expect(entries.count == 1)
        for blob in entries[0].blobs { _ = try store.path(for: try Digest(parsing: blob)) }
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: root + "/partial")) ?? []).isEmpty)
    }
}
