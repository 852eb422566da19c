// Squashfs metadata: the stream of 8 KiB blocks (each with a 2-byte length header, compressed
// when that helps) that holds inodes, directories and the lookup tables, plus the sequential
// output sink that places everything into the partition's byte range.

import Foundation

/// Accumulates metadata and cuts it into compressed 8 KiB blocks as it grows, so a position
/// (compressed block start, offset inside the uncompressed block) is known for every byte.
final class SquashfsMetadataStream {
    private let compressor: SquashfsCompressor
    /// Finished blocks, headers included.
    private(set) var output: [UInt8] = []
    /// Start of every finished block inside `output`.
    private(set) var blockStarts: [UInt64] = []
    private var pending: [UInt8] = []

    init(compressor: SquashfsCompressor) {
        self.compressor = compressor
        pending.reserveCapacity(2 * SquashfsFormat.metadataSize)
    }

    /// Where the next appended byte lands: block start relative to the table, offset inside it.
    var position: (block: UInt64, offset: Int) { (UInt64(output.count), pending.count) }

    /// Total uncompressed bytes appended so far.
    private(set) var uncompressedSize = 0

    func append(_ bytes: [UInt8]) {
        pending.append(contentsOf: bytes)
        uncompressedSize += bytes.count
        while pending.count >= SquashfsFormat.metadataSize {
            emit(Array(pending[0..<SquashfsFormat.metadataSize]))
            pending.removeFirst(SquashfsFormat.metadataSize)
        }
    }

    /// Emits the last partial block and returns the table bytes.
    func finish() -> [UInt8] {
        if !pending.isEmpty {
            emit(pending)
            pending.removeAll()
        }
        return output
    }

    private func emit(_ block: [UInt8]) {
        blockStarts.append(UInt64(output.count))
        var w = LEWriter()
        if let packed = compressor.compress(block) {
            w.u16(UInt16(packed.count))
            output.append(contentsOf: w.bytes)
            output.append(contentsOf: packed)
        } else {
            w.u16(UInt16(block.count) | SquashfsFormat.metadataUncompressed)
            output.append(contentsOf: w.bytes)
            output.append(contentsOf: block)
        }
    }
}

/// Sequential writer into a partition's byte range. Once the range is exhausted it keeps
/// counting without writing, so the caller can report how much space the content needs.
final class SquashfsSink {
    let image: ImageFile
    let range: ByteRange
    /// Next write position relative to the start of the range.
    private(set) var position: Int64
    private var buffer: [UInt8] = []
    private var bufferStart: Int64
    private(set) var overflowed = false
    private static let bufferLimit = 1 << 20

    init(image: ImageFile, range: ByteRange, start: Int64) {
        self.image = image
        self.range = range
        position = start
        bufferStart = start
        buffer.reserveCapacity(Self.bufferLimit + 256 * 1024)
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        buffer.append(contentsOf: bytes)
        position += Int64(bytes.count)
        if buffer.count >= Self.bufferLimit { try flush() }
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    func flush() throws {
        defer {
            bufferStart = position
            buffer.removeAll(keepingCapacity: true)
        }
        guard !buffer.isEmpty, !overflowed else { return }
        guard bufferStart + Int64(buffer.count) <= range.size else {
            overflowed = true
            return
        }
        try image.write(buffer, at: range.offset + bufferStart)
    }

    /// Writes bytes at a position already passed (the superblock), inside the range.
    func patch(_ bytes: [UInt8], at offset: Int64) throws {
        try image.write(bytes, at: offset, in: range)
    }
}

extension SquashfsMetadataStream {
    /// Builds a lookup table (fragment, export, id, xattr id): the entries as metadata blocks,
    /// followed by the array of absolute block positions. Returns the bytes and where the array
    /// starts relative to `base`.
    static func lookupTable(_ entries: [UInt8], compressor: SquashfsCompressor, base: Int64)
        -> (bytes: [UInt8], arrayOffset: Int64)
    {
        let stream = SquashfsMetadataStream(compressor: compressor)
        stream.append(entries)
        var bytes = stream.finish()
        let arrayOffset = Int64(bytes.count)
        var w = LEWriter()
        for start in stream.blockStarts { w.u64(UInt64(base) + start) }
        bytes.append(contentsOf: w.bytes)
        return (bytes, arrayOffset)
    }
}
