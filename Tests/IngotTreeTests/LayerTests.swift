// Layer composition: order, OCI whiteouts and opaque dirs, links, devices, owners, and refusal
// of entries or links that escape the root. Layers are written by the test with libarchive.
import Foundation
import Testing

@testable import IngotTree

struct TarEntry {
    var path: String
    var mode: UInt32 = 0o100644
    var data: [UInt8] = []
    var uid: UInt32 = 0
    var gid: UInt32 = 0
    var symlink: String? = nil
    var hardlink: String? = nil
    var rdev: (UInt32, UInt32)? = nil
}

func makeTar(_ entries: [TarEntry], compression: ArchiveWriter.Compression = .gzip) throws -> String {
    let path = NSTemporaryDirectory() + "ingot-layer-\(UUID().uuidString).tar"
    let w = try ArchiveWriter(path: path, format: .paxRestricted, compression: compression)
    for e in entries {
        try w.writeHeader(
            path: e.path, mode: e.mode, uid: e.uid, gid: e.gid, mtime: 1_700_000_000,
            size: e.hardlink == nil ? Int64(e.data.count) : 0, symlink: e.symlink, hardlink: e.hardlink, rdev: e.rdev)
        if !e.data.isEmpty && e.hardlink == nil { try w.writeData(e.data) }
    }
    try w.close()
    return path
}

@Suite struct LayerTests {
    @Test func layersApplyInOrderWithWhiteouts() throws {
        let big = (0..<100_000).map { UInt8($0 % 251) }
        let lower = try makeTar([
            TarEntry(path: "etc/", mode: 0o040755),
            TarEntry(path: "etc/old.conf", data: Array("old".utf8)),
            TarEntry(path: "etc/keep.conf", data: Array("keep".utf8)),
            TarEntry(path: "opt/app/", mode: 0o040755),
            TarEntry(path: "opt/app/a", data: Array("a".utf8)),
            TarEntry(path: "opt/app/b", data: big, uid: 1000, gid: 1000),
            TarEntry(path: "bin/busybox", mode: 0o104755, data: Array("bb".utf8)),
            TarEntry(path: "bin/sh", hardlink: "bin/busybox"),
            TarEntry(path: "dev/null", mode: 0o020666, rdev: (1, 3)),
            TarEntry(path: "lib", mode: 0o120777, symlink: "usr/lib"),
        ])
        let upper = try makeTar(
            [
                TarEntry(path: "etc/.wh.old.conf"),
                TarEntry(path: "opt/app/.wh..wh..opq"),
                TarEntry(path: "opt/app/c", data: Array("c".utf8)),
                TarEntry(path: "etc/keep.conf", data: Array("changed".utf8), uid: 5, gid: 6),
            ], compression: .zstd)
        defer {
            unlink(lower)
            unlink(upper)
        }
        let tree = try FileTree()
        try tree.applyLayer(archive: lower)
        #expect(try tree.bytes(of: #require(tree.lookup("/opt/app/b")?.content)) == big)
        try tree.applyLayer(archive: upper)

        #expect(tree.lookup("/etc/old.conf") == nil)
        let keep = try #require(tree.lookup("/etc/keep.conf"))
        #expect(try tree.bytes(of: #require(keep.content)) == Array("changed".utf8))
        #expect(keep.uid == 5 && keep.gid == 6)
        #expect(tree.lookup("/opt/app")!.children.keys.sorted() == ["c"])
        let sh = try #require(tree.lookup("/bin/sh"))
        #expect(sh === tree.lookup("/bin/busybox"))
        #expect(sh.permissions == 0o4755)
        guard case .characterDevice(1, 3) = tree.lookup("/dev/null")!.kind else {
            Issue.record("device lost")
            return
        }
        guard case .symlink("usr/lib") = tree.lookup("/lib")!.kind else {
            Issue.record("symlink lost")
            return
        }
    }

    @Test func entriesEscapingTheRootAreRefused() throws {
        for bad in [
            TarEntry(path: "../../etc/passwd", data: Array("x".utf8)),
            TarEntry(path: "a/../../evil", data: Array("x".utf8)),
            TarEntry(path: "usr/bin/up", mode: 0o120777, symlink: "../../../../etc"),
            TarEntry(path: "x", hardlink: "../outside"),
        ] {
            let tar = try makeTar([TarEntry(path: "usr/bin/", mode: 0o040755), bad])
            defer { unlink(tar) }
            let tree = try FileTree()
            #expect {
                try tree.applyLayer(archive: tar, label: "bad-layer.tar")
            } throws: { error in
                let text = "\(error)"
                return text.contains("bad-layer.tar") && text.contains("outside the image root")
            }
        }
    }

    @Test func truncatedArchiveNamesTheFile() throws {
        let tar = try makeTar([TarEntry(path: "big", data: [UInt8](repeating: 1, count: 300_000))], compression: .none)
        defer { unlink(tar) }
        let h = try #require(FileHandle(forUpdatingAtPath: tar))
        try h.truncate(atOffset: 100_000)
        try h.close()
        #expect {
            try FileTree().applyLayer(archive: tar)
        } throws: { "\($0)".contains(tar) && "\($0)".contains("truncated") }
    }

    @Test func directoryLayersTakeOwnersFromTheSpecNotTheHost() throws {
        let dir = NSTemporaryDirectory() + "ingot-dir-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        try Data("hi".utf8).write(to: URL(fileURLWithPath: dir + "/sub/f"))
        chown(dir + "/sub/f", 1234, 1234)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: "sub/f")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tree = try FileTree()
        try tree.applyDirectory(dir, under: "/srv", owner: OwnerOverride(uid: 7, gid: 8))
        let f = try #require(tree.lookup("/srv/sub/f"))
        #expect(f.uid == 7 && f.gid == 8)
        #expect(try tree.bytes(of: #require(f.content)) == Array("hi".utf8))
        guard case .symlink("sub/f") = tree.lookup("/srv/link")!.kind else {
            Issue.record("symlink lost")
            return
        }
    }
}

/// Uncompressed tar layers are read in place (no copy into the spool); compressed ones are
/// spooled; a tar changed after composing is refused rather than read as other bytes.
@Suite struct InPlaceLayerTests {
    @Test func plainTarContentIsReadInPlaceAndChecked() throws {
        let big = (0..<50_000).map { UInt8(($0 * 7) % 256) }
        let plain = try makeTar([TarEntry(path: "opt/big", data: big)], compression: .none)
        let gz = try makeTar([TarEntry(path: "opt/big", data: big)], compression: .gzip)
        defer {
            unlink(plain)
            unlink(gz)
        }
        let t1 = try FileTree()
        try t1.applyLayer(archive: plain)
        #expect(try t1.bytes(of: #require(t1.lookup("/opt/big")?.content)) == big)
        #expect(t1.spool.size == 0)

        let t2 = try FileTree()
        try t2.applyLayer(archive: gz)
        #expect(try t2.bytes(of: #require(t2.lookup("/opt/big")?.content)) == big)
        #expect(t2.spool.size == Int64(big.count))

        // Changing the source tar after composing must not silently yield other bytes.
        let h = try #require(FileHandle(forWritingAtPath: plain))
        try h.seekToEnd()
        h.write(Data([1, 2, 3]))
        try h.close()
        #expect(throws: (any Error).self) { try t1.bytes(of: #require(t1.lookup("/opt/big")?.content)) }
    }
}
