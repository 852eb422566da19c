// The `iso` output end to end, per board, as a user runs it: `ingot build --format iso`, then
// the image read back by the field's tools — xorriso's El Torito and system-area reports (boot
// platforms, boot image paths, isohybrid MBR / GPT ESP), xorriso's file listing, blkid's probe,
// unsquashfs on the root file, fsck.fat/mtools on the EFI image — and booted with `ingot test`
// to the ready line, found by stage 1 through its ISO volume id. Also: an unprivileged rebuild
// is byte-identical, `ingot test` picks the ISO from a prefix or an .iso path, and the Raspberry
// Pi boards are refused before any output appears.
import Foundation
import IngotTestSupport
import Testing

@Suite(.serialized) struct ISOImageTests {
    /// One El Torito catalog entry as `xorriso -report_el_torito plain` prints it.
    struct BootEntry: Equatable {
        var platform: String
        var path: String?
    }

    /// The El Torito entries and the system-area summary of `iso`, parsed from xorriso's report.
    func report(_ iso: String) throws -> (entries: [BootEntry], systemArea: String, lines: [String]) {
        let text = try shellOutput(
            "xorriso -indev \(iso) -report_el_torito plain -report_system_area plain 2>/dev/null")
        let lines = text.split(separator: "\n").map(String.init)
        func fields(_ prefix: String) -> [[String]] {
            lines.filter { $0.hasPrefix(prefix) }.map {
                $0.dropFirst(prefix.count).split(separator: " ").map(String.init)
            }
        }
        var entries = fields("El Torito boot img :").compactMap { f in
            f.count >= 2 ? BootEntry(platform: f[1], path: nil) : nil
        }
        for f in fields("El Torito img path :") {
            if let n = Int(f.first ?? ""), n >= 1, n <= entries.count, f.count >= 2 { entries[n - 1].path = f[1] }
        }
        let summary = lines.first { $0.hasPrefix("System area summary:") }?.dropFirst("System area summary:".count)
        return (entries, summary.map { $0.trimmingCharacters(in: .whitespaces) } ?? "", lines)
    }

    /// `blkid -p -o export` as a dictionary.
    func probe(_ path: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for line in try shellOutput("blkid -p -o export \(path)").split(separator: "\n") {
            let kv = line.split(separator: "=", maxSplits: 1).map(String.init)
            if kv.count == 2 { out[kv[0]] = kv[1] }
        }
        return out
    }

    /// Copies one file out of the ISO with xorriso's osirrox (no mount).
    func extract(_ iso: String, _ file: String, to path: String) throws {
        _ = try shellOutput("xorriso -osirrox on -indev \(iso) -extract \(file) \(path) 2>/dev/null")
        #expect(FileManager.default.fileExists(atPath: path), "\(file) could not be extracted from \(iso)")
        chmod(path, 0o644)
    }

    @Test(arguments: ["x86_64-efi", "x86_64-bios", "arm64-efi"])
    func buildVerifyBoot(board: String) throws {
        let out = try E2E.tempDir("iso-\(board)")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let build = try E2E.ingot([
            "build", "examples/hello.yml", "--board", board, "--format", "iso", "-o", out + "/o",
        ])
        #expect(build.status == 0, "\(build.all)")
        let iso = "\(out)/o/hello-\(board).iso"
        #expect(
            E2E.listing(out + "/o") == [
                "hello-\(board).iso", "hello-\(board).manifest.json", "hello-\(board).spdx.json",
            ])

