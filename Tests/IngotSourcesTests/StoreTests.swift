// ContentStore: put/get round trips, verification on read, atomic concurrent writers (tasks and
// separate processes), refs, and the default root for unprivileged users.

import Foundation
import IngotSystem
import Testing

@testable import IngotSources

@Suite struct StoreTests {
    @Test func putAndReadBack() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try makeStore(dir)
        try dir.write("a.txt", "hello ingot\n")
        let d = try store.put(fileAt: dir.path + "/a.txt")
        // sha256 of "hello ingot\n" as computed by the standard tool.
        let (rc, out) = try sh(["sha256sum", dir.path + "/a.txt"])
        #expect(rc == 0)
        #expect(out.hasPrefix(d.hex))
        #expect(d.description == "sha256:" + d.hex)
        #expect(store.contains(d))
        let path = try store.path(for: d)
        #expect(path == dir.path + "/cache/blobs/sha256/" + d.hex)
        #expect(String(decoding: try store.bytes(of: d), as: UTF8.self) == "hello ingot\n")
        let d2 = try store.put(bytes: Array("hello ingot\n".utf8))
        #expect(d2 == d)
        // The temp area is empty after writes.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/cache/tmp").isEmpty)
    }

    @Test func digestCodingAndParsing() throws {
        let d = Digest.of(Array("x".utf8))
        let json = try JSONEncoder().encode([d])
        #expect(String(decoding: json, as: UTF8.self) == "[\"sha256:\(d.hex)\"]")
        #expect(try JSONDecoder().decode([Digest].self, from: json) == [d])
        #expect(try Digest(parsing: d.hex.uppercased()) == d)
        #expect(throws: Digest.Error.self) { try Digest(parsing: "sha256:abc") }
    }

    @Test func flippedByteIsDetectedAndRemoved() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try makeStore(dir)
        let d = try store.put(bytes: Array(repeating: 0x41, count: 10_000))
        let path = dir.path + "/cache/blobs/sha256/" + d.hex
        var bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
        bytes[5000] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let actual = Digest.of(bytes)
        do {
            _ = try store.path(for: d)
            Issue.record("a corrupt blob was accepted")
        } catch let e as ContentStore.Error {
            let text = e.description
            #expect(text.contains(d.description))
            #expect(text.contains(actual.description))
            #expect(text.contains("rerun"))
        }
        #expect(!store.contains(d))
        #expect(throws: ContentStore.Error.self) { try store.path(for: d) }
    }

    @Test func expectedDigestMismatchStoresNothing() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try makeStore(dir)
        let wrong = Digest.of(Array("other".utf8))
        #expect(throws: ContentStore.Error.self) { try store.put(bytes: [1, 2, 3], expected: wrong) }
        #expect(!store.contains(Digest.of([1, 2, 3])))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/cache/tmp").isEmpty)
    }

    @Test func concurrentPutsFromTasks() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try makeStore(dir)
        let content = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let digests = try await withThrowingTaskGroup(of: Digest.self) { group in
            for _ in 0..<8 {
                group.addTask { try store.put(bytes: content) }
            }
            var all: [Digest] = []
            for try await d in group { all.append(d) }
            return all
        }
        #expect(digests.count == 8)
        #expect(Set(digests).count == 1)
        #expect(try store.bytes(of: digests[0]) == Data(content))
    }

    /// Runs in a child process (see `concurrentPutsFromProcesses`): stores the shared content.
    @Test func childProcessWriter() throws {
        guard let root = ProcessInfo.processInfo.environment["INGOT_TEST_CHILD_STORE"] else { return }
        let store = try ContentStore(root: root)
        let content = (0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        for _ in 0..<5 { try store.put(bytes: content) }
    }

    @Test func concurrentPutsFromProcesses() throws {
        // Never recurse when a child runs more than its one test.
        guard ProcessInfo.processInfo.environment["INGOT_TEST_CHILD_STORE"] == nil else { return }
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try makeStore(dir)
        let runner = CommandLine.arguments[0]
        var children: [ChildProcess] = []
        for _ in 0..<2 {
            children.append(
                try ChildProcess.spawn(
                    .init(
                        runner, ["--testing-library", "swift-testing", "--filter", "childProcessWriter"],
                        environment: ["INGOT_TEST_CHILD_STORE": store.root], standardOutput: .null, standardError: .null
                    )))
        }
        for child in children { #expect(child.waitBlocking().status == .exited(0)) }
        let content = (0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        let d = Digest.of(content)
        #expect(store.contains(d))
        #expect(try store.path(for: d).hasSuffix(d.hex))
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.root + "/tmp").isEmpty)
    }

    @Test func refsRoundTrip() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try makeStore(dir)
        let d = try store.put(bytes: [9, 9, 9])
        #expect(store.ref(kind: "deb", key: "busybox-static_1:1.35_arm64") == nil)
        try store.setRef(kind: "deb", key: "busybox-static_1:1.35_arm64", to: d)
        #expect(store.ref(kind: "deb", key: "busybox-static_1:1.35_arm64") == d)
        #expect(store.refPath(kind: "deb", key: "a/../b").hasSuffix("/refs/deb/a%2F..%2Fb"))
    }

    @Test func defaultRootFallsBackForUnwritableHome() throws {
        #expect(ContentStore.defaultRoot(environment: ["INGOT_CACHE": "/x/y"]) == "/x/y")
        // A HOME under a regular file cannot hold a cache, even for root.
        let fallback = ContentStore.defaultRoot(environment: ["HOME": "/dev/null", "TMPDIR": "/tmp"])
        #expect(fallback == "/tmp/ingot-cache-\(getuid())")
        let xdg = try TempDir()
        defer { xdg.cleanup() }
        #expect(
            ContentStore.defaultRoot(environment: ["XDG_CACHE_HOME": xdg.path, "HOME": "/dev/null"]) == xdg.path
                + "/ingot")
    }
}
