// Hostile sources (issue 12): OCI indexes nested past the limit (said "Available: none"), FIFOs
// in place of blobs and index.json (blocked forever), a `dir:` reached through a symlink, what
// dead builds leave in the store's tmp/, and a full cache told apart from a network failure.

import Foundation
import IngotSpec
import IngotSystem
import Testing

@testable import IngotSources

@Suite struct SourcesHardeningTests {
    func resolver(_ store: ContentStore) -> SourceResolver {
        SourceResolver(store: store, lock: nil, arch: .amd64, logger: nil)
    }

    /// A layout whose index.json points at `depth` nested indexes, the innermost empty.
    func nestedLayout(_ fx: OCIFixture, depth: Int) throws {
        var inner: [String: Any] = [
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [],
        ]
        for _ in 0..<depth {
            let d = try fx.blob(try fx.json(inner), mediaType: "application/vnd.oci.image.index.v1+json")
            inner = ["schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [d]]
        }
        try fx.dir.write("layout/index.json", try fx.json(inner))
    }

    // Case 21: indexes nested more than 4 deep were reported as "Available: none".
    @Test func deepIndexNestingIsNamedAsSuch() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let fx = OCIFixture(dir)
        try nestedLayout(fx, depth: 6)
        let store = try makeStore(dir)
        await #expect {
            try await resolver(store).resolve(ref: .ociLayout(path: fx.layout, tag: nil))
        } throws: { error in
            let text = "\(error)"
            return text.contains("nested more than 4 deep") && !text.contains("Available: none")
        }
        // Four levels are still followed (and then honestly report that nothing matched).
        try nestedLayout(fx, depth: 4)
        await #expect {
            try await resolver(store).resolve(ref: .ociLayout(path: fx.layout, tag: nil))
        } throws: { "\($0)".contains("no linux/amd64 image") }
    }

    // Case 13: a FIFO as an OCI blob or as index.json blocked the build forever.
    @Test func fifoBlobsAndIndexFailAtOnce() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        var fx = OCIFixture(dir)
        try fx.buildLayout()
        let store = try makeStore(dir)
        let victim = try Digest(parsing: fx.layers["amd64"]![0])
        let path = fx.layout + "/blobs/sha256/" + victim.hex
        unlink(path)
        #expect(mkfifo(path, 0o644) == 0)
        let started = Date()
        await #expect {
            try await resolver(store).resolve(ref: .ociLayout(path: fx.layout, tag: "v1"))
        } throws: { "\($0)".contains("FIFO") && "\($0)".contains(victim.description) }
        unlink(fx.layout + "/index.json")
        #expect(mkfifo(fx.layout + "/index.json", 0o644) == 0)
        await #expect {
            try await resolver(store).resolve(ref: .ociLayout(path: fx.layout, tag: "v1"))
        } throws: { "\($0)".contains("index.json") && "\($0)".contains("FIFO") }
        // Archives and files handed to the store directly.
        #expect(mkfifo(dir.path + "/img.tar", 0o644) == 0)
        await #expect {
            try await resolver(store).resolve(ref: .ociArchive(path: dir.path + "/img.tar"))
        } throws: { "\($0)".contains("FIFO") }
        #expect(throws: (any Error).self) { try store.put(fileAt: dir.path + "/img.tar") }
        #expect(throws: (any Error).self) { try Digest.of(fileAt: "/dev/zero") }
        #expect(Date().timeIntervalSince(started) < 10)
    }

    // Case 16: blob-*/apt-* of a SIGKILLed build stayed in the store forever.
    @Test func leftoversOfDeadBuildsAreRemovedAndLiveOnesKept() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        // A PID that certainly ran and ended.
        let p = try ChildProcess.spawn(.init("/bin/true", []))
        _ = p.waitBlocking()
        let dead = p.pid
        let tmp = dir.path + "/cache/tmp"
        try FileManager.default.createDirectory(
            atPath: tmp + "/apt-\(dead)-123/partial", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: tmp + "/apt-\(dead)-123/x.deb", contents: Data(count: 1000)))
        #expect(FileManager.default.createFile(atPath: tmp + "/blob-\(dead)-AbC123", contents: Data(count: 1000)))
        #expect(FileManager.default.createFile(atPath: tmp + "/ref-\(dead)-99", contents: Data()))
        #expect(FileManager.default.createFile(atPath: tmp + "/blob-\(getpid())-live00", contents: Data()))
        #expect(FileManager.default.createFile(atPath: tmp + "/blob-1-init00", contents: Data()))  // PID 1 runs
        // A registry pull's resumable download lives in partial/, not tmp/: never touched here.
        let partial = dir.path + "/cache/partial/" + String(repeating: "ab", count: 32)
        try FileManager.default.createDirectory(atPath: dir.path + "/cache/partial", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: partial, contents: Data(count: 100)))
        _ = try makeStore(dir)
        #expect(FileManager.default.fileExists(atPath: partial))
        let left = Set((try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? [])
        #expect(left == ["blob-\(getpid())-live00", "blob-1-init00"], "\(left)")
        // New temporary names carry the PID, so the next run can do the same for this one.
        let store = try makeStore(dir)
        let digest = try store.put(source: "test") { sink in
            let names = (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? []
            #expect(names.contains { $0.hasPrefix("blob-\(getpid())-") && $0 != "blob-\(getpid())-live00" }, "\(names)")
            try [UInt8](repeating: 1, count: 10).withUnsafeBytes { try sink.write($0) }
        }
        #expect(store.contains(digest))
    }

    // Case 21: a full cache during a download was blamed on the network.
    @Test(.enabled(if: getuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true", "mounts a tmpfs"))
    func fullCacheIsNamedNotTheNetwork() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let mount = dir.path + "/small"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        let (rc, log) = try sh(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount])
        #expect(rc == 0, "\(log)")
        defer { _ = try? sh(["umount", mount]) }
        let store = try ContentStore(root: mount + "/cache")
        #expect(FileManager.default.createFile(atPath: mount + "/filler", contents: nil))
        _ = try sh(["dd", "if=/dev/zero", "of=\(mount)/filler", "bs=64k", "count=100"])
        #expect(ContentStore.spaceError(mount + "/cache/tmp/apt-1-2") != nil)
        do {
            try store.put(bytes: [UInt8](repeating: 1, count: 600_000))
            Issue.record("a write into a full cache succeeded")
        } catch {
            #expect("\(error)".contains("cache is full") && !"\(error)".contains("network"), "\(error)")
        }
        #expect(ContentStore.spaceError(dir.path) == nil)
    }
}
