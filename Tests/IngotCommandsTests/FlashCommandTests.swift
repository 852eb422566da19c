// `ingot flash` and `ingot devices` end to end, as a user runs them, against loop devices the
// test attaches (root; under CI=true these run and fail rather than skip): refusals that leave
// the device untouched, the typed identity of a fixed disk, JSON progress, several devices with
// one failing, and the whole path — build an image, flash it, boot the device under QEMU.

import Foundation
import IngotTestSupport
import Testing

/// Loop devices and small process helpers for the flash command tests.
enum FlashHost {
    static let enabled =
        ProcessInfo.processInfo.environment["CI"] == "true"
        || (getuid() == 0 && FileManager.default.fileExists(atPath: "/dev/loop-control"))

    struct Output {
        var status: Int32
        var out: String
        var err: String
        var all: String { out + err }
    }

    /// Runs argv with `input` on stdin, with the repository's boards and the shared cache.
    static func run(_ argv: [String], input: String = "", cwd: String? = nil) throws -> Output {
        let r = try Command.run(
            argv[0], Array(argv.dropFirst()), cwd: cwd, environment: Command.ingotEnvironment(),
            input: .bytes(Array(input.utf8)))
        return Output(status: r.status, out: r.stdout, err: r.stderr)
    }

    static func ingot(_ args: [String], input: String = "") throws -> Output {
        try run([E2E.binary] + args, input: input, cwd: E2E.root)
    }

    @discardableResult
    static func sh(_ script: String) throws -> String {
        let r = try run(["/bin/sh", "-c", script])
        guard r.status == 0 else { throw Failure(description: "`\(script)`: \(r.all)") }
        return r.out
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// sha256 of the first `bytes` of `path`.
    static func digest(_ path: String, bytes: Int64) throws -> String {
        try sh("head -c \(bytes) \(path) | sha256sum | cut -d' ' -f1").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A loop device over a sparse file of `size` bytes (or `file`), detached on deinit.
final class FlashLoop {
    let path: String
    let backing: String
    init(_ backing: String, size: Int64? = nil, readOnly: Bool = false) throws {
        if let size {
            _ = FileManager.default.createFile(atPath: backing, contents: nil)
            truncate(backing, off_t(size))
        }
        self.backing = backing
        path = try FlashHost.sh("losetup -f --show \(readOnly ? "-r " : "")\(backing)").trimmingCharacters(
            in: .whitespacesAndNewlines)
    }
    var name: String { (path as NSString).lastPathComponent }
    var token: String {
        let seq = (try? String(contentsOfFile: "/sys/block/\(name)/diskseq", encoding: .utf8)) ?? ""
        return "\(name):diskseq\(seq.trimmingCharacters(in: .whitespacesAndNewlines))"
    }
    deinit { _ = try? FlashHost.run(["losetup", "-d", path]) }
}

@Suite(.serialized, .enabled(if: FlashHost.enabled)) struct FlashCommandTests {
    static let size: Int64 = 24 << 20

    /// A 24 MiB GPT image with random data in two places and bmaptool's bmap beside it.
    func image(_ dir: String) throws -> String {
        let img = dir + "/card.img"
        try FlashHost.sh(
            """
            truncate -s \(Self.size) \(img) && printf 'label: gpt\\n,8M,U\\n,\\n' | sfdisk -q \(img) && \
            dd if=/dev/urandom of=\(img) bs=64K seek=40 count=8 conv=notrunc status=none && \
            dd if=/dev/urandom of=\(img) bs=64K seek=300 count=3 conv=notrunc status=none && \
            bmaptool create -o \(img).bmap \(img)
            """)
        return img
    }

    @Test func refusalsLeaveTheDeviceUntouched() throws {
        let dir = try E2E.tempDir("flash-refuse")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let img = try image(dir)
        let loop = try FlashLoop(dir + "/dev", size: Self.size)
        let small = try FlashLoop(dir + "/small", size: 8 << 20)
        let before = try FlashHost.digest(loop.path, bytes: Self.size)

        // A loop device is a fixed disk: refused without --allow-fixed, even with --yes.
        var r = try FlashHost.ingot(["flash", img, loop.path, "--yes"])
        #expect(r.status != 0)
        #expect(r.err.contains("is a fixed disk") && r.err.contains("nothing was written"), "\(r.all)")
        // --allow-fixed with a wrong identity typed at the prompt.
        r = try FlashHost.ingot(["flash", img, loop.path, "--allow-fixed"], input: "\(loop.name)\n")
        #expect(r.status != 0)
        #expect(
            r.err.contains("Type its identity '\(loop.token)'") && r.err.contains("identity not confirmed"), "\(r.all)")
        // Smaller than the image: refused, with the sizes.
        r = try FlashHost.ingot(["flash", img, small.path, "--allow-fixed", "--confirm-identity", small.token])
        #expect(
            r.status != 0 && r.err.contains("holds \(8 << 20) bytes") && r.err.contains("use a larger card"), "\(r.all)"
        )
        // A regular file without --to-file.
        r = try FlashHost.ingot(["flash", img, dir + "/out.img", "--yes"])
        #expect(r.status != 0 && r.err.contains("--to-file"), "\(r.all)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out.img"))
        // A dry run prints the plan and writes nothing.
        r = try FlashHost.ingot([
            "flash", img, loop.path, "--allow-fixed", "--confirm-identity", loop.token, "--dry-run",
        ])
        #expect(r.status == 0, "\(r.all)")
        #expect(
            r.out.contains("bmap: \(img).bmap") && r.out.contains("pinned:") && r.out.contains(loop.token), "\(r.out)")
        #expect(try FlashHost.digest(loop.path, bytes: Self.size) == before)
        // A read-only device.
        let ro = try FlashLoop(dir + "/dev", readOnly: true)
        r = try FlashHost.ingot(["flash", img, ro.path, "--allow-fixed", "--confirm-identity", ro.token])
        #expect(r.status != 0 && r.err.contains("is read-only"), "\(r.all)")
    }

