// Images booted on the disk buses real machines use, as a user runs them (`ingot test IMAGE --bus
// BUS --disk-size SIZE`), each bus at least once and each board at least once, cheaply: one board
// per bus (the full board × bus matrix is ci/nightly's). Every boot here is inside a larger disk,
// so it also shows the data partition growing to fill the medium on first boot: the init reports
// the size in its `data` marker. Then growth happens once (a second boot of the same disk does not
// grow again), an image whose data partition is not last boots anyway and says so, and
// `data.grow: false` builds an image that does not grow.

import Foundation
import IngotBoot
import IngotSpec
import IngotTestSupport
import Testing

@Suite(.serialized) struct BusBootTests {
    /// The `data` marker's fields from a console log.
    static func dataMarker(_ log: String) -> [String: String]? {
        guard let line = log.split(separator: "\n").last(where: { $0.contains("@@INGOT v1 stage=data ") }) else {
            return nil
        }
        var fields: [String: String] = [:]
        for token in line.split(separator: " ") {
            let pair = token.split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { fields[pair[0]] = pair[1] }
        }
        return fields
    }

    /// Takes or releases the suite-wide boot lock (one TCG guest at a time) around direct boots.
    static func bootLock(_ take: Bool) {
        if take { E2E.bootLock.lock() } else { E2E.bootLock.unlock() }
    }

    static func build(_ board: String, into out: String, spec: String = "examples/hello.yml") throws -> String {
        let r = try E2E.ingot(["build", spec, "--board", board, "--format", "raw", "-o", out])
        try #require(r.status == 0, "\(r.all)")
        let name =
            (try? String(contentsOfFile: spec.hasPrefix("/") ? spec : E2E.root + "/" + spec, encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("name:") }?.split(separator: " ").last.map(String.init)
            ?? "hello"
        return "\(out)/\(name)-\(board).img"
    }

    @Test(arguments: [
        ("x86_64-bios", "ahci", "1G"), ("x86_64-efi", "usb", "2G"), ("arm64-efi", "nvme", "1G"),
        ("x86_64-bios", "scsi", "1G"),
        ("rpi3", "sd", "1G"), ("rpi4", "sd", "1G"),
    ])
    func bootsOnTheBusAndGrowsTheData(board: String, bus: String, size: String) throws {
        let out = try E2E.tempDir("bus-\(board)-\(bus)")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let image = try Self.build(board, into: out + "/o")
        let before = try shellOutput("sha256sum \(image)")
        let r = try E2E.ingot(["test", image, "--bus", bus, "--disk-size", size, "--log", out + "/console.log"])
        #expect(r.status == 0, "\(board) on \(bus): \(r.all)")
        #expect(r.stdout.contains("PASS hello-\(board) on \(board)"), "\(r.all)")
        let log = (try? String(contentsOfFile: out + "/console.log", encoding: .utf8)) ?? ""
        let data = try #require(Self.dataMarker(log), "no data marker on the console of \(board)/\(bus)")
        let gib: Int64 = size == "2G" ? 2 : 1
        let partition = Int64(data["part_kib"] ?? "") ?? 0
        let filesystem = Int64(data["fs_kib"] ?? "") ?? 0
        // The partition reaches the end of the disk, less the space before it (boot + root) and
        // the GPT's backup table; ext4 keeps some of it for its own metadata.
        #expect(partition > gib * (1 << 20) - 400 * 1024 && partition <= gib * (1 << 20), "\(data)")
        #expect(filesystem > partition * 9 / 10 && filesystem <= partition, "\(data)")
        #expect(log.contains("ingot-stage1: data partition"), "stage 1 says it grew the data")
        #expect(try shellOutput("sha256sum \(image)") == before, "the image itself is never written")
    }

    /// Full tier only (three boots): bootsOnTheBusAndGrowsTheData proves the first-boot grow in
    /// ci/test on every board.
    @Test(.nightly) func growsOnceAndANotLastPartitionBootsAnyway() async throws {
        let out = try E2E.tempDir("bus-grow")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let image = try Self.build("x86_64-bios", into: out + "/o")
        let board = try BoardCatalog.load(directory: E2E.root + "/boards").board(named: "x86_64-bios")
        Self.bootLock(true)
        var held = true
        defer { if held { Self.bootLock(false) } }

        // The same disk booted twice: the first boot grows, the second finds the marker.
        let disk = out + "/disk.qcow2"
        _ = try shellOutput("qemu-img create -q -f qcow2 -b \(image) -F raw \(disk) 1G")
        var sizes: [Int64] = []
        for boot in 0..<2 {
            let run = out + "/run\(boot)"
            try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
            let plan = try MachinePlan(
                board: board, artifacts: BootArtifacts(kind: .disk(path: disk, format: "qcow2")),
                options: PlanOptions(runDirectory: run, writable: true))
            let watcher = try StageWatcher(rules: WatchRules(board: board, directKernelBoot: false))
            let result = try await QEMUProcess().run(plan: plan, watcher: watcher, logPath: run + "/console.log")
            #expect(result.verdict.passed, "boot \(boot): \(result.verdict.reason)")
            let log = try String(contentsOfFile: run + "/console.log", encoding: .utf8)
            #expect(log.contains("ingot-stage1: growing data partition") == (boot == 0), "boot \(boot)")
            sizes.append(Int64(Self.dataMarker(log)?["part_kib"] ?? "") ?? 0)
        }
        #expect(sizes[0] > 800 * 1024 && sizes[1] == sizes[0], "\(sizes)")
        Self.bootLock(false)
        held = false

        // A fourth partition after the data partition: data cannot grow; the boot goes on and says so.
        let odd = out + "/odd.img"
        _ = try shellOutput(
            "cp --sparse=always \(image) \(odd) && truncate -s +32M \(odd) && echo ',16M' | sfdisk -q --append \(odd)")
        let r = try E2E.ingot(["test", odd, "--board", "x86_64-bios", "--disk-size", "1G", "--log", out + "/odd.log"])
        #expect(r.status == 0, "\(r.all)")
        let log = try String(contentsOfFile: out + "/odd.log", encoding: .utf8)
        #expect(
            log.contains(
                "ingot-stage1: data partition 3 is not the last on /dev/vda, so it cannot grow; it keeps 64 MiB"),
            "\(log.suffix(2000))")
        #expect(Self.dataMarker(log)?["part_kib"] == "65536")
    }

