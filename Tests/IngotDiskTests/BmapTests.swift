// bmap: write the bmap of a sparse image, read it back with BmapReader, and let bmaptool copy
// the image with it (byte-for-byte equal output); corrupt data or the bmap and expect both
// bmaptool and BmapReader to refuse.

import Foundation
import IngotDisk
import IngotFilesystems
import Testing

@Suite struct BmapTests {
    /// A 16 MiB + 1000 byte sparse image with data at a few places (including a short last block).
    func makeImage(_ path: String) throws -> ImageFile {
        let size: Int64 = (16 << 20) + 1000
        let img = try ImageFile(path: path, create: true, size: size)
        try img.write([UInt8](repeating: 0xab, count: 4096), at: 0)
        try img.write((0..<10_000).map { UInt8($0 % 251) }, at: (1 << 20) + 100)
        try img.write([UInt8](repeating: 0x5a, count: 65536), at: 10 << 20)
        try img.write([1, 2, 3, 4], at: size - 4, dense: true)
        return img
    }

    @Test func bmaptoolCopiesWithOurBmap() throws {
        let tmp = try TempDir()
        let img = try makeImage(tmp.file("img.raw"))
        let bmapPath = tmp.file("img.bmap")
        let summary = try BmapWriter.write(image: img.path, to: bmapPath)
        #expect(summary.imageSize == (16 << 20) + 1000)
        #expect(summary.blocksCount == 4097)
        // Block 0; blocks 256-258 (1 MiB + 100 .. + 10100); 2560-2575; the short last block 4096.
        #expect(summary.ranges.map { [$0.first, $0.last] } == [[0, 0], [256, 258], [2560, 2575], [4096, 4096]])
        #expect(summary.mappedBlocksCount == 1 + 3 + 16 + 1)

        let back = try BmapReader.read(contentsOf: bmapPath)
        #expect(back == summary)
        try BmapReader.verify(back, image: img.path)

        let out = tmp.file("out.raw")
        let r = try run("bmaptool", ["copy", "--bmap", bmapPath, img.path, out])
        #expect(r.status == 0, "bmaptool copy failed: \(r.stderr)")
        #expect(!r.stderr.lowercased().contains("error"), "\(r.stderr)")
        let a = try Data(contentsOf: URL(fileURLWithPath: img.path))
        let b = try Data(contentsOf: URL(fileURLWithPath: out))
        #expect(a == b)
        // bmaptool reports how much it copied: our 21 mapped blocks.
        #expect(r.stderr.contains("84.0 KiB"), "\(r.stderr)")
    }

    @Test func corruptImageFailsChecksum() throws {
        let tmp = try TempDir()
        let img = try makeImage(tmp.file("img.raw"))
        let bmapPath = tmp.file("img.bmap")
        let summary = try BmapWriter.write(image: img.path, to: bmapPath)
        try img.write([0x00], at: (10 << 20) + 7, dense: true)

        let r = try run("bmaptool", ["copy", "--bmap", bmapPath, img.path, tmp.file("out.raw")])
        #expect(r.status != 0)
        #expect(r.stderr.contains("checksum mismatch"), "\(r.stderr)")
        do {
            try BmapReader.verify(summary, image: img.path)
            Issue.record("a corrupt image must not verify")
        } catch let BmapReader.Error.rangeChecksum(_, first, last, _, _) {
            #expect(first == 2560 && last == 2575)
        }
    }

    @Test func editedBmapFailsFileChecksum() throws {
        let tmp = try TempDir()
        let img = try makeImage(tmp.file("img.raw"))
        let bmapPath = tmp.file("img.bmap")
        try BmapWriter.write(image: img.path, to: bmapPath)
        var text = try String(contentsOfFile: bmapPath, encoding: .utf8)
        text = text.replacingOccurrences(of: "<!-- Size of a block in bytes -->", with: "<!-- size of a block -->")
        try text.write(toFile: bmapPath, atomically: true, encoding: .utf8)

        let r = try run("bmaptool", ["copy", "--bmap", bmapPath, img.path, tmp.file("out.raw")])
        #expect(r.status != 0)
        #expect(r.stderr.contains("checksum mismatch for bmap file"), "\(r.stderr)")
        do {
            _ = try BmapReader.read(contentsOf: bmapPath)
            Issue.record("an edited bmap must not parse")
        } catch BmapReader.Error.fileChecksum(let p, let expected, let actual) {
            #expect(p == bmapPath)
            #expect(expected != actual)
        }
    }
}
