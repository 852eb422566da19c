// Hostile input for the disk layer (issue 12): forged GPTs with huge LBAs and valid CRCs, FIFOs
// and empty files given to `inspect`, absurd sizes for the planner (no overflow, no endless
// power-of-two loop), MBR's 2 TiB, host file size limits, the written-block map the bmap is made
// from, and the hole-aware digests. Each case used to crash, hang or be silently wrong.

import Foundation
import IngotDisk
import IngotFilesystems
import IngotTestSupport
import Testing

@Suite struct DiskHardeningTests {
    let mib = Layouts.mib

    // Case 8: LBAs near 2^63 (or whose byte offset overflows) used to trap in ImageInspector.
    @Test(arguments: [
        (UInt64(9_223_372_036_854_775_000), UInt64(100)), (UInt64(1) << 54, UInt64(100)),
        (UInt64(2048), UInt64.max / 2),
    ])
    func forgedGPTWithHugeLBAsIsAnErrorNamingThePartition(start: UInt64, count: UInt64) throws {
        let tmp = try TempDir()
        try ForgedGPT.write(tmp.file("forged.img"), start: start, count: count)
        // The forgery is accepted by sfdisk as a table (valid CRCs), so only our checks stand between.
        do {
            let report = try ImageInspector.inspect(path: tmp.file("forged.img"))
            Issue.record("a forged GPT was reported: \(report.partitions)")
        } catch let error as ImageInspector.Error {
            #expect("\(error)".contains("partition 1") && "\(error)".contains("\(start)"), "\(error)")
        }
    }

    @Test func honestGPTFromTheSameForgerIsReported() throws {
        let tmp = try TempDir()
        try ForgedGPT.write(tmp.file("ok.img"), start: 2048, count: 100)
        let report = try ImageInspector.inspect(path: tmp.file("ok.img"))
        #expect(report.table == .gpt)
        #expect(report.partitions.map(\.offset) == [2048 * 512])
        #expect(report.partitions.map(\.size) == [100 * 512])
    }

