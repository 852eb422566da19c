// Finer checks of the squashfs layout: directory headers and index entries, other block sizes,
// and the reader against images made by mksquashfs (so reader and writer cannot share a mistake).

import Foundation
import IngotTree
import Testing

@testable import IngotFilesystems

@Suite struct SquashfsLayoutTests {
    @Test func largeDirectoryGetsHeadersAndIndex() throws {
        let stream = SquashfsMetadataStream(compressor: SquashfsCompressor(.zstd, level: 3))
        stream.append([UInt8](repeating: 0xEE, count: 100))  // start mid-block, like a real table
        var children: [SquashfsDirectoryChild] = []
        for i in 0..<1000 {
            let name = Array(String(format: "entry-with-a-rather-long-name-%04d", i).utf8)
            // Inodes spread over metadata blocks, as in a real inode table.
            children.append(
                SquashfsDirectoryChild(
                    name: name, type: .file, inodeBlock: UInt64(i / 300) * 5000, inodeOffset: (i % 300) * 20,
                    inodeNumber: UInt32(i + 1)))
        }
        let listing = SquashfsInodes.writeListing(children, to: stream)
        #expect(listing.block == 0 && listing.offset == 100)
        #expect(listing.index.count >= 4, "a 42 KiB listing needs an index entry per 8 KiB")

        // Decode the uncompressed listing and check every header and index entry.
        var all: [UInt8] = []
        let bytes = stream.finish()
        var pos = 0
        var blockAt: [UInt64: Int] = [:]
        while pos < bytes.count {
            blockAt[UInt64(pos)] = all.count
            all += try SquashfsReader.metadataBlock(
                bytes, at: &pos, compressor: SquashfsCompressor(.zstd, level: 3), what: "test")
        }
        var r = LEReader(all, at: 100, what: "listing")
        var headerOffsets: [Int] = []
        var seen = 0
        while r.position < 100 + listing.size {
            headerOffsets.append(r.position - 100)
            let count = Int(try r.u32()) + 1
            let block = UInt64(try r.u32())
            let base = try r.u32()
            #expect(count <= 256)
            for _ in 0..<count {
                let child = children[seen]
                #expect(Int(try r.u16()) == child.inodeOffset)
                #expect(UInt32(Int64(base) + Int64(try r.i16())) == child.inodeNumber)
                #expect(block == child.inodeBlock, "an entry's inode must be in its header's block")
                _ = try r.u16()
                let n = Int(try r.u16()) + 1
                #expect(Array(try r.take(n)) == child.name)
                seen += 1
            }
        }
        #expect(seen == 1000)
        #expect(headerOffsets.count >= 5)
        for entry in listing.index {
            // The kernel jumps to (block, (offset + index) % 8192): that must be a header whose
            // first entry carries the index name.
            #expect(headerOffsets.contains(Int(entry.listingOffset)))
            let absolute = 100 + Int(entry.listingOffset)
            #expect(blockAt[UInt64(entry.block)] == absolute / 8192 * 8192)
            var h = LEReader(all, at: absolute + 12 + 6, what: "index target")
            let n = Int(try h.u16()) + 1
            #expect(Array(try h.take(n)) == entry.name)
        }
    }

