// SquashfsReader's low-level helpers: decoding metadata regions and lookup tables, and reading
// a file's data blocks and fragment tail.

import Foundation

extension SquashfsReader {
    /// Decodes the metadata blocks in `[from, to)` (filesystem-relative positions).
    static func region(
        image: ImageFile, range: ByteRange, compressor: SquashfsCompressor, from: UInt64, to: UInt64, what: String
    ) throws -> Region {
        var region = Region()
        guard to > from else { return region }
        let raw = try image.read(at: range.offset + Int64(from), count: Int(to - from))
        var pos = 0
        while pos < raw.count {
            region.blockMap[UInt64(pos)] = region.bytes.count
            let block = try metadataBlock(
                raw, at: &pos, compressor: compressor, what: "\(what) block at \(from + UInt64(pos))")
            region.bytes.append(contentsOf: block)
        }
        return region
    }

    static func metadataBlock(_ raw: [UInt8], at pos: inout Int, compressor: SquashfsCompressor, what: String)
        throws -> [UInt8]
    {
        var r = LEReader(raw, at: pos, what: what)
        let header = try r.u16()
        let length = Int(header & 0x7FFF)
        guard length > 0, length <= SquashfsFormat.metadataSize else {
            throw Error.corrupt("\(what): metadata length \(length)")
        }
        let body = try r.take(length)
        pos = r.position
        if header & SquashfsFormat.metadataUncompressed != 0 { return Array(body) }
        return try compressor.decompress(body, limit: SquashfsFormat.metadataSize, what: what)
    }

    /// Reads a lookup table: the array of block positions at `start`, then those blocks.
    static func lookup(
        image: ImageFile, range: ByteRange, compressor: SquashfsCompressor, start: UInt64, count: Int,
        entrySize: Int, what: String
    ) throws -> (bytes: [UInt8], firstBlock: UInt64?) {
        guard count > 0 else { return ([], nil) }
        let total = count * entrySize
        let blocks = (total + SquashfsFormat.metadataSize - 1) / SquashfsFormat.metadataSize
        var ar = LEReader(try image.read(at: range.offset + Int64(start), count: 8 * blocks), what: what)
        var bytes: [UInt8] = []
        var first: UInt64?
        for _ in 0..<blocks {
            let position = try ar.u64()
            first = first ?? position
            let raw = try image.read(at: range.offset + Int64(position), count: 2 + SquashfsFormat.metadataSize)
            var pos = 0
            bytes.append(contentsOf: try metadataBlock(raw, at: &pos, compressor: compressor, what: "\(what) block"))
        }
        guard bytes.count >= total else { throw Error.corrupt("\(what): \(bytes.count) bytes, need \(total)") }
        return (bytes, first)
    }

    /// Reads one data block or fragment block (size word with bit 24 = uncompressed).
    func dataBlock(at position: UInt64, word: UInt32, what: String) throws -> [UInt8] {
        let size = Int(word & ~SquashfsFormat.dataUncompressed)
        guard size <= Int(superblock.blockSize) else { throw Error.corrupt("\(what): block size word \(word)") }
        let raw = try image.read(at: range.offset + Int64(position), count: size)
        if word & SquashfsFormat.dataUncompressed != 0 { return raw }
        return try compressor.decompress(raw[...], limit: Int(superblock.blockSize), what: what)
    }

    func content(of inode: Inode, path: String) throws -> [UInt8] {
        let size = Int(inode.entry.size)
        let blockSize = Int(superblock.blockSize)
        var out: [UInt8] = []
        out.reserveCapacity(size)
        var position = inode.blocksStart
        for (i, word) in inode.blockSizes.enumerated() {
            let expected = min(blockSize, size - out.count)
            if word == 0 {
                out.append(contentsOf: repeatElement(0, count: expected))
                continue
            }
            let block = try dataBlock(at: position, word: word, what: "\(path) block \(i)")
            guard block.count == expected else {
                throw Error.corrupt("\(path) block \(i): \(block.count) bytes, expected \(expected)")
            }
            out.append(contentsOf: block)
            position += UInt64(word & ~SquashfsFormat.dataUncompressed)
        }
        if inode.fragment != SquashfsFormat.invalidIndex {
            guard Int(inode.fragment) < fragments.count else {
                throw Error.corrupt("\(path): fragment \(inode.fragment) beyond the table")
            }
            let f = fragments[Int(inode.fragment)]
            let block = try dataBlock(at: f.start, word: f.size, what: "\(path) fragment \(inode.fragment)")
            let start = Int(inode.fragmentOffset)
            let n = size - out.count
            guard start + n <= block.count else { throw Error.corrupt("\(path): tail beyond fragment") }
            out.append(contentsOf: block[start..<(start + n)])
        }
        guard out.count == size else { throw Error.corrupt("\(path): read \(out.count) of \(size) bytes") }
        return out
    }
}
