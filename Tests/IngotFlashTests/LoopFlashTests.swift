// Writing real block devices: loop devices made by the test. Written content is compared byte
// for byte with the image, compressed inputs are streamed, a bad image stops with its error, a
// corrupted card names its first bad byte, one failing device is dropped while the others
// finish, and an exclusive holder or a swapped medium means nothing is written.

import Foundation
import IngotDisk
import Testing

@testable import IngotFlash

@Suite(.serialized, .enabled(if: Host.loopTests)) struct LoopFlashTests {
    static let size: Int64 = 32 << 20

    func run(_ plan: FlashPlan) -> FlashReport { Flasher(plan: plan).runBlocking() }

    @Test func discoversTheLoopDeviceTableAndFilesystems() throws {
        let s = try Scratch("discover")
        let img = try Fixture.image(s.path("a.img"))
        let loop = try Loop(backing: img)
        guard case .disk(let d) = try DeviceDiscovery().resolve(loop.path) else {
            Issue.record("\(loop.path) not resolved as a disk")
            return
        }
        #expect(d.bus == .loop)
        #expect(d.backingFile == img)
        #expect(d.size == Self.size)
        #expect(d.diskseq.map(String.init) == loop.diskseq)
        #expect(d.partitionTable == "gpt")
        #expect(d.partitionTableUUID?.lowercased() == "6b2c46f0-0000-4000-8000-000000000001")
        #expect(d.partitions.count == 2)
        #expect(d.partitions.first?.filesystem == "vfat")
        #expect(d.partitions.first?.label == "INGOTBOOT")
        #expect(DeviceDiscovery().disks().contains { $0.path == loop.path })
        // A partition of it is refused naming the disk.
        let part = try loop.partitionNode()
        #expect(try DeviceDiscovery().resolve(part) == .partition(name: loop.name + "p1", disk: loop.name))
    }

    @Test func writesOnlyMappedRangesAndVerifies() throws {
        let s = try Scratch("write")
        let img = try Fixture.image(s.path("a.img"))
        let loop = try Loop(backing: s.path("dev"), size: 48 << 20, fill: 0xAA)
        let (plan, refusals) = try Loop.plan(img, to: [loop])
        #expect(refusals.isEmpty)
        let bmap = try #require(plan.image.bmap)
        let report = run(plan)
        #expect(report.succeeded, "\(report.summary)")
        let t = try #require(report.targets.first)
        #expect(t.written == plan.image.writeBytes)
        #expect(t.verified == plan.image.writeBytes)
        #expect(t.skipped == Self.size - plan.image.writeBytes)
        #expect(t.table?.type == "gpt" && t.table?.partitions.count == 2)
        // Mapped data is there; an unmapped block keeps the old bytes (no --zero-unmapped).
        try BmapReader.verify(bmap, image: loop.path, checkSize: false)
        let gap = try #require(plan.image.gaps.first { $0.length >= 4096 && $0.start > 0 })
        #expect(try Fixture.bytes(loop.path, at: gap.start, count: 16) == [UInt8](repeating: 0xAA, count: 16))
    }

    @Test func zeroUnmappedLeavesExactlyTheImage() throws {
        let s = try Scratch("zero")
        let img = try Fixture.image(s.path("a.img"))
        let loop = try Loop(backing: s.path("dev"), size: 48 << 20, fill: 0xAA)
        let (plan, _) = try Loop.plan(img, to: [loop], options: FlashOptions(zeroUnmapped: true))
        let report = run(plan)
        #expect(report.succeeded, "\(report.summary)")
        #expect(report.targets.first?.zeroed == Self.size - plan.image.writeBytes)
        #expect(try Fixture.sha256(loop.path, count: Self.size) == Fixture.sha256(img, count: Self.size))
        // Past the image, the device is untouched.
        #expect(try Fixture.bytes(loop.path, at: Self.size, count: 8) == [UInt8](repeating: 0xAA, count: 8))
    }

    @Test(arguments: ["xz", "gzip", "zstd"])
    func compressedImagesAreStreamed(tool: String) throws {
        let s = try Scratch("comp-\(tool)")
        let img = try Fixture.image(s.path("a.img"))
        try Host.sh("\(tool) -k -q \(img)")
        let ext = ["xz": "xz", "gzip": "gz", "zstd": "zst"][tool] ?? tool
        let compressed = img + "." + ext
        let loop = try Loop(backing: s.path("dev"), size: Self.size)
        let (plan, _) = try Loop.plan(compressed, to: [loop], options: FlashOptions(zeroUnmapped: true))
        #expect(plan.image.compression.rawValue == tool)
        #expect(plan.image.bmapPath == img + ".bmap")
        #expect(plan.image.size == Self.size)
        let report = run(plan)
        #expect(report.succeeded, "\(report.summary)")
        #expect(try Fixture.sha256(loop.path, count: Self.size) == Fixture.sha256(img, count: Self.size))
        // Without a bmap or manifest, the size comes from one decompressing pass.
        try FileManager.default.removeItem(atPath: img + ".bmap")
        let bare = try FlashImage.open(compressed)
        #expect(bare.size == Self.size && bare.sizeSource == "decompressed")
    }

    @Test func truncatedCompressedInputFailsWithItsError() throws {
        let s = try Scratch("trunc")
        let img = try Fixture.image(s.path("a.img"))
        try Host.sh(
            "xz -k -q \(img) && head -c 200000 \(img).xz > \(s.path("cut.img.xz")) && cp \(img).bmap \(s.path("cut.img.bmap"))"
        )
        let loop = try Loop(backing: s.path("dev"), size: Self.size)
        let (plan, _) = try Loop.plan(s.path("cut.img.xz"), to: [loop])
        let report = run(plan)
        #expect(!report.succeeded)
        let error = try #require(report.targets.first?.error)
        #expect(error.contains("cut.img.xz") && error.contains("truncated"), "\(error)")
        // And without a bmap: the sizing pass refuses it before any device is opened.
        try FileManager.default.removeItem(atPath: s.path("cut.img.bmap"))
        #expect(throws: FlashImage.Error.self) { try FlashImage.open(s.path("cut.img.xz")) }
    }

    @Test func anImageThatDoesNotMatchItsBmapStops() throws {
        let s = try Scratch("badsum")
        let img = try Fixture.image(s.path("a.img"))
        let plan0 = try FlashImage.open(img)
        let range = try #require(plan0.ranges.last)
        // The image changed after its bmap was made.
        try Fixture.poke(img, at: range.start + 100, [0x55, 0x66])
        let loop = try Loop(backing: s.path("dev"), size: Self.size)
        let (plan, _) = try Loop.plan(img, to: [loop])
        let report = run(plan)
        #expect(!report.succeeded)
        let error = try #require(report.targets.first?.error)
        #expect(error.contains("bytes \(range.start)-\(range.end - 1) do not match its bmap"), "\(error)")
    }

    @Test func aDamagedBmapIsRefusedBeforeAnythingIsOpened() throws {
        let s = try Scratch("badbmap")
        let img = try Fixture.image(s.path("a.img"))
        var text = try String(contentsOfFile: img + ".bmap", encoding: .utf8)
        let sum = try #require(text.range(of: "chksum=\""))
        text.replaceSubrange(sum.upperBound..<text.index(sum.upperBound, offsetBy: 4), with: "0000")
        try text.write(toFile: img + ".bmap", atomically: true, encoding: .utf8)
        #expect(throws: FlashImage.Error.self) { try FlashImage.open(img) }
        do {
            _ = try FlashImage.open(img)
        } catch {
            #expect("\(error)".contains("checksum mismatch"), "\(error)")
        }
    }

    @Test func verifyOnlyNamesTheFirstBadByte() throws {
        let s = try Scratch("verify")
        let img = try Fixture.image(s.path("a.img"))
        let loop = try Loop(backing: s.path("dev"), size: Self.size)
        let (plan, _) = try Loop.plan(img, to: [loop])
        #expect(run(plan).succeeded)
        let (check, _) = try Loop.plan(img, to: [loop], options: FlashOptions(verifyOnly: true))
        #expect(run(check).succeeded)
        let range = try #require(check.image.ranges.last)
        let bad = range.start + 12345
        try Fixture.poke(loop.path, at: bad, [~(try Fixture.bytes(img, at: bad, count: 1)[0])])
        let report = run(check)
        #expect(!report.succeeded)
        #expect(report.targets.first?.firstBadOffset == bad)
        #expect(report.targets.first?.error?.contains("first bad byte at offset \(bad)") == true)
        // Without a bmap: the whole image is hashed, and the first bad byte is still found.
        let (whole, _) = try Loop.plan(img, to: [loop], options: FlashOptions(verifyOnly: true), noBmap: true)
        #expect(run(whole).targets.first?.firstBadOffset == bad)
    }

    @Test func aFailingTargetIsDroppedAndTheOthersFinish() throws {
        let s = try Scratch("multi")
        let img = try Fixture.image(s.path("a.img"))
        let a = try Loop(backing: s.path("a"), size: Self.size)
        let b = try Loop(backing: s.path("b"), size: Self.size)
        let c = try Loop(backing: s.path("c"), size: Self.size)
        var options = FlashOptions(zeroUnmapped: true, chunkSize: 64 << 10)
        options.faultAfter = [b.path: 300_000]
        let (plan, _) = try Loop.plan(img, to: [a, b, c], options: options)
        let report = run(plan)
        #expect(report.targets.map(\.status) == [.ok, .failed, .ok])
        #expect(report.targets[1].error?.contains("write failed") == true)
        for loop in [a, c] {
            #expect(try Fixture.sha256(loop.path, count: Self.size) == Fixture.sha256(img, count: Self.size))
        }
    }

    @Test func aDeviceThatFailsMidWriteIsReported() throws {
        // The loop's backing file lives on a 4 MiB tmpfs: writes past that fail in the kernel.
        let s = try Scratch("eio")
        let img = try Fixture.image(s.path("a.img"))
        let mnt = s.path("tmpfs")
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        try Host.sh("mount -t tmpfs -o size=4m flash-test \(mnt)")
        defer { _ = try? Host.run(["umount", mnt]) }
        let loop = try Loop(backing: mnt + "/dev", size: Self.size)
        defer { loop.detach() }
        let (plan, _) = try Loop.plan(img, to: [loop], noBmap: true)
        let report = run(plan)
        #expect(!report.succeeded)
        let error = try #require(report.targets.first?.error)
        #expect(
            error.contains(loop.path) && (error.contains("failed at byte offset") || error.contains("ended at")),
            "\(error)")
    }

    @Test func anExclusiveHolderMeansBusyAndNothingWritten() throws {
        let s = try Scratch("busy")
        let img = try Fixture.image(s.path("a.img"))
        let loop = try Loop(backing: s.path("dev"), size: Self.size, fill: 0x11)
        let before = try Fixture.sha256(loop.path, count: Self.size)
        let (plan, refusals) = try Loop.plan(img, to: [loop])
        #expect(refusals.isEmpty)
        let holder = open(loop.path, O_RDONLY | O_EXCL)
        try #require(holder >= 0)
        let report = run(plan)
        close(holder)
        #expect(!report.succeeded)
        #expect(report.targets.first?.error?.contains("busy") == true)
        #expect(try Fixture.sha256(loop.path, count: Self.size) == before)
    }

    @Test func aReplacedMediumIsRefusedAfterTheOpen() throws {
        let s = try Scratch("swapped")
        let img = try Fixture.image(s.path("a.img"))
        let loop = try Loop(backing: s.path("first"), size: Self.size)
        let (plan, refusals) = try Loop.plan(img, to: [loop])
        #expect(refusals.isEmpty)
        // Between confirmation and writing, another medium appears under the same name.
        _ = FileManager.default.createFile(atPath: s.path("second"), contents: nil)
        truncate(s.path("second"), off_t(Self.size))
        try loop.reattach(s.path("second"))
        let report = run(plan)
        #expect(!report.succeeded)
        #expect(report.targets.first?.error?.contains("no longer the device you confirmed") == true)
        #expect(try Fixture.sha256(s.path("second"), count: Self.size) == Fixture.sha256("/dev/zero", count: Self.size))
    }

    @Test func aMountedPartitionIsRefusedAndTheKernelWouldSayBusyAnyway() throws {
        let s = try Scratch("mounted")
        let img = try Fixture.image(s.path("a.img"))
        let dev = s.path("dev")
        try FileManager.default.copyItem(atPath: img, toPath: dev)
        let loop = try Loop(backing: dev, partscan: true)
        let part = try loop.partitionNode()
        let mnt = s.path("mnt")
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        // ext4: every Linux kernel has it (vfat may be a module or missing).
        try Host.sh("mkfs.ext4 -q -F \(part) && mount -o ro \(part) \(mnt)")
        defer { _ = try? Host.run(["umount", mnt]) }
        let before = try Fixture.sha256(loop.path, count: Self.size)
        let (plan, refusals) = try Loop.plan(img, to: [loop])
        #expect(refusals == [.mounted(path: loop.path, mounts: [mnt])])
        // Even if the policy were bypassed, the exclusive open fails: EBUSY, no shared fallback.
        let report = run(plan)
        #expect(report.targets.first?.error?.contains("busy") == true)
        #expect(try Fixture.sha256(loop.path, count: Self.size) == before)
        // Verifying only reads (no claim): it runs on the mounted disk and finds mkfs's changes.
        let (check, none) = try Loop.plan(img, to: [loop], options: FlashOptions(verifyOnly: true))
        #expect(none.isEmpty)
        let checked = run(check)
        #expect(checked.targets.first?.error?.contains("read-back differs") == true, "\(checked.summary)")
    }

    @Test func aCancelledRunWritesNothingAndSaysSo() async throws {
        let s = try Scratch("cancel")
        let img = try Fixture.image(s.path("a.img"))
        let loop = try Loop(backing: s.path("dev"), size: Self.size, fill: 0x33)
        let before = try Fixture.sha256(loop.path, count: Self.size)
        let (plan, _) = try Loop.plan(img, to: [loop])
        // Cancelled (Ctrl-C) before the first chunk: deterministic, unlike racing a running task.
        let flasher = Flasher(plan: plan)
        flasher.cancel()
        let report = await flasher.run()
        #expect(!report.succeeded)
        #expect(report.targets.first?.error == FlashError.cancelled.description)
        #expect(try Fixture.sha256(loop.path, count: Self.size) == before)
    }

    @Test func aSmallerDeviceIsRefused() throws {
        let s = try Scratch("small")
        let img = try Fixture.image(s.path("a.img"))
        let loop = try Loop(backing: s.path("dev"), size: 16 << 20)
        let (_, refusals) = try Loop.plan(img, to: [loop])
        #expect(refusals == [.tooSmall(path: loop.path, deviceSize: 16 << 20, imageSize: Self.size)])
    }

    @Test func aReadOnlyDeviceIsRefusedButCanBeVerified() throws {
        let s = try Scratch("ro")
        let img = try Fixture.image(s.path("a.img"))
        try FileManager.default.copyItem(atPath: img, toPath: s.path("dev"))
        let loop = try Loop(backing: s.path("dev"), readOnly: true)
        let (_, refusals) = try Loop.plan(img, to: [loop])
        #expect(refusals == [.readOnly(path: loop.path)])
        let (check, none) = try Loop.plan(img, to: [loop], options: FlashOptions(verifyOnly: true))
        #expect(none.isEmpty)
        #expect(run(check).succeeded)
    }

    @Test func swapIsRefused() throws {
        let s = try Scratch("swap")
        let img = try Fixture.image(s.path("a.img"))
        let loop = try Loop(backing: s.path("dev"), size: Self.size)
        try Host.sh("mkswap \(loop.path) >/dev/null && swapon \(loop.path)")
        defer { _ = try? Host.run(["swapoff", loop.path]) }
        let (_, refusals) = try Loop.plan(img, to: [loop])
        #expect(refusals == [.swap(path: loop.path, on: loop.path)])
    }

    @Test func writesARegularFileOnlyWithToFile() throws {
        let s = try Scratch("file")
        let img = try Fixture.image(s.path("a.img"))
        let out = s.path("out.img")
        let request = FlashRequest(image: img, targets: [out], policy: FlashPolicy(), options: FlashOptions())
        #expect(try FlashPlanner.plan(request).1.count == 1)
        var allowed = request
        allowed.policy.allowFiles = true
        let (plan, refusals) = try FlashPlanner.plan(allowed)
        #expect(refusals.isEmpty)
        #expect(run(plan).succeeded)
        #expect(try Fixture.sha256(out, count: Self.size) == Fixture.sha256(img, count: Self.size))
    }
}