    @Test func theTypedIdentityConfirmsAFixedDiskAndJSONProgressReportsIt() throws {
        let dir = try E2E.tempDir("flash-json")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let img = try image(dir)
        let loop = try FlashLoop(dir + "/dev", size: Self.size + (1 << 20))
        let r = try FlashHost.ingot(
            ["flash", img, loop.path, "--allow-fixed", "--progress=json"], input: loop.token + "\n")
        #expect(r.status == 0, "\(r.all)")
        let lines = r.out.split(separator: "\n").map(String.init)
        let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == lines.count && !lines.isEmpty, "every stdout line is one JSON object: \(r.out)")
        let events = objects.compactMap { $0["event"] as? String }
        #expect(
            events.contains("write-done") && events.contains("verify-done") && events.last == "summary", "\(events)")
        let summary = try #require(objects.last)
        #expect(summary["succeeded"] as? Bool == true)
        let target = try #require((summary["targets"] as? [[String: Any]])?.first)
        #expect(target["path"] as? String == loop.path)
        #expect((target["written"] as? Int).map(Int64.init) == (summary["mappedBytes"] as? Int).map(Int64.init))
        #expect((target["verified"] as? Int) == (target["written"] as? Int))
        #expect(try FlashHost.digest(loop.path, bytes: Self.size) == FlashHost.digest(img, bytes: Self.size))
        // --verify-only agrees, and `ingot devices --all --json` lists the loop with its identity.
        let v = try FlashHost.ingot(["flash", "--verify-only", img, loop.path])
        #expect(v.status == 0 && v.out.contains("OK   \(loop.path)"), "\(v.all)")
        let d = try FlashHost.ingot(["devices", "--all", "--json"])
        let list = try #require(
            try JSONSerialization.jsonObject(with: Data(d.out.utf8)) as? [[String: Any]], "\(d.all)")
        let entry = try #require(list.first { $0["path"] as? String == loop.path })
        #expect(entry["identity"] as? String == loop.token)
        #expect(entry["bus"] as? String == "loop")
        #expect(entry["partitionTable"] as? String == "gpt")
        #expect(entry["removableMedia"] as? Bool == false)
        // Removable media only by default: the loop is not offered.
        let plain = try FlashHost.ingot(["devices"])
        #expect(plain.status == 0 && !plain.out.contains(loop.path), "\(plain.all)")
    }

    @Test func severalDevicesFromOneReadAndAFailingOneIsDropped() throws {
        let dir = try E2E.tempDir("flash-multi")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let img = try image(dir)
        try FlashHost.sh("xz -k -q -T1 \(img)")
        let a = try FlashLoop(dir + "/a", size: Self.size)
        let b = try FlashLoop(dir + "/b", size: Self.size)
        let r = try FlashHost.ingot([
            "flash", img + ".xz", a.path, b.path, "--allow-fixed", "--confirm-identity", a.token, "--confirm-identity",
            b.token,
            "--zero-unmapped", "--fault-after", "\(b.path)=100000",
        ])
        #expect(r.status == 1, "\(r.all)")
        #expect(
            r.out.contains("OK   \(a.path)") && r.out.contains("FAIL \(b.path)") && r.out.contains("1 of 2 target(s)"),
            "\(r.all)")
        #expect(try FlashHost.digest(a.path, bytes: Self.size) == FlashHost.digest(img, bytes: Self.size))
        // A truncated download: clear error, non-zero exit.
        try FlashHost.sh("head -c 300000 \(img).xz > \(dir)/cut.img.xz && cp \(img).bmap \(dir)/cut.img.bmap")
        let t = try FlashHost.ingot([
            "flash", dir + "/cut.img.xz", a.path, "--allow-fixed", "--confirm-identity", a.token,
        ])
        #expect(t.status == 1 && t.all.contains("corrupt or truncated"), "\(t.all)")
    }

    /// Build → flash → boot the device itself (read-only snapshot): the card Ingot wrote boots.
    @Test func flashedDeviceBootsToReady() throws {
        let dir = try E2E.tempDir("flash-boot")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let board = "x86_64-efi"
        let build = try E2E.ingot([
            "build", "examples/hello.yml", "--board", board, "--format", "raw", "-o", dir + "/o",
        ])
        try #require(build.status == 0, "\(build.all)")
        let img = "\(dir)/o/hello-\(board).img"
        let size = Int64((try FileManager.default.attributesOfItem(atPath: img)[.size] as? NSNumber)?.int64Value ?? 0)
        let loop = try FlashLoop(dir + "/card", size: size + (16 << 20))
        let flash = try FlashHost.ingot(["flash", img, loop.path, "--allow-fixed", "--confirm-identity", loop.token])
        #expect(flash.status == 0, "\(flash.all)")
        #expect(flash.out.contains("gpt table"), "\(flash.out)")
        let boot = try E2E.ingot(["test", loop.path, "--board", board])
        #expect(boot.status == 0, "\(boot.all)")
        #expect(boot.stdout.contains("PASS \(loop.name) on \(board)"), "\(boot.all)")
        // The boot ran on a snapshot: the device still verifies against the image.
        let verify = try FlashHost.ingot(["flash", "--verify-only", img, loop.path])
        #expect(verify.status == 0, "\(verify.all)")
    }
}