    @Test func largeFilesUseExtendedInodes() throws {
        // A 5 GiB file starting past 4 GiB cannot be written in a unit test; its inode can.
        let header = SquashfsInodeHeader(permissions: 0o644, uidIndex: 0, gidIndex: 1, mtime: 9, number: 7)
        var layout = SquashfsFileLayout(size: 5 << 30)
        layout.blocksStart = 6 << 30
        layout.blockSizes = Array(repeating: 1000, count: 40960)
        layout.sparseBytes = 131072
        let (type, bytes) = SquashfsInodes.file(header, layout: layout, nlink: 1, xattr: SquashfsFormat.invalidIndex)
        #expect(type == .extFile)
        var r = LEReader(bytes, what: "inode")
        #expect(try r.u16() == SquashfsFormat.InodeType.extFile.rawValue)
        _ = try r.take(14)
        #expect(try r.u64() == 6 << 30)
        #expect(try r.u64() == 5 << 30)
        #expect(try r.u64() == 131072)
        #expect(try r.u32() == 1)
        #expect(try r.u32() == SquashfsFormat.invalidIndex)
        #expect(bytes.count == 16 + 40 + 4 * 40960)
        // Small, singly linked, xattr-free files keep the 32-byte basic inode.
        let small = SquashfsInodes.file(
            header, layout: SquashfsFileLayout(size: 10), nlink: 1, xattr: SquashfsFormat.invalidIndex)
        #expect(small.0 == .file && small.1.count == 32)
        #expect(
            SquashfsInodes.file(header, layout: SquashfsFileLayout(size: 10), nlink: 2, xattr: 0xFFFF_FFFF).0
                == .extFile)
    }

    @Test func incompressibleBlocksAreStoredRaw() throws {
        let dir = try SquashfsTempDir()
        let image = try ImageFile(path: dir.file("d.img"), create: true, size: 4 << 20)
        let sink = SquashfsSink(image: image, range: ByteRange(offset: 0, size: 4 << 20), start: 96)
        let data = SquashfsDataWriter(
            sink: sink, blockSize: 131072, compressors: [SquashfsCompressor(.zstd, level: 3)])
        let tree = try FileTree()
        let noise = try data.add(Content(bytes: squashfsNoise(4096, seed: 1)), from: tree)
        let big = try tree.spool.append(squashfsNoise(131072, seed: 2) + [UInt8](repeating: 9, count: 131072 + 10))
        let mixed = try data.add(big, from: tree)
        try data.finish()
        let words = data.files[mixed].blockSizes
        // Two full blocks and the 10-byte tail as its own short block (mksquashfs's default:
        // only files smaller than a block go into fragments).
        #expect(words.count == 3)
        #expect(words[0] == 131072 | SquashfsFormat.dataUncompressed, "noise is stored as is")
        #expect(words[1] & SquashfsFormat.dataUncompressed == 0 && words[1] < 1000, "repeats compress")
        #expect(words[2] & SquashfsFormat.dataUncompressed != 0 || words[2] < 100, "the tail is a short block")
        #expect(data.files[mixed].blocksStart == 96)
        #expect(data.files[noise].fragment == 0)
        #expect(data.files[mixed].fragment == SquashfsFormat.invalidIndex)
        #expect(data.fragmentEntries.count == 1)
    }

    @Test func smallBlocksRoundTrip() throws {
        let tree = try squashfsSampleTree()
        let dir = try SquashfsTempDir()
        let image = try ImageFile(path: dir.file("small-blocks.img"), create: true, size: 64 << 20)
        let range = ByteRange(offset: 0, size: 64 << 20)
        let report = try SquashfsWriter.write(
            tree: tree, to: image, range: range, options: SquashfsOptions(compression: .gzip, blockSize: 4096))
        #expect(report.dataBlocks > 500)
        let s = try SquashfsTool.run("unsquashfs", ["-s", image.path])
        #expect(s.stdout.contains("Block size 4096"), "\(s.stdout)")
        let out = dir.file("x")
        let x = try SquashfsTool.run("unsquashfs", ["-no-progress", "-d", out, image.path])
        #expect(x.status == 0, "\(x.stderr)")
        try SquashfsWriterTests.compare(tree, withDirectory: out)
        let reader = try SquashfsReader(image: image, range: range)
        #expect(try reader.read("/data/big.bin") == tree.bytes(of: #require(tree.lookup("/data/big.bin")?.content)))
    }

    @Test(arguments: [SquashfsCompression.gzip, .zstd])
    func readerReadsMksquashfsImages(compression: SquashfsCompression) throws {
        // Stage the sample tree with unsquashfs (owners kept: tests run as root), repack it with
        // mksquashfs, and read that image with SquashfsReader.
        let tree = try squashfsSampleTree()
        let dir = try SquashfsTempDir()
        let ours = try ImageFile(path: dir.file("ours.img"), create: true, size: 64 << 20)
        _ = try SquashfsWriter.write(
            tree: tree, to: ours, range: ByteRange(offset: 0, size: 64 << 20), options: SquashfsOptions())
        let staged = dir.file("staged")
        #expect(try SquashfsTool.run("unsquashfs", ["-no-progress", "-d", staged, ours.path]).status == 0)
        let theirs = dir.file("theirs.img")
        let m = try SquashfsTool.run(
            "mksquashfs", [staged, theirs, "-comp", compression.rawValue, "-noappend", "-no-progress", "-quiet"])
        #expect(m.status == 0, "\(m.stderr)")
        let image = try ImageFile(path: theirs)
        let reader = try SquashfsReader(image: image, range: ByteRange(offset: 0, size: image.size))
        let entries = try reader.list()
        try tree.walk { path, node in
            let e = try #require(entries[path], "\(path)")
            #expect(e.mode == node.mode && e.uid == node.uid && e.gid == node.gid, "\(path)")
            #expect(e.xattrs == node.xattrs, "\(path)")
            if case .file(let c) = node.kind { #expect(try reader.read(path) == tree.bytes(of: c), "\(path)") }
            if case .symlink(let t) = node.kind { #expect(e.linkTarget == t, "\(path)") }
        }
    }
}
