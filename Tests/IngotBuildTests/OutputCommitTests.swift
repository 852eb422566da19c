// The output commit: the new set replaces the old one whole (stale formats removed, the
// manifest last), a failure in the middle leaves no manifest vouching for a mixed set, a failed
// build removes every directory it created, dead builds' staging directories and lock files are
// cleaned, and a second build of the same prefix waits for the first.

import Foundation
import IngotContract
import Synchronization
import Testing

@testable import IngotBuild

@Suite(.serialized) struct OutputCommitTests {
    static func manifest(_ outputs: [BuildManifest.OutputRecord], formats: [OutputFormat]) -> BuildManifest {
        var m = ManifestTests.sample()
        m.outputs = outputs
        m.formats = formats
        return m
    }

    /// Stages `roles` with small contents and returns their records.
    static func stage(_ staging: OutputStaging, _ roles: [ArtifactRole], text: String) throws -> [BuildManifest
        .OutputRecord]
    {
        try roles.map { role in
            try Data((text + role.rawValue).utf8).write(to: URL(fileURLWithPath: staging.path(role)))
            return try staging.record(role)
        }
    }

    @Test func theNewSetReplacesTheOldOneWhole() async throws {
        let dir = try TempDir("commit")
        defer { dir.cleanup() }
        let layout = ArtifactLayout(directory: dir.path, name: "hello", board: "rpi3")
        // An earlier kernel+initrd build, and files that are not ours.
        let first = try await OutputStaging.open(layout: layout)
        let old = try Self.stage(first, [.kernel, .initrd, .cmdline], text: "old ")
        try first.commit(Self.manifest(old, formats: [.kernelInitrd]))
        try dir.write(layout.fileName(.dtb, dtb: "bcm2837-rpi-3-b.dtb"), [1])  // a DTB the old manifest forgot
        try dir.write("notes.txt", [1])
        try dir.write("hello-rpi4.img", [1])
        #expect(
            dir.listing == [
                "hello-rpi3-bcm2837-rpi-3-b.dtb", "hello-rpi3-cmdline", "hello-rpi3-initrd.img", "hello-rpi3-kernel",
                "hello-rpi3.manifest.json",
                "hello-rpi4.img", "notes.txt",
            ])

