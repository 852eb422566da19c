// Disk images end to end, per board, as a user runs them: built by an unprivileged user with no
// capabilities, checked by the field's own tools (sfdisk, blkid, fsck.fat, unsquashfs, e2fsck,
// bmaptool, qemu-img) and by `ingot inspect`, rebuilt as root elsewhere to the same bytes, and
// booted under QEMU to the ready line (rpi4: checked statically; QEMU 7.2 has no raspi4b).
import Foundation
import IngotTestSupport
import Testing

@Suite(.serialized) struct DiskImageTests {
    static let nobodyCache: String = {
        let d = NSTemporaryDirectory() + "ingot-test-cache-nobody"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        chown(d, 65534, 65534)
        return d
    }()

    static let nobody = [
        "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
        "--bounding-set=-all",
    ]

    struct Part: Decodable {
        var number: Int
        var name: String
        var offset: Int64
        var size: Int64
        var filesystem: String?
    }
    struct Manifest: Decodable {
        var partitions: [Part]
        var outputs: [Output]
        struct Output: Decodable {
            var name: String
            var sha256: String
        }
    }

    /// Copies partition `p` of `img` out to a file (for tools without an offset option).
    func extract(_ img: String, _ p: Part, to path: String) throws {
        let r = try shellOutput(
            "dd if=\(img) of=\(path) bs=1M skip=\(p.offset >> 20) count=\(p.size >> 20) status=none && echo ok")
        #expect(r == "ok")
    }

