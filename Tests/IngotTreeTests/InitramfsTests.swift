// Initramfs and init: the cpio is read back by libarchive and by GNU cpio; the init script is
// syntax-checked by busybox and its marker lines are verified against an independent CRC-32.
import Foundation
import IngotTestSupport
import Testing

@testable import IngotTree

func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
    }
    return ~crc
}

func shell(_ command: String) throws -> (status: Int32, output: String) {
    let result = try Command.run("/bin/sh", ["-c", command], mergeStandardError: true)
    return (result.status, result.stdout)
}

@Suite struct InitramfsTests {
    func sampleTree() throws -> FileTree {
        let tree = try FileTree()
        try tree.addFile("/bin/busybox", bytes: [UInt8](repeating: 0x42, count: 50_000), permissions: 0o755)
        try tree.addHardlink("/bin/ls", target: "/bin/busybox")
        try tree.addFile("/etc/motd", text: "hello\n", uid: 1000, gid: 100)
        try tree.addSymlink("/lib", target: "usr/lib")
        try tree.insert(Node(kind: .characterDevice(major: 5, minor: 1), permissions: 0o600), at: "/dev/console")
        tree.clampTimes(to: 1_600_000_000)
        return tree
    }

    @Test func cpioReadsBackWithLibarchiveAndGNUCpio() throws {
        let tree = try sampleTree()
        let out = NSTemporaryDirectory() + "ingot-initrd-\(UUID().uuidString).img"
        defer { unlink(out) }
        let report = try InitramfsWriter.write(tree: tree, to: out)
        #expect(report.entries == 9)

        let reader = try ArchiveReader(path: out)
        var seen: [String: ArchiveEntry] = [:]
        var busybox: [UInt8] = []
        while let e = try reader.next() {
            seen[e.path] = e
            if e.path == "bin/busybox" { busybox = try reader.readAll() } else { try reader.skipData() }
        }
        #expect(
            Set(seen.keys) == [".", "bin", "bin/busybox", "bin/ls", "etc", "etc/motd", "lib", "dev", "dev/console"])
        #expect(busybox == [UInt8](repeating: 0x42, count: 50_000))
        #expect(seen["etc/motd"]?.uid == 1000)
        #expect(seen["dev/console"]?.kind == .characterDevice)
        #expect(seen["lib"]?.linkTarget == "usr/lib")

        // GNU cpio's own listing: modes, owners, the device and the link target.
        let (status, listing) = try shell("zcat \(out) | cpio -tv --quiet --numeric-uid-gid 2>&1")
        #expect(status == 0)
        #expect(listing.contains("crw-------") && listing.contains("dev/console"))
        #expect(listing.contains("lib -> usr/lib"))
        #expect(listing.range(of: #"-rw-r--r-- +1 1000 +100 +6 .* etc/motd"#, options: .regularExpression) != nil)

        // Deterministic: same tree, same bytes.
        let again = out + ".2"
        defer { unlink(again) }
        try InitramfsWriter.write(tree: tree, to: again)
        #expect(FileManager.default.contentsEqual(atPath: out, andPath: again))
    }

    @Test func initScriptParsesAndMarkersVerify() throws {
        let plan = InitPlan(
            name: "hello", hostname: "hello",
            modules: ["/lib/modules/6.1/kernel/fs/squashfs/squashfs.ko"],
            steps: [
                .init(
                    name: "greet", phase: .onboot, root: "/containers/onboot/000-greet/rootfs",
                    command: ["/bin/busybox", "sh", "-c", "echo it's \"quoted\""], env: ["A=b c"]),
                .init(
                    name: "web", phase: .service, root: "/containers/services/web/rootfs",
                    command: ["/bin/busybox", "httpd", "-f"], cwd: "/www", newNamespaces: [.pid, .ipc],
                    binds: [.init(source: "/var/www", target: "/www", readOnly: true)]),
                .init(
                    name: "bye", phase: .onshutdown, root: "/containers/onshutdown/000-bye/rootfs",
                    command: ["/bin/busybox", "true"]),
            ],
            dataMount: "/var/lib/hello")
        let script = plan.renderScript()
        let file = NSTemporaryDirectory() + "ingot-init-\(UUID().uuidString)"
        defer { unlink(file) }
        try script.write(toFile: file, atomically: true, encoding: .utf8)
        let (status, output) = try shell("busybox sh -n \(file)")
        #expect(status == 0, "busybox sh -n: \(output)")
        #expect(script.contains("$bb unshare -p -f -i $bb chroot '/containers/services/web/rootfs'"))
        #expect(script.contains("'echo it'\\''s \"quoted\"'"))

        // Run the script's own mark() with busybox and check the frame and checksum.
        let markFn = script.components(separatedBy: "mark() {")[1].components(separatedBy: "\n}\n")[0]
        // mark() prints through say() (every console); here say() is stdout.
        #expect(script.contains("say() {") && markFn.contains("say \"@@INGOT $payload $crc@@\""))
        let probe = "bb=busybox; SEQ=0; say() { echo \"$*\"; }; mark() {\(markFn)\n}\nmark ready name=hello"
        let (st2, out2) = try shell(
            "busybox sh -c '\(probe.replacingOccurrences(of: "'", with: "'\\''").replacingOccurrences(of: "> /dev/console", with: ""))'"
        )
        #expect(st2 == 0)
        let line = out2.trimmingCharacters(in: .whitespacesAndNewlines)
        let m = try #require(line.wholeMatch(of: #/@@INGOT (v1 stage=ready seq=0 name=hello) ([0-9a-f]{8})@@/#))
        #expect(String(m.2) == String(format: "%08x", crc32(Array(String(m.1).utf8))))
    }

    @Test func installAddsConsoleAndInit() throws {
        let tree = try FileTree()
        try InitPlan(name: "x", hostname: "x").install(into: tree)
        guard case .characterDevice(5, 1) = try #require(tree.lookup("/dev/console")).kind else {
            Issue.record("no /dev/console")
            return
        }
        let initNode = try #require(tree.lookup("/sbin/init"))
        #expect(initNode.permissions == 0o755)
        #expect(
            String(decoding: try tree.bytes(of: #require(initNode.content)), as: UTF8.self).hasPrefix(
                "#!/bin/busybox sh"))
    }

    @Test func moduleClosureOrdersDependenciesFirst() throws {
        let dep = """
            kernel/fs/overlayfs/overlay.ko:
            kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
            kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko
            kernel/drivers/virtio/virtio.ko:
            kernel/fs/ext4/ext4.ko: kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
            kernel/fs/mbcache.ko:
            kernel/fs/jbd2/jbd2.ko:
            """
        let c = try ModuleClosure.resolve(
            names: ["virtio-blk", "ext4", "squashfs"], modulesDep: dep,
            modulesBuiltin: "kernel/fs/squashfs/squashfs.ko\n", kernel: "6.1-test")
        #expect(
            c.ordered == [
                "kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko",
                "kernel/drivers/block/virtio_blk.ko",
                "kernel/fs/mbcache.ko", "kernel/fs/jbd2/jbd2.ko", "kernel/fs/ext4/ext4.ko",
            ])
        #expect(c.builtin == ["squashfs"])
        #expect(throws: ModuleClosure.Error.self) {
            try ModuleClosure.resolve(names: ["nosuch"], modulesDep: dep, modulesBuiltin: "", kernel: "6.1-test")
        }
    }
}
