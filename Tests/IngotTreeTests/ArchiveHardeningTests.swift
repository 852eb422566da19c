// Hostile layers (issue 12): a compressed layer whose integrity check fails (gzip's CRC was never
// checked), owners beyond 32 bits (cut to root), sparse entries (became 0-byte files), FIFOs and
// devices where files are expected (blocked or read forever), names no image can hold, a layer
// turning /etc into a file, and symlink loops. Fixtures are written by the test (libarchive, GNU
// tar, or tar headers by hand where no writer produces the hostile field).

import Foundation
import IngotTestSupport
import Testing

@testable import IngotTree

/// Runs a shell command; returns its status and combined output.
func sh(_ command: String) throws -> (Int32, String) {
    let r = try Command.run("/bin/sh", ["-c", command], mergeStandardError: true)
    return (r.status, r.stdout)
}

@Suite struct ArchiveHardeningTests {
    func scratch() throws -> String {
        let d = NSTemporaryDirectory() + "ingot-hostile-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    func flip(_ path: String, at offset: (Int) -> Int) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[offset(bytes.count)] ^= 0xFF
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    func expectLayerError(
        _ path: String, label: String, _ check: (String) -> Bool, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            let tree = try FileTree()
            try tree.applyLayer(archive: path, label: label)
            Issue.record("the damaged layer was applied", sourceLocation: sourceLocation)
        } catch {
            #expect(check("\(error)"), "\(error)", sourceLocation: sourceLocation)
        }
    }