    @Test(arguments: ["x86_64-bios", "x86_64-efi", "arm64-efi", "rpi3", "rpi4"])
    func buildVerifyRebuildBoot(board: String) throws {
        let out = try E2E.tempDir("disk-\(board)")
        let again = try E2E.tempDir("disk-\(board)-again")
        defer {
            try? FileManager.default.removeItem(atPath: out)
            try? FileManager.default.removeItem(atPath: again)
        }
        // 1. Unprivileged build: raw (+bmap), qcow2 and the root as tar.
        let build = try E2E.ingot(
            ["build", "examples/hello.yml", "--board", board, "--format", "raw,qcow2,tar", "-o", out + "/o"],
            prefix: Self.nobody, env: ["INGOT_CACHE": Self.nobodyCache, "HOME": "/nonexistent", "TMPDIR": out])
        try #require(build.status == 0, "\(build.all)")
        let o = out + "/o"
        let img = "\(o)/hello-\(board).img"
        #expect(
            E2E.listing(o) == [
                "hello-\(board)-rootfs.tar", "hello-\(board).img", "hello-\(board).img.bmap",
                "hello-\(board).manifest.json",
                "hello-\(board).qcow2", "hello-\(board).spdx.json",
            ])
        let manifest = try JSONDecoder().decode(
            Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: "\(o)/hello-\(board).manifest.json")))
        let parts = manifest.partitions
        try #require(parts.map(\.filesystem) == ["vfat", "squashfs", "ext4"])

        // 2. Partition table, by sfdisk.
        let table =
            try JSONSerialization.jsonObject(with: Data(shellOutput("sfdisk --json \(img)").utf8)) as? [String: Any]
        let pt = try #require(table?["partitiontable"] as? [String: Any])
        let gpt = board.hasSuffix("-efi")
        #expect(pt["label"] as? String == (gpt ? "gpt" : "dos"))
        let sp = try #require(pt["partitions"] as? [[String: Any]])
        #expect(sp.count == 3)
        for (i, p) in parts.enumerated() {
            #expect((sp[i]["start"] as? Int).map { Int64($0) * 512 } == p.offset)
            #expect((sp[i]["size"] as? Int).map { Int64($0) * 512 } == p.size)
        }
        if gpt {
            #expect(sp[0]["type"] as? String == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
        } else {
            #expect(sp[0]["type"] as? String == "c" && sp[0]["bootable"] as? Bool == true)
        }
        if board.hasPrefix("rpi") { #expect(parts[0].offset == 4 << 20) }

        // 3. Filesystems, by blkid, fsck.fat, unsquashfs and e2fsck.
        for p in parts {
            let probe = try shellOutput("blkid -p -o export --offset \(p.offset) --size \(p.size) \(img)")
            #expect(probe.contains("TYPE=\(p.filesystem!)"), "\(p.name): \(probe)")
        }
        try extract(img, parts[0], to: out + "/boot.fat")
        try extract(img, parts[1], to: out + "/root.sqfs")
        try extract(img, parts[2], to: out + "/data.ext4")
        let fsck = try shellOutput("fsck.fat -n \(out)/boot.fat 2>&1; echo rc=$?")
        #expect(
            fsck.hasSuffix("rc=0") && !fsck.contains("differences") && !fsck.lowercased().contains("dirty"), "\(fsck)")
        let bootFiles = try shellOutput("mdir -/ -b -a -i \(out)/boot.fat ::")
        let expected: [String] =
            switch board {
            case "x86_64-bios": ["::/ldlinux.sys", "::/syslinux.cfg", "::/vmlinuz", "::/initrd.img"]
            case "x86_64-efi": ["::/EFI/BOOT/BOOTX64.EFI", "::/loader/entries/ingot.conf", "::/ingot/vmlinuz"]
            case "arm64-efi": ["::/EFI/BOOT/BOOTAA64.EFI", "::/loader/loader.conf", "::/ingot/initrd.img"]
            case "rpi3":
                [
                    "::/bootcode.bin", "::/start.elf", "::/fixup.dat", "::/u-boot.bin", "::/bcm2837-rpi-3-b.dtb",
                    "::/config.txt", "::/extlinux/extlinux.conf",
                ]
            default:
                [
                    "::/start4.elf", "::/fixup4.dat", "::/u-boot.bin", "::/bcm2711-rpi-4-b.dtb", "::/config.txt",
                    "::/extlinux/extlinux.conf",
                ]
            }
        for f in expected { #expect(bootFiles.contains(f), "\(f) missing from the boot partition:\n\(bootFiles)") }
        if board.hasPrefix("rpi") {
            let config = try shellOutput("mtype -i \(out)/boot.fat ::config.txt")
            for line in ["arm_64bit=1", "enable_uart=1", "kernel=u-boot.bin"] { #expect(config.contains(line)) }
            let ext = try shellOutput("mtype -i \(out)/boot.fat ::extlinux/extlinux.conf")
            // No FDT line: U-Boot passes on the DTB the firmware (or QEMU playing it) loaded.
            #expect(ext.contains("APPEND ") && !ext.contains("FDT "))
            #expect(ext.contains("console=ttyAMA0"))
        }
        let sqInfo = try shellOutput("unsquashfs -s \(out)/root.sqfs")
        #expect(sqInfo.contains("Compression zstd"))
        // Every path of the root tar is in the squashfs, with the same owner and mode.
        let sq = try shellOutput(
            "unsquashfs -lln \(out)/root.sqfs | awk '{print $1, $2, $NF}' | sed 's,squashfs-root,,' | grep -v -- '->' | sort"
        )
        let tarList = try shellOutput(
            "tar -tvf \(o)/hello-\(board)-rootfs.tar --numeric-owner | grep -v -- '->' | awk '{print $1, $2, \"/\"$NF}' | sed 's,/$,,' | sort"
        )
        let sqPaths = Set(sq.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) })
        let tarPaths = Set(tarList.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) })
        #expect(
            tarPaths.count > 20 && tarPaths.isSubset(of: sqPaths.union(["/"])),
            "\(tarPaths.subtracting(sqPaths).sorted().prefix(10))")
        #expect(sq.contains("-rwxr-xr-x 0/0 /sbin/init") && sq.contains("/containers/services/web/rootfs/bin/busybox"))
        let e2fsck = try shellOutput("e2fsck -fn \(out)/data.ext4 2>&1; echo rc=$?")
        #expect(e2fsck.hasSuffix("rc=0") && e2fsck.contains("data:"), "\(e2fsck)")

        // 4. bmap, qcow2 and inspect.
        let copy = try shellOutput(
            "bmaptool copy --bmap \(img).bmap \(img) \(out)/copy.img 2>&1 && cmp \(img) \(out)/copy.img && echo same")
        #expect(copy.hasSuffix("same"), "\(copy)")
        #expect(
            try shellOutput("qemu-img compare -f raw -F qcow2 \(img) \(o)/hello-\(board).qcow2").contains(
                "Images are identical"))
        let inspect = try E2E.ingot(["inspect", img, "--verify-content"])
        #expect(inspect.status == 0 && inspect.stdout.contains("matches"), "\(inspect.all)")

        // 5. Rebuilt as root, elsewhere, in another time zone: the same bytes.
        let rebuild = try E2E.ingot(
            ["build", "examples/hello.yml", "--board", board, "--format", "raw,qcow2,tar", "-o", again],
            env: ["TZ": "Asia/Tokyo"])
        try #require(rebuild.status == 0, "\(rebuild.all)")
        for name in E2E.listing(o) {
            #expect(
                FileManager.default.contentsEqual(atPath: "\(o)/\(name)", andPath: "\(again)/\(name)"),
                "\(name) differs between builds")
        }

        // 6. Boot to ready. ci/test boots the x86_64-efi qcow2 here (the virtio bus and the qcow2
        // format; BusBootTests boots every board's raw image on its other buses); the full tier
        // (ci/nightly) boots every board's raw image on virtio/sd as well.
        if TestEnvironment.isFullTier {
            let test = try E2E.ingot(["test", "\(o)/hello-\(board)", "--log", out + "/console.log"])
            #expect(test.status == 0 && test.stdout.contains("PASS"), "\(test.all)")
            let console = (try? String(contentsOfFile: out + "/console.log", encoding: .utf8)) ?? ""
            #expect(console.contains("ingot-stage1: root /dev/") && console.contains("ingot: hello is ready"))
        }
        if board == "x86_64-efi" {
            let q = try E2E.ingot(["test", "\(o)/hello-\(board).qcow2", "--log", out + "/qcow2.log"])
            #expect(q.status == 0 && q.stdout.contains("PASS"), "\(q.all)")
            let console = (try? String(contentsOfFile: out + "/qcow2.log", encoding: .utf8)) ?? ""
            #expect(
                console.contains("ingot-stage1: root /dev/vda") && console.contains("ingot: hello is ready"),
                "\(console.suffix(2000))")
        }
        #expect(try shellOutput("pgrep -f '[q]emu-system.*\(out)' || true").isEmpty)
    }
}
