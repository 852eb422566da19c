// The firmware lock: stable encoding, lookups (incl. metapackages), the shipped
// firmware/lock.json checked against apt's metadata, and the generator for it.

import Foundation
import IngotSpec
import Testing

@testable import IngotSources

/// The repository root (this file is Tests/IngotSourcesTests/LockTests.swift).
let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// What the boards use; `ingot lock` pins the same list.
let firmwarePackages: [(name: String, arch: Architecture)] = [
    ("busybox-static", .amd64), ("busybox-static", .arm64),
    ("linux-image-amd64", .amd64), ("linux-image-arm64", .arm64),
    ("systemd-boot-efi", .amd64), ("systemd-boot-efi", .arm64),
    ("syslinux-common", .amd64), ("syslinux", .amd64),
    ("u-boot-rpi", .arm64), ("raspi-firmware", .arm64),
]

@Suite struct LockTests {
    @Test func encodingIsSortedAndStable() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let a = LockFile.Entry(
            name: "zz", arch: "arm64", version: "1", sha256: String(repeating: "1", count: 64), filename: "zz.deb")
        let b = LockFile.Entry(
            name: "linux-image-6.1.0-9-arm64", arch: "arm64", version: "6.1", sha256: String(repeating: "2", count: 64),
            filename: "l.deb", resolvedFrom: "linux-image-arm64")
        let c = LockFile.Entry(
            name: "aa", arch: "amd64", version: "2", sha256: String(repeating: "3", count: 64), filename: "aa.deb")
        let lock = LockFile(packages: [a, b, c])
        #expect(lock.packages.map(\.name) == ["aa", "linux-image-6.1.0-9-arm64", "zz"])
        let path = dir.path + "/lock.json"
        try lock.save(path: path)
        let loaded = try LockFile.load(path: path)
        #expect(loaded == lock)
        try loaded.save(path: dir.path + "/again.json")
        #expect(
            FileManager.default.contents(atPath: path) == FileManager.default.contents(atPath: dir.path + "/again.json")
        )
        let text = String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
        #expect(text.contains("\"resolvedFrom\" : \"linux-image-arm64\""))
        #expect(lock.entry(name: "linux-image-arm64", arch: "arm64")?.name == "linux-image-6.1.0-9-arm64")
        #expect(lock.entry(name: "zz", arch: "amd64") == nil)
        try dir.write("bad.json", "{ not json")
        #expect { try LockFile.load(path: dir.path + "/bad.json") } throws: {
            "\($0)".contains("bad.json") && "\($0)".contains("ingot lock")
        }
    }

    @Test func shippedLockCoversTheBoards() throws {
        let lock = try LockFile.load(path: repoRoot + "/firmware/lock.json")
        for (name, arch) in firmwarePackages {
            #expect(lock.entry(name: name, arch: arch.debian) != nil, "\(name) \(arch) missing from firmware/lock.json")
        }
        for e in lock.packages { #expect((try? Digest(parsing: e.sha256)) != nil) }
        // The file on disk is exactly what save() writes (sorted, stable).
        #expect(try lock.encoded() == FileManager.default.contents(atPath: repoRoot + "/firmware/lock.json"))
    }

    @Test(.enabled(if: aptHasArm64)) func shippedLockMatchesAptMetadata() throws {
        let lock = try LockFile.load(path: repoRoot + "/firmware/lock.json")
        for e in lock.packages {
            var found = false
            for q in [e.arch, "all"] {
                let (rc, out) = try sh(["apt-cache", "show", "--no-all-versions", "\(e.name):\(q)=\(e.version)"])
                if rc == 0, let s = Debian.parseStanzas(out).first {
                    #expect(s["SHA256"] == e.sha256, "\(e.name) \(e.arch)")
                    found = true
                    break
                }
            }
            #expect(found, "\(e.name)=\(e.version) (\(e.arch)) is no longer known to apt")
        }
    }

    /// Regenerates firmware/lock.json: `INGOT_WRITE_LOCK=1 swift test --filter writeFirmwareLock`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["INGOT_WRITE_LOCK"] != nil))
    func writeFirmwareLock() async throws {
        let store = try ContentStore()
        let lock = try await LockFile.refresh(packages: firmwarePackages, store: store, logger: nil)
        try lock.save(path: repoRoot + "/firmware/lock.json")
        #expect(lock.packages.count == firmwarePackages.count)
    }
}
