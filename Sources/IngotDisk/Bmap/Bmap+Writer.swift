// bmap writer (bmaptool's format 2.0): finds the mapped ranges of a sparse image with
// lseek(SEEK_DATA/SEEK_HOLE), hashes each range with SHA-256 and writes the XML exactly as
// bmaptool lays it out, including BmapFileChecksum (the file's SHA-256 taken while that field
// holds 64 ASCII zeros).

import Crypto
import Foundation
import IngotFilesystems
import IngotSystem

#if canImport(Glibc)
    import Glibc
#endif

/// A run of mapped blocks `first...last` with the SHA-256 of their bytes.
public struct BmapRange: Sendable, Equatable {
    public var first: Int64
    public var last: Int64
    /// Lower-case hex SHA-256 of the range's bytes (the last block may be short at EOF).
    public var sha256: String?
    public var count: Int64 { last - first + 1 }
}

/// What a bmap says (or what was just written).
public struct BmapSummary: Sendable, Equatable {
    public var imageSize: Int64
    public var blockSize: Int
    public var blocksCount: Int64
    public var mappedBlocksCount: Int64
    public var ranges: [BmapRange]
    /// The BmapFileChecksum field.
    public var fileChecksum: String
    public var mappedBytes: Int64 { mappedBlocksCount * Int64(blockSize) }
}

/// Writes bmap files.
public struct BmapWriter {
    public enum Error: Swift.Error, CustomStringConvertible {
        case open(String, String)
        case io(String, String)
        case emptyImage(String)
        case badBlockSize(Int)

        public var description: String {
            switch self {
            case .open(let p, let why): return "\(p): cannot open: \(why)"
            case .io(let p, let why): return "\(p): I/O error while writing the bmap: \(why)"
            case .emptyImage(let p): return "\(p): the image is empty; a bmap needs a non-empty image"
            case .badBlockSize(let n): return "bmap block size \(n) must be a positive multiple of 512"
            }
        }
    }

    /// Writes the bmap of `path` to `bmapPath`.
    /// - Parameters:
    ///   - path: the (sparse) image.
    ///   - blockSize: the bmap block size (4096, as bmaptool uses).
    ///   - bmapPath: where to write the XML.
    /// - Returns: what was written.
    @discardableResult
    public static func write(image path: String, blockSize: Int = 4096, to bmapPath: String) throws -> BmapSummary {
        guard blockSize > 0, blockSize % 512 == 0 else { throw Error.badBlockSize(blockSize) }
        return try withImage(path) { fd, size in
            try write(
                fd: fd, path: path, size: size, blockSize: blockSize,
                ranges: try mappedBlockRanges(fd: fd, size: size, blockSize: Int64(blockSize)), to: bmapPath)
        }
    }

    /// Writes the bmap of `path` from the blocks its writer recorded (`ImageFile.written`), not
    /// from the host filesystem's extents: the same image gives the same bmap on tmpfs, ext4 or
    /// xfs, and blocks written as zeros (free FAT clusters, a cleared sector) are still mapped so
    /// a flash overwrites what was on the device there.
    /// - Parameters:
    ///   - path: the image.
    ///   - mapped: the written 4 KiB blocks.
    ///   - bmapPath: where to write the XML.
    /// - Returns: what was written.
    @discardableResult
    public static func write(image path: String, mapped: BlockMap, to bmapPath: String) throws -> BmapSummary {
        try withImage(path) { fd, size in
            let ranges = mapped.clipped(toImageSize: size).map {
                BmapRange(first: $0.lowerBound, last: $0.upperBound, sha256: nil)
            }
            return try write(
                fd: fd, path: path, size: size, blockSize: Int(BlockMap.blockSize), ranges: ranges, to: bmapPath)
        }
    }

    /// Opens the (non-empty) image read-only for `body`, with its size.
    private static func withImage<T>(_ path: String, _ body: (Int32, Int64) throws -> T) throws -> T {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Error.open(path, String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Error.io(path, String(cString: strerror(errno))) }
        let size = Int64(st.st_size)
        guard size > 0 else { throw Error.emptyImage(path) }
        return try body(fd, size)
    }

    private static func write(
        fd: Int32, path: String, size: Int64, blockSize: Int, ranges initial: [BmapRange], to bmapPath: String
    ) throws -> BmapSummary {
        let bs = Int64(blockSize)
        let blocks = (size + bs - 1) / bs
        var ranges = initial
        for i in ranges.indices {
            ranges[i].sha256 = try sha256(
                fd: fd, path: path, from: ranges[i].first * bs, to: min((ranges[i].last + 1) * bs, size))
        }
        let mapped = ranges.reduce(Int64(0)) { $0 + $1.count }
        var summary = BmapSummary(
            imageSize: size, blockSize: blockSize, blocksCount: blocks, mappedBlocksCount: mapped, ranges: ranges,
            fileChecksum: String(repeating: "0", count: 64))
        let zeroed = render(summary)
        summary.fileChecksum = SHA256.hash(data: Array(zeroed.utf8)).map { String(format: "%02x", $0) }.joined()
        let final = render(summary)
        do { try Data(final.utf8).write(to: URL(fileURLWithPath: bmapPath)) } catch {
            throw Error.io(bmapPath, "\(error)")
        }
        return summary
    }