        let second = try await OutputStaging.open(layout: layout)
        let new = try Self.stage(second, [.diskRaw, .bmap], text: "new ")
        try second.commit(
            Self.manifest(new, formats: [.raw]), alsoStale: [layout.fileName(.dtb, dtb: "bcm2837-rpi-3-b.dtb")])
        #expect(
            dir.listing == [
                "hello-rpi3.img", "hello-rpi3.img.bmap", "hello-rpi3.manifest.json", "hello-rpi4.img", "notes.txt",
            ])
        let outputs = try BuildOutputs.load(layout.prefix)
        #expect(outputs.formats == [.raw])
        try outputs.verify(.raw)
        #expect(try String(contentsOfFile: layout.path(.diskRaw), encoding: .utf8) == "new disk-raw")
    }

    @Test func aCommitThatFailsHalfwayLeavesNoManifestForAMixedSet() async throws {
        let dir = try TempDir("commit-fail")
        defer { dir.cleanup() }
        let layout = ArtifactLayout(directory: dir.path, name: "hello", board: "x86_64-efi")
        let first = try await OutputStaging.open(layout: layout)
        try first.commit(Self.manifest(try Self.stage(first, [.diskRaw, .bmap], text: "old "), formats: [.raw]))

        let second = try await OutputStaging.open(layout: layout)
        var records = try Self.stage(second, [.diskRaw], text: "new ")
        // The bmap is listed but was never written: its rename fails after the image moved in.
        records.append(.init(name: layout.fileName(.bmap), role: .bmap, size: 3, sha256: ""))
        #expect(throws: Builder.Error.self) { try second.commit(Self.manifest(records, formats: [.raw])) }
        second.abort()
        // The new image sits beside the old bmap, but no manifest vouches for them.
        #expect(try String(contentsOfFile: layout.path(.diskRaw), encoding: .utf8) == "new disk-raw")
        #expect(!FileManager.default.fileExists(atPath: layout.path(.manifest)))
        #expect(throws: BuildOutputs.Error.self) { try BuildOutputs.load(layout.prefix) }
        #expect(!dir.listing.contains { $0.hasPrefix(".ingot-") })
    }

    @Test func aFailedBuildRemovesEveryDirectoryItCreated() async throws {
        let dir = try TempDir("created")
        defer { dir.cleanup() }
        let layout = ArtifactLayout(directory: dir.path + "/new/a/b/out", name: "hello", board: "rpi3")
        let staging = try await OutputStaging.open(layout: layout)
        _ = try Self.stage(staging, [.kernel], text: "x")
        #expect(FileManager.default.fileExists(atPath: staging.directory))
        staging.abort()
        #expect(dir.listing.isEmpty, "left: \(dir.listing)")
        // A directory that existed before stays, even when empty.
        try FileManager.default.createDirectory(atPath: dir.path + "/kept", withIntermediateDirectories: false)
        let again = try await OutputStaging.open(
            layout: ArtifactLayout(directory: dir.path + "/kept/o", name: "hello", board: "rpi3"))
        again.abort()
        #expect(dir.listing == ["kept"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/kept").isEmpty)
    }

    @Test func anOutputPathThroughAFileIsRefused() async throws {
        let dir = try TempDir("notdir")
        defer { dir.cleanup() }
        let file = try dir.write("plain", [1])
        await #expect(throws: Builder.Error.outputNotDirectory(path: file + "/a/out", blocking: file)) {
            _ = try await OutputStaging.open(
                layout: ArtifactLayout(directory: file + "/a/out", name: "hello", board: "rpi3"))
        }
        #expect(dir.listing == ["plain"])
    }

    /// A PID no process has now (scanning down from the top of the PID space).
    static func deadPID() -> Int32 {
        var pid: Int32 = 4_000_000
        while kill(pid, 0) == 0 || errno != ESRCH { pid -= 1 }
        return pid
    }

    @Test func leftoversOfDeadBuildsAreRemoved() async throws {
        let dir = try TempDir("leftovers")
        defer { dir.cleanup() }
        let dead = dir.path + "/.ingot-staging-hello-rpi3-\(Self.deadPID())"
        let live = dir.path + "/.ingot-staging-other-rpi3-\(getpid())"
        for staging in [dead, live] {
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: false)
            try Data(count: 4096).write(to: URL(fileURLWithPath: staging + "/hello-rpi3.img"))
        }
        try dir.write(".ingot-lock-old-rpi3", Array("12345\n".utf8))  // nobody holds it
        let layout = ArtifactLayout(directory: dir.path, name: "hello", board: "x86_64-efi")
        let staging = try await OutputStaging.open(layout: layout)
        #expect(!FileManager.default.fileExists(atPath: dead))
        #expect(FileManager.default.fileExists(atPath: live))
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/.ingot-lock-old-rpi3"))
        staging.abort()
        #expect(dir.listing == [(live as NSString).lastPathComponent])
    }

    @Test func aSecondBuildOfThePrefixWaitsForTheFirst() async throws {
        let dir = try TempDir("lock-wait")
        defer { dir.cleanup() }
        let layout = ArtifactLayout(directory: dir.path, name: "hello", board: "rpi3")
        let first = try await OutputStaging.open(layout: layout)
        let lockFile = OutputLock.path(directory: dir.path, base: layout.base)
        #expect(OutputLock.isHeld(path: lockFile))
        #expect(try String(contentsOfFile: lockFile, encoding: .utf8) == "\(getpid())\n")

        let said = Messages()
        let second = Task { try await OutputStaging.open(layout: layout) { said.append($0) } }
        // The second build announces that it waits and does not get in while the first holds the prefix.
        for _ in 0..<100 where said.all.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        #expect(said.all.count == 1)
        #expect(said.all.first?.contains("waiting for process \(getpid())") == true)
        try await Task.sleep(for: .milliseconds(500))
        let staged = dir.listing.filter { $0.hasPrefix(".ingot-staging-") }
        #expect(staged.count == 1, "\(staged)")

        try first.commit(Self.manifest(try Self.stage(first, [.kernel], text: "one "), formats: [.kernelInitrd]))
        let then = try await second.value
        #expect(OutputLock.isHeld(path: lockFile))
        then.abort()
        #expect(!FileManager.default.fileExists(atPath: lockFile))
        #expect(dir.listing == ["hello-rpi3-kernel", "hello-rpi3.manifest.json"])
        // Another prefix in the same directory never waits.
        let other = try await OutputStaging.open(
            layout: ArtifactLayout(directory: dir.path, name: "hello", board: "rpi4")
        ) { said.append($0) }
        other.abort()
        #expect(said.all.count == 1)
    }
}

/// Messages collected from another task.
final class Messages: Sendable {
    private let items = Mutex<[String]>([])
    func append(_ text: String) { items.withLock { $0.append(text) } }
    var all: [String] { items.withLock { $0 } }
}