    // Cases 13 and 21: a FIFO blocked forever; a 0-byte file blamed libfdisk and "the layout".
    @Test func inspectRefusesFIFOsAndEmptyFilesAtOnce() throws {
        let tmp = try TempDir()
        #expect(mkfifo(tmp.file("fifo"), 0o644) == 0)
        let started = Date()
        #expect(throws: ImageInspector.Error.notAnImage(tmp.file("fifo"), "it is a FIFO, not a disk image")) {
            try ImageInspector.inspect(path: tmp.file("fifo"))
        }
        #expect(Date().timeIntervalSince(started) < 5)
        _ = FileManager.default.createFile(atPath: tmp.file("empty.img"), contents: nil)
        #expect(throws: ImageInspector.Error.notAnImage(tmp.file("empty.img"), "the file is empty (0 bytes)")) {
            try ImageInspector.inspect(path: tmp.file("empty.img"))
        }
        _ = FileManager.default.createFile(atPath: tmp.file("tiny.img"), contents: Data(count: 100))
        do {
            _ = try ImageInspector.inspect(path: tmp.file("tiny.img"))
            Issue.record("a 100-byte file was inspected")
        } catch {
            #expect("\(error)".contains("too small"), "\(error)")
        }
        do {
            _ = try ImageInspector.inspect(path: tmp.path)
            Issue.record("a directory was inspected")
        } catch {
            #expect("\(error)".contains("a directory"), "\(error)")
        }
    }

    // Cases 9 and 12: absurd sizes overflowed alignUp or looped in nextPowerOfTwo.
    @Test func absurdSizesAreErrorsNotTrapsOrHangs() throws {
        let sizes: [Int64] = [Int64.max, Int64.max / 2, (1 << 62) + 1, 4_617_948_836_659_200_000]
        for size in sizes {
            let plans = [
                PartitionPlan(name: "boot", role: .esp, type: "esp", size: .fixed(64 * mib)),
                PartitionPlan(name: "data", role: .data, type: "linux-data", size: .fixed(size)),
            ]
            for pow2 in [false, true] {
                do {
                    let layout = try LayoutPlanner.plan(
                        table: .gpt, partitions: plans, contentSizes: [:], seed: "s",
                        constraints: Layouts.efiConstraints,
                        roundDiskToPowerOfTwo: pow2)
                    Issue.record("a \(size)-byte partition was laid out: \(layout.diskSize)")
                } catch let error as LayoutPlanner.Error {
                    #expect("\(error)".contains("'data'"), "\(error)")
                }
            }
        }
        // Content sizes too (the root's size comes from the written squashfs).
        #expect(throws: LayoutPlanner.Error.self) {
            try LayoutPlanner.plan(
                table: .gpt, partitions: Layouts.efi(), contentSizes: ["root-a": Int64.max - 10], seed: "s",
                constraints: Layouts.efiConstraints)
        }
    }

    @Test func powerOfTwoRoundingIsExactAndBounded() throws {
        let layout = try LayoutPlanner.plan(
            table: .mbr, partitions: Layouts.rpi(), contentSizes: [:], firstOffset: 4 * mib, seed: "s",
            constraints: Layouts.rpiConstraints, roundDiskToPowerOfTwo: true)
        #expect(layout.diskSize == 128 * mib)
        #expect(layout.diskSize & (layout.diskSize - 1) == 0)
    }

    // Case 14: 3T on an MBR board failed in libfdisk with "No space left on device (-28)".
    @Test func mbrCannotAddressPast2TiB() throws {
        var plans = Layouts.rpi()
        plans[2] = PartitionPlan(name: "data", role: .data, type: "linux", size: .fixed(3 << 40))
        do {
            _ = try LayoutPlanner.plan(
                table: .mbr, partitions: plans, contentSizes: [:], firstOffset: 4 * mib, seed: "s",
                constraints: Layouts.rpiConstraints)
            Issue.record("a 3 TiB MBR disk was laid out")
        } catch {
            let text = "\(error)"
            #expect(
                text.contains("'data'") && text.contains("2 TiB") && text.contains("rpi3")
                    && text.contains("data.size"), "\(text)")
        }
        // Just under the limit is fine, on GPT far more is.
        plans[2] = PartitionPlan(name: "data", role: .data, type: "linux", size: .fixed((2 << 40) - 512 * mib))
        _ = try LayoutPlanner.plan(
            table: .mbr, partitions: plans, contentSizes: [:], firstOffset: 4 * mib, seed: "s",
            constraints: Layouts.rpiConstraints)
    }

    @Test func hostFilesystemLimitIsCheckedWithoutWriting() throws {
        let tmp = try TempDir()
        let path = tmp.file("disk.img")
        do {
            try HostLimits.checkWritable(bytes: Int64.max - 4096, at: path, what: "the test image")
            Issue.record("an 8 EiB file was accepted")
        } catch let error as HostLimits.Error {
            #expect("\(error)".contains("the test image") && "\(error)".contains(tmp.path), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: path), "the probe must not leave a file behind")
        try HostLimits.checkWritable(bytes: 1 << 30, at: path, what: "the test image")
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    // Case 7: the bmap comes from what was written, zero blocks included.
    @Test func writtenMapRecordsZeroBlocksAndOutsideWriters() throws {
        let tmp = try TempDir()
        let img = try ImageFile(path: tmp.file("img.raw"), create: true, size: 8 << 20)
        try img.write([UInt8](repeating: 0, count: 8192), at: 1 << 20)  // meaningful zeros, left as a hole
        try img.write([UInt8](repeating: 7, count: 10), at: 5000)
        // An outside writer (as mke2fs would) puts bytes in blocks 1000 and 1002, zeros in 1001.
        let fd = open(img.path, O_WRONLY)
        #expect(fd >= 0)
        for block: Int64 in [1000, 1002] {
            _ = [UInt8](repeating: 9, count: 100).withUnsafeBytes {
                pwrite(fd, $0.baseAddress, 100, off_t(block * 4096 + 7))
            }
        }
        _ = [UInt8](repeating: 0, count: 4096).withUnsafeBytes { pwrite(fd, $0.baseAddress, 4096, off_t(1001 * 4096)) }
        close(fd)
        #expect(try img.recordContent(in: ByteRange(offset: 1000 * 4096, size: 10 * 4096)) == 2)
        #expect(img.written.runs == [1...1, 256...257, 1000...1000, 1002...1002])

        let summary = try BmapWriter.write(image: img.path, mapped: img.written, to: tmp.file("img.bmap"))
        #expect(summary.ranges.map { [$0.first, $0.last] } == [[1, 1], [256, 257], [1000, 1000], [1002, 1002]])
        let out = tmp.file("out.raw")
        let r = try run("bmaptool", ["copy", "--bmap", tmp.file("img.bmap"), img.path, out])
        #expect(r.status == 0, "bmaptool copy failed: \(r.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(contentsOf: URL(fileURLWithPath: img.path)))
    }

    @Test func blockMapMergesOutOfOrderRuns() {
        var map = BlockMap()
        let runs: [ClosedRange<Int64>] = [10...12, 0...0, 14...15, 13...13, 3...5, 2...2, 100...100, 4...20]
        for run in runs { map.insert(run) }
        #expect(map.runs == [0...0, 2...20, 100...100])
        #expect(map.count == 1 + 19 + 1)
        #expect(map.contains(block: 7) && !map.contains(block: 1) && !map.contains(block: 21))
        #expect(map.clipped(toImageSize: 9 * 4096) == [0...0, 2...8])
    }

    // Case 14: hashing a 20 GiB mostly-hole image read every hole through the kernel, twice.
    @Test func holeAwareDigestsMatchSha256sum() throws {
        let tmp = try TempDir()
        let img = try ImageFile(path: tmp.file("img.raw"), create: true, size: (64 << 20) + 1234)
        try img.write((0..<100_000).map { UInt8($0 % 253) }, at: 3 << 20)
        try img.write([UInt8](repeating: 0xEE, count: 5000), at: (64 << 20) - 100, dense: true)
        let ranges = [
            ByteRange(offset: 0, size: img.size), ByteRange(offset: 1 << 20, size: 8 << 20),
            ByteRange(offset: 60 << 20, size: 4 << 20),
        ]
        let digests = try ImageDigest.sha256(path: img.path, ranges: ranges)
        let whole = try run("sha256sum", [img.path]).stdout.prefix(64)
        #expect(digests[0] == String(whole))
        for (i, range) in ranges.enumerated().dropFirst() {
            let r = try run(
                "sh", ["-c", "tail -c +\(range.offset + 1) '\(img.path)' | head -c \(range.size) | sha256sum"])
            #expect(digests[i] == String(r.stdout.prefix(64)), "range \(range)")
        }
    }
}