    // Case 2: one flipped byte in a .tar.gz's data (gzip -t: crc error) changed the image silently.
    @Test func gzipCRCIsEnforcedInTheDataAndTheTrailer() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Random bytes do not compress: deflate stores them, so a flipped byte decodes cleanly
        // to a different byte and only the CRC can tell.
        let payload = (0..<300_000).map { _ in UInt8.random(in: 0...255) }
        let layer = try makeTar([TarEntry(path: "bin/payload", data: payload)], compression: .gzip)
        defer { unlink(layer) }
        for (name, where_) in [("middle", { (n: Int) in n / 2 }), ("trailer", { (n: Int) in n - 6 })] {
            let copy = dir + "/\(name).tar.gz"
            try FileManager.default.copyItem(atPath: layer, toPath: copy)
            try flip(copy, at: where_)
            let (status, output) = try sh("gzip -t '\(copy)'")
            #expect(status != 0 && output.contains("crc") || output.contains("length"), "fixture: \(output)")
            expectLayerError(copy, label: "tar ./\(name).tar.gz") {
                $0.hasPrefix("tar ./\(name).tar.gz") && ($0.contains("CRC-32 mismatch") || $0.contains("length"))
                    && $0.contains("integrity")
            }
        }
        // The undamaged layer still applies, byte for byte.
        let tree = try FileTree()
        try tree.applyLayer(archive: layer)
        #expect(try tree.bytes(of: #require(tree.lookup("/bin/payload")?.content)) == payload)
    }

    @Test func xzAndZstdChecksumsAreEnforcedToTheLastByte() throws {
        let payload = (0..<200_000).map { _ in UInt8.random(in: 0...255) }
        let plain = try makeTar([TarEntry(path: "bin/payload", data: payload)], compression: .none)
        defer { unlink(plain) }
        // The xz and zstd tools write a check (CRC64, XXH64) by default; libarchive's zstd writer
        // does not, and a stream without a check has nothing to enforce.
        for compression in ["xz", "zstd"] {
            let layer = plain + "." + compression
            let (status, output) = try sh("\(compression) -q -c '\(plain)' > '\(layer)'")
            #expect(status == 0, "\(output)")
            defer { unlink(layer) }
            // The stream's final check: xz's CRC64 sits 12+ bytes before the end (index, footer);
            // zstd's XXH64 is the frame's last 4 bytes. Flipping a data byte in the middle, too.
            for offset in [
                { (n: Int) in n / 2 }, compression == "zstd" ? { (n: Int) in n - 2 } : { (n: Int) in n - 40 },
            ] {
                let copy = layer + ".damaged"
                try? FileManager.default.removeItem(atPath: copy)
                try FileManager.default.copyItem(atPath: layer, toPath: copy)
                defer { unlink(copy) }
                try flip(copy, at: offset)
                expectLayerError(copy, label: "layer \(compression)") { $0.hasPrefix("layer \(compression)") }
            }
        }
    }

    // Case 3: uid 2^40 with mode 4755 became a setuid-root file (owner cut to 32 bits).
    @Test func ownersBeyond32BitsAreRefusedNamingTheEntry() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (key, value) in [("uid", "1099511627776"), ("gid", "4294967296"), ("uid", "4294967295")] {
            let path = dir + "/owner.tar"
            try PaxTar.file(path, name: "bin/su-evil", mode: 0o4755, data: Array("evil".utf8), pax: [(key, value)])
            let (_, listing) = try sh("tar tvf '\(path)' --numeric-owner")
            #expect(listing.contains(value), "fixture: \(listing)")
            expectLayerError(path, label: "tar ./owner.tar") {
                $0.contains("bin/su-evil") && $0.contains("\(key) \(value)") && $0.contains("32 bits")
            }
        }
        // Large but valid owners are kept exactly.
        let ok = dir + "/ok.tar"
        try PaxTar.file(
            ok, name: "bin/tool", mode: 0o755, data: Array("x".utf8), pax: [("uid", "4294967294"), ("gid", "100000")])
        let tree = try FileTree()
        try tree.applyLayer(archive: ok)
        let node = try #require(tree.lookup("/bin/tool"))
        #expect(node.uid == 4_294_967_294 && node.gid == 100_000)
    }

    // Case 4: a GNU sparse entry that is all hole (10 GiB apparent) became a 0-byte file.
    @Test(arguments: ["gnu", "pax"])
    func sparseEntriesKeepTheirApparentSizeAndData(format: String) throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, output) = try sh(
            """
            cd '\(dir)' && mkdir src && truncate -s 1G src/hole && printf 'tail' | dd of=src/mid bs=1 seek=3000000 conv=notrunc 2>/dev/null \
            && truncate -s 5000000 src/mid && tar --sparse --format=\(format) -cf sparse.tar -C src . && ls -l sparse.tar
            """)
        #expect(status == 0, "\(output)")
        let tree = try FileTree()
        try tree.applyLayer(archive: dir + "/sparse.tar")
        let hole = try #require(tree.lookup("/hole")?.content)
        #expect(hole.size == 1 << 30)
        #expect(try tree.bytes(of: hole, offset: (1 << 30) - 4096, count: 4096) == [UInt8](repeating: 0, count: 4096))
        let mid = try #require(tree.lookup("/mid")?.content)
        #expect(mid.size == 5_000_000)
        #expect(try tree.bytes(of: mid, offset: 3_000_000, count: 4) == Array("tail".utf8))
        #expect(try tree.bytes(of: mid, offset: 0, count: 16) == [UInt8](repeating: 0, count: 16))
        #expect(try tree.bytes(of: mid, offset: 3_000_004, count: 100) == [UInt8](repeating: 0, count: 100))
        // The spool stays sparse: a 1 GiB hole is not written out.
        #expect(tree.spool.size >= 1 << 30)
    }

    // Case 13: a FIFO as a layer blocked libarchive's open forever.
    @Test func fifoLayerFailsAtOnce() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(mkfifo(dir + "/layer.tar", 0o644) == 0)
        let started = Date()
        expectLayerError(dir + "/layer.tar", label: "tar ./layer.tar") { $0.contains("FIFO") && $0.contains("regular") }
        #expect(Date().timeIntervalSince(started) < 5)
    }

    // Cases 10 and 13: host files for `files: source` — devices never end, FIFOs block.
    @Test func hostSourcesMustBeRegularFiles() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(mkfifo(dir + "/fifo", 0o644) == 0)
        #expect(symlink("/dev/zero", dir + "/zero") == 0)
        #expect(symlink("loop-b", dir + "/loop-a") == 0 && symlink("loop-a", dir + "/loop-b") == 0)
        let tree = try FileTree()
        for (path, what) in [
            ("/dev/zero", "character device"), (dir + "/zero", "character device"), (dir + "/fifo", "FIFO"),
            (dir + "/loop-a", "symlink loop"),
        ] {
            let started = Date()
            do {
                _ = try tree.spoolHostFile(path, layer: "files")
                Issue.record("\(path) was read")
            } catch {
                #expect("\(error)".contains(what), "\(error)")
            }
            #expect(Date().timeIntervalSince(started) < 5)
        }
        _ = FileManager.default.createFile(atPath: dir + "/ok", contents: Data(repeating: 7, count: 10_000))
        #expect(
            try tree.bytes(of: tree.spoolHostFile(dir + "/ok", layer: "files")) == [UInt8](repeating: 7, count: 10_000))
    }

    // Case 21: a `dir:` that is a symlink to a directory failed with "/: path is empty or not representable".
    @Test func directoryLayerThroughASymlinkIsFollowedAtTheTop() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/real/etc", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir + "/real/etc/x", contents: Data("x".utf8))
        #expect(symlink("real", dir + "/overlay") == 0)
        #expect(symlink("/etc/shadow", dir + "/real/etc/inner-link") == 0)
        let tree = try FileTree()
        try tree.applyDirectory(dir + "/overlay", label: "dir ./overlay")
        #expect(try tree.bytes(of: #require(tree.lookup("/etc/x")?.content)) == Array("x".utf8))
        // Links inside stay links (never followed out of the tree).
        guard case .symlink(let target) = try #require(tree.lookup("/etc/inner-link")).kind else {
            Issue.record("inner link was followed")
            return
        }
        #expect(target == "/etc/shadow")
    }

    // Case 21: a layer that turns a populated /etc into a regular file.
    @Test func layerTurningEtcIntoAFileIsRefused() throws {
        let lower = try makeTar([
            TarEntry(path: "etc/", mode: 0o040755), TarEntry(path: "etc/passwd", data: Array("root".utf8)),
        ])
        let upper = try makeTar([TarEntry(path: "etc", data: Array("not a dir".utf8))])
        let merged = try makeTar([TarEntry(path: "bin", mode: 0o120777, symlink: "usr/bin")])
        defer { for path in [lower, upper, merged] { unlink(path) } }
        let tree = try FileTree()
        try tree.applyLayer(archive: lower)
        do {
            try tree.applyLayer(archive: upper, label: "tar ./etc-file.tar")
            Issue.record("/etc became a file")
        } catch {
            #expect(
                "\(error)".contains("tar ./etc-file.tar") && "\(error)".contains("/etc")
                    && "\(error)".contains("regular file"), "\(error)")
        }
        // Merged-/usr layers replacing a directory by a symlink stay allowed.
        try tree.addFile("/bin/busybox", text: "bb")
        try tree.applyLayer(archive: merged)
        #expect(tree.lookup("/bin/busybox") == nil)
    }

    // Case 21: names squashfs and Linux cannot hold, and symlink loops inside the image.
    @Test func overlongNamesAndLoopsAreNamedErrors() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let long = String(repeating: "n", count: 300)
        try PaxTar.file(dir + "/long.tar", name: "x", mode: 0o644, data: [1], pax: [("path", "etc/\(long)")])
        expectLayerError(dir + "/long.tar", label: "tar ./long.tar") { $0.contains("300 bytes") && $0.contains("255") }
        let tree = try FileTree()
        try tree.addSymlink("/a", target: "b")
        try tree.addSymlink("/b", target: "a")
        do {
            try tree.addFile("/a/x", text: "x")
            Issue.record("a file was placed through a symlink loop")
        } catch {
            #expect("\(error)".contains("loop"), "\(error)")
        }
    }

    @Test func spoolErrorsNameTheirDirectory() throws {
        let spool = try ContentSpool(directory: NSTemporaryDirectory())
        #expect(spool.directory == NSTemporaryDirectory())
        do {
            _ = try ContentSpool(directory: "/nonexistent-ingot-dir")
            Issue.record("a spool in a missing directory")
        } catch {
            #expect("\(error)".contains("/nonexistent-ingot-dir"), "\(error)")
        }
    }
}