    // glibc hides these behind _GNU_SOURCE; the values are fixed by the Linux ABI.
    static let seekData: Int32 = 3
    static let seekHole: Int32 = 4

    /// Mapped block ranges from SEEK_DATA/SEEK_HOLE, merged where they touch the same block.
    static func mappedBlockRanges(fd: Int32, size: Int64, blockSize bs: Int64) throws -> [BmapRange] {
        var out: [BmapRange] = []
        var pos: Int64 = 0
        while pos < size {
            let data = lseek(fd, off_t(pos), seekData)
            if data < 0 {
                if errno == ENXIO { break }  // no data after pos
                // Filesystems without SEEK_DATA: treat the rest as mapped.
                out.append(BmapRange(first: pos / bs, last: (size - 1) / bs, sha256: nil))
                break
            }
            var hole = lseek(fd, data, seekHole)
            if hole < 0 { hole = off_t(size) }
            let first = Int64(data) / bs
            let last = (min(Int64(hole), size) - 1) / bs
            if let prev = out.last, first <= prev.last + 1 {
                out[out.count - 1].last = max(prev.last, last)
            } else {
                out.append(BmapRange(first: first, last: last, sha256: nil))
            }
            pos = Int64(hole)
        }
        return out
    }

    static func sha256(fd: Int32, path: String, from: Int64, to: Int64) throws -> String {
        do {
            return try SHA256Stream.hex(descriptor: fd, offset: from, length: max(0, to - from), path: path)
        } catch let error as SystemCallError {
            throw Error.io(path, "\(error.errno)")
        }
    }

    /// The XML, laid out as bmaptool 3.x writes it.
    static func render(_ s: BmapSummary) -> String {
        let human = humanSize(s.imageSize)
        let mappedHuman = humanSize(s.mappedBytes)
        let percent = String(format: "%.1f%%", Double(s.mappedBlocksCount) * 100.0 / Double(max(1, s.blocksCount)))
        var x = """
            <?xml version="1.0" ?>
            <!-- This file contains the block map for an image file, which is basically
                 a list of useful (mapped) block numbers in the image file. In other words,
                 it lists only those blocks which contain data (boot sector, partition
                 table, file-system metadata, files, directories, extents, etc). These
                 blocks have to be copied to the target device. The other blocks do not
                 contain any useful data and do not have to be copied to the target
                 device.

                 The block map an optimization which allows to copy or flash the image to
                 the image quicker than copying of flashing the entire image. This is
                 because with bmap less data is copied: <MappedBlocksCount> blocks instead
                 of <BlocksCount> blocks.

                 Besides the machine-readable data, this file contains useful commentaries
                 which contain human-readable information like image size, percentage of
                 mapped data, etc.

                 The 'version' attribute is the block map file format version in the
                 'major.minor' format. The version major number is increased whenever an
                 incompatible block map format change is made. The minor number changes
                 in case of minor backward-compatible changes. -->

            <bmap version="2.0">
                <!-- Image size in bytes: \(human) -->
                <ImageSize> \(s.imageSize) </ImageSize>

                <!-- Size of a block in bytes -->
                <BlockSize> \(s.blockSize) </BlockSize>

                <!-- Count of blocks in the image file -->
                <BlocksCount> \(s.blocksCount) </BlocksCount>

                <!-- Count of mapped blocks: \(mappedHuman) or \(percent) -->
                <MappedBlocksCount> \(s.mappedBlocksCount) </MappedBlocksCount>

                <!-- Type of checksum used in this file -->
                <ChecksumType> sha256 </ChecksumType>

                <!-- The checksum of this bmap file. When it is calculated, the value of
                     the checksum has be zero (all ASCII "0" symbols).  -->
                <BmapFileChecksum> \(s.fileChecksum) </BmapFileChecksum>

                <!-- The block map which consists of elements which may either be a
                     range of blocks or a single block. The 'chksum' attribute
                     (if present) is the checksum of this blocks range. -->
                <BlockMap>

            """
        for r in s.ranges {
            let attr = r.sha256.map { " chksum=\"\($0)\"" } ?? ""
            let span = r.first == r.last ? "\(r.first)" : "\(r.first)-\(r.last)"
            x += "        <Range\(attr)> \(span) </Range>\n"
        }
        x += "    </BlockMap>\n</bmap>\n"
        return x
    }

    /// bmaptool's human_size.
    static func humanSize(_ size: Int64) -> String {
        if size == 1 { return "1 byte" }
        if size < 512 { return "\(size) bytes" }
        var v = Double(size)
        for unit in ["KiB", "MiB", "GiB", "TiB"] {
            v /= 1024
            if v < 1024 { return String(format: "%.1f ", v) + unit }
        }
        return String(format: "%.1f EiB", v / 1024)
    }
}