    @Test func growFalseBuildsAnImageThatKeepsItsSize() throws {
        let out = try E2E.tempDir("bus-nogrow")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let spec = try String(contentsOfFile: E2E.root + "/examples/hello.yml", encoding: .utf8)
            .replacingOccurrences(of: "  size: 64M\n", with: "  size: 64M\n  grow: false\n")
        #expect(spec.contains("grow: false"))
        try E2E.write(spec.replacingOccurrences(of: "name: hello", with: "name: nogrow"), to: out + "/nogrow.yml")
        let image = try Self.build("x86_64-efi", into: out + "/o", spec: out + "/nogrow.yml")
        let manifest = try String(contentsOfFile: out + "/o/nogrow-x86_64-efi.manifest.json", encoding: .utf8)
        #expect(manifest.contains("ingot.datamount=/var/lib/hello") && !manifest.contains("ingot.grow"))
        // Its stage 1 carries no sfdisk/resize2fs (the hello image's does).
        let listing = try shellOutput(
            "mcopy -o -i \(image)@@1M ::ingot/initrd.img \(out)/i.gz && zcat \(out)/i.gz | cpio -t 2>/dev/null")
        #expect(listing.contains("init") && !listing.contains("sbin/sfdisk"), "\(listing.prefix(500))")
        let hello = try Self.build("x86_64-efi", into: out + "/h")
        let withTools = try shellOutput(
            "mcopy -o -i \(hello)@@1M ::ingot/initrd.img \(out)/h.gz && zcat \(out)/h.gz | cpio -t 2>/dev/null")
        #expect(
            withTools.contains("sbin/sfdisk") && withTools.contains("sbin/resize2fs")
                && withTools.contains("lib/ingot/libc.so.6"))
    }
}

/// `--disk-size` and `--bus` mistakes, refused before anything boots.
struct BusBadInputTests {
    @Test func diskSizeSmallerThanTheImageOrNotASize() throws {
        let dir = try E2E.tempDir("bus-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let image = try LabBackendTests.fakeImage(in: dir)
        let small = try E2E.ingot(["test", image, "--board", "x86_64-bios", "--disk-size", "1M"])
        #expect(
            small.status != 0 && small.stderr.contains("--disk-size 1048576 bytes is smaller than the image"),
            "\(small.all)")
        #expect(small.stderr.contains("(4194304 bytes)"), "\(small.all)")
        let garbage = try E2E.ingot(["test", image, "--board", "x86_64-bios", "--disk-size", "8X"])
        #expect(garbage.status != 0 && garbage.stderr.contains("--disk-size '8X' is not a size"), "\(garbage.all)")
        let bus = try E2E.ingot(["test", image, "--board", "rpi3", "--bus", "nvme"])
        #expect(bus.status != 0 && bus.stderr.contains("its buses are sd"), "\(bus.all)")
    }
}