        // The manifest records the ISO with its real digest.
        let manifest =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: "\(out)/o/hello-\(board).manifest.json"))) as? [String: Any]
        let outputs = try #require(manifest?["outputs"] as? [[String: Any]])
        let isoRecord = try #require(outputs.first { $0["name"] as? String == "hello-\(board).iso" })
        #expect(isoRecord["role"] as? String == "iso")
        #expect(
            isoRecord["sha256"] as? String
                == (try shellOutput("sha256sum \(iso)").split(separator: " ").first.map(String.init)))

        // blkid: an ISO 9660 volume whose label is the id stage 1 looks for.
        let blkid = try probe(iso)
        #expect(blkid["TYPE"] == "iso9660")
        let label = try #require(blkid["LABEL"])
        #expect(label.hasPrefix("HELLO_") && label.count == "HELLO_".count + 8)

        // El Torito and the system area, per board.
        let r = try report(iso)
        let files = try shellOutput("xorriso -indev \(iso) -find / -type f 2>/dev/null")
            .split(separator: "\n").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "' ")) }
        #expect(files.contains("/ingot/root.squashfs"), "\(files)")
        let entryFile: String
        if board == "x86_64-bios" {
            #expect(r.entries == [BootEntry(platform: "BIOS", path: "/isolinux/isolinux.bin")], "\(r.lines)")
            #expect(r.systemArea.contains("MBR isohybrid"), "\(r.systemArea)")
            #expect(
                r.lines.contains { $0.hasPrefix("MBR partition      :   1   0x80") },
                "no bootable MBR partition: \(r.lines)")
            for f in [
                "/isolinux/isolinux.bin", "/isolinux/ldlinux.c32", "/isolinux/isolinux.cfg", "/ingot/vmlinuz",
                "/ingot/initrd.img",
            ] {
                #expect(files.contains(f), "\(f) missing: \(files)")
            }
            entryFile = out + "/isolinux.cfg"
            try extract(iso, "/isolinux/isolinux.cfg", to: entryFile)
        } else {
            #expect(r.entries == [BootEntry(platform: "UEFI", path: "/ingot/efi.img")], "\(r.lines)")
            #expect(r.systemArea.contains("GPT"), "\(r.systemArea)")
            // The EFI image is also the GPT's EFI system partition (C12A7328-F81F-11D2-BA4B-00A0C93EC93B on disk).
            #expect(
                r.lines.contains { $0.hasPrefix("GPT type GUID") && $0.hasSuffix("28732ac11ff8d211ba4b00a0c93ec93b") },
                "\(r.lines)")
            let efi = out + "/efi.img"
            try extract(iso, "/ingot/efi.img", to: efi)
            let fsck = try shellOutput("fsck.fat -n \(efi) 2>&1; echo rc=$?")
            #expect(fsck.hasSuffix("rc=0"), "\(fsck)")
            let loader = board == "x86_64-efi" ? "BOOTX64.EFI" : "BOOTAA64.EFI"
            #expect(try shellOutput("mdir -b -i \(efi) ::/EFI/BOOT").contains(loader))
            let inIngot = try shellOutput("mdir -b -i \(efi) ::/ingot")
            #expect(inIngot.contains("vmlinuz") && inIngot.contains("initrd.img"), "\(inIngot)")
            entryFile = out + "/ingot.conf"
            _ = try shellOutput("mtype -i \(efi) ::/loader/entries/ingot.conf > \(entryFile)")
        }
        // The boot entry names this volume for stage 1.
        let entry = try String(contentsOfFile: entryFile, encoding: .utf8)
        #expect(entry.contains("ingot.iso=\(label)"), "\(entry)")

        // The root file is a squashfs with the appliance's tree.
        let squash = out + "/root.squashfs"
        try extract(iso, "/ingot/root.squashfs", to: squash)
        let listing = try shellOutput("unsquashfs -l \(squash)")
        #expect(
            listing.contains("squashfs-root/bin/busybox") && listing.contains("squashfs-root/sbin/init"),
            "\(listing.prefix(400))")

        // Boot it: the firmware takes the El Torito entry, stage 1 finds the volume by its id.
        // ci/test boots the BIOS ISO; the full tier (ci/nightly) boots the UEFI ones too.
        guard board == "x86_64-bios" || TestEnvironment.isFullTier else { return }
        let log = out + "/console.log"
        let test = try E2E.ingot(["test", iso, "--log", log])
        #expect(test.status == 0, "\(test.all)")
        #expect(test.stdout.contains("PASS hello-\(board) on \(board)"), "\(test.stdout)")
        let console = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(
            console.contains("ingot-stage1: root /ingot/root.squashfs on /dev/"), "stage 1 did not report the ISO root")
        #expect(console.contains("(ISO 9660 \(label), squashfs"))
        #expect(console.contains("name=greet status=ok") && console.contains("ingot: hello is ready"))
        #expect(try shellOutput("pgrep -f '[q]emu-system.*\(out)' || true").isEmpty, "QEMU left running")
    }

    @Test(arguments: ["x86_64-bios", "x86_64-efi"])
    func unprivilegedRebuildIsByteIdentical(board: String) throws {
        let a = try E2E.tempDir("iso-repro-a")
        let b = try E2E.tempDir("iso-repro-b")
        defer {
            try? FileManager.default.removeItem(atPath: a)
            try? FileManager.default.removeItem(atPath: b)
        }
        let first = try E2E.ingot(
            ["build", "examples/hello.yml", "--board", board, "--format", "iso", "-o", a + "/o"],
            prefix: DiskImageTests.nobody,
            env: ["INGOT_CACHE": DiskImageTests.nobodyCache, "HOME": "/nonexistent", "TMPDIR": a])
        #expect(first.status == 0, "\(first.all)")
        let second = try E2E.ingot(
            ["build", "examples/hello.yml", "--board", board, "--format", "iso", "-o", b + "/o"],
            env: ["TZ": "Pacific/Auckland"])
        #expect(second.status == 0, "\(second.all)")
        let name = "hello-\(board).iso"
        var st = stat()
        #expect(stat("\(a)/o/\(name)", &st) == 0 && st.st_uid == 65534)
        #expect(
            FileManager.default.contentsEqual(atPath: "\(a)/o/\(name)", andPath: "\(b)/o/\(name)"),
            "\(name) differs between builds")
        // No work files are left beside the outputs.
        #expect(E2E.listing(a + "/o") == [name, "hello-\(board).manifest.json", "hello-\(board).spdx.json"])
    }

    @Test func bootTargetPicksTheISO() throws {
        let out = try E2E.tempDir("iso-target")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let build = try E2E.ingot([
            "build", "examples/hello.yml", "--board", "x86_64-efi", "--format", "iso", "-o", out,
        ])
        #expect(build.status == 0, "\(build.all)")
        let prefix = out + "/hello-x86_64-efi"
        // By prefix and by .iso path, the board coming from the manifest: the plan boots a CD.
        for target in [prefix, prefix + ".iso"] {
            let plan = try E2E.ingot(["test", target, "--dry-run"])
            #expect(plan.status == 0, "\(plan.all)")
            #expect(plan.stdout.contains("file=\(prefix).iso,media=cdrom"), "\(target): \(plan.stdout)")
            #expect(plan.stdout.contains("OVMF"), "\(plan.stdout)")
        }
    }

    @Test(arguments: ["rpi3", "rpi4"])
    func raspberryPiIsRefused(board: String) throws {
        let parent = try E2E.tempDir("iso-rpi")
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let out = parent + "/out"
        let r = try E2E.ingot(["build", "examples/hello.yml", "--board", board, "--format", "iso", "-o", out])
        #expect(r.status != 0, "\(r.all)")
        #expect(r.stderr.contains("\(board) boots from an SD card; iso is not a format for it"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out), "output left: \(E2E.listing(out))")
    }
}
