// FATWriter: writes a FileTree as a FAT12/16/32 volume straight into a byte range of an image
// file (no mounts, no staging). File content is streamed chunk by chunk into contiguous cluster
// runs; directories, the FATs and the boot sectors are generated in memory (small).

import Foundation
import IngotTree

/// Native FAT12/16/32 writer with VFAT long names.
public struct FATWriter {
    public enum Error: Swift.Error, CustomStringConvertible {
        case unsupportedNode(String, String)
        case invalidName(String, String)
        case nameCollision(String, String)
        case shortNamesExhausted(String)
        case fileTooLarge(String, Int64)
        case directoryTooLarge(String, Int)
        case doesNotFit(needed: Int64, available: Int64, type: FATType, clusterSize: Int)
        case noLayout(Int64, FATType?, Int?)
        case invalidLabel(String)
        case invalidClusterSize(Int)
        case contentChanged(String, expected: Int64, got: Int64)

        public var description: String {
            switch self {
            case .unsupportedNode(let p, let what):
                return
                    "\(p): is \(what); FAT cannot store links or special files — copy the target file there instead or leave it out of the FAT partition"
            case .invalidName(let p, let why):
                return "\(p): cannot be stored on FAT: \(why); rename it"
            case .nameCollision(let p, let other):
                return
                    "\(p): FAT names are case-insensitive and this name collides with \"\(other)\" in the same directory; rename one of them"
            case .shortNamesExhausted(let p):
                return "\(p): no free 8.3 short name (~1...~999999) left in this directory; shorten or vary the names"
            case .fileTooLarge(let p, let n):
                return "\(p): \(n) bytes; FAT files must be smaller than 4 GiB — move it to another partition"
            case .directoryTooLarge(let p, let n):
                return "\(p): needs \(n) directory entries, more than FAT's 65536 per directory; split the directory"
            case .doesNotFit(let needed, let available, let type, let cs):
                return
                    "FAT partition of \(available) bytes is too small: the content needs at least \(needed) bytes as \(type) with \(cs)-byte clusters; enlarge the partition (or size it from its content)"
            case .noLayout(let size, let type, let spc):
                let t = type.map { "\($0)" } ?? "FAT"
                let c = spc.map { " with \($0) sectors per cluster" } ?? ""
                return
                    "a \(size)-byte partition cannot hold a valid \(t) volume\(c) (FAT32 needs at least 65529 clusters, about 33 MB with 512-byte clusters); change the partition size or FAT type"
            case .invalidLabel(let l):
                return "volume label \"\(l)\": use 1-11 characters A-Z, 0-9, space or $%'-_@~`!(){}^#&"
            case .invalidClusterSize(let n):
                return "sectors per cluster \(n): must be a power of two from 1 to 128"
            case .contentChanged(let p, let expected, let got):
                return
                    "\(p): the tree says \(expected) bytes but its content streamed \(got); the content spool changed under the build"
            }
        }
    }

    /// Writes a FAT filesystem holding `tree` into `range` of `image`. The range must read as
    /// zeros (a fresh hole), as zero blocks are not written.
    /// - Parameters:
    ///   - tree: the files; only directories and regular files may appear.
    ///   - image: the image file to write into.
    ///   - range: the partition's bytes in `image`.
    ///   - options: type, label, serial number, cluster size and timestamps.
    /// - Returns: the chosen type, cluster size and cluster usage.
    /// - Throws: `FATWriter.Error` (naming both sizes when the content does not fit), or
    ///   `ImageFile.Error` / `FileTree.Error` on I/O failures.
    @discardableResult
    public static func write(tree: FileTree, to image: ImageFile, range: ByteRange, options: FATOptions) throws
        -> FATReport
    {
        let label = try checkedLabel(options)
        let plan = try FATPlan(tree: tree, label: label, defaultTime: options.timestamp)
        let totalSectors = Int(min(range.size / 512, 0xFFFF_FFFF))
        guard
            let g = FATGeometry.choose(
                totalSectors: totalSectors, type: options.type, sectorsPerCluster: try checkedSPC(options),
                rootEntries: plan.rootEntries)
        else { throw Error.noLayout(range.size, options.type, options.sectorsPerCluster) }
        let needed = plan.clustersNeeded(clusterSize: g.clusterSize, type: g.type)
        guard needed <= g.clusters else {
            let minimum =
                (try? requiredSize(plan: plan, options: options)) ?? Int64(g.dataOffset) + Int64(needed)
                * Int64(g.clusterSize)
            throw Error.doesNotFit(needed: minimum, available: range.size, type: g.type, clusterSize: g.clusterSize)
        }
        let runs = plan.allocate(geometry: g)
        let used = runs.reduce(0) { $0 + $1.count }

        // Metadata first (boot sectors, FATs), then directories and files in allocation order,
        // so the image is written front to back.
        let hidden = options.hiddenSectors ?? UInt32(truncatingIfNeeded: range.offset / 512)
        let boot = g.bootSector(
            label: label ?? Array("NO NAME    ".utf8), volumeID: options.volumeID, hiddenSectors: hidden)
        try put(boot, at: 0, image, range)
        if g.type == .fat32 {
            let info = g.fsInfoSector(usedClusters: used)
            try put(info, at: 512, image, range)
            try put(boot, at: 6 * 512, image, range)
            try put(info, at: 7 * 512, image, range)
        }
        let table = FATTable.bytes(type: g.type, runs: runs)
        for i in 0..<g.numberOfFATs {
            try put(table, at: g.fatOffset + Int64(i * g.fatSectors * 512), image, range)
        }
        try writeDirectory(plan.root, plan: plan, geometry: g, tree: tree, image: image, range: range, options: options)
        return FATReport(type: g.type, clusterSize: g.clusterSize, clusters: g.clusters, usedClusters: used)
    }

    /// Minimum partition size (bytes) that holds `tree` with the given options (for "size from
    /// content + headroom" layouts).
    /// - Throws: `FATWriter.Error` when the tree cannot be stored on FAT at all.
    public static func requiredSize(for tree: FileTree, options: FATOptions) throws -> Int64 {
        let plan = try FATPlan(tree: tree, label: try checkedLabel(options), defaultTime: options.timestamp)
        return try requiredSize(plan: plan, options: options)
    }

    static func requiredSize(plan: FATPlan, options: FATOptions) throws -> Int64 {
        let spc = try checkedSPC(options)
        func fits(_ sectors: Int) -> Bool {
            guard
                let g = FATGeometry.choose(
                    totalSectors: sectors, type: options.type, sectorsPerCluster: spc, rootEntries: plan.rootEntries)
            else { return false }
            return plan.clustersNeeded(clusterSize: g.clusterSize, type: g.type) <= g.clusters
        }
        var hi = 64
        while !fits(hi) {
            guard hi < 0xFFFF_FFFF / 2 else { throw Error.noLayout(Int64(hi) * 512, options.type, spc) }
            hi *= 2
        }
        var lo = hi / 2  // does not fit (or is the start)
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            if fits(mid) { hi = mid } else { lo = mid }
        }
        return Int64(hi) * 512
    }

    /// Copies the boot sector of the FAT32 volume in `range` over its backup (BPB "backup boot
    /// sector", sector 6). Boot-loader installers such as `syslinux --install` patch only sector
    /// 0, after which fsck.fat reports "differences between boot sector and its backup"; call
    /// this after installing one. Does nothing on FAT12/16.
    /// - Throws: `ImageFile.Error` on I/O failure, `FATReader.Error.notFAT` when `range` holds no FAT.
    public static func syncBackupBootSector(image: ImageFile, range: ByteRange) throws {
        let reader = try FATReader(image: image, range: range)
        guard reader.type == .fat32 else { return }
        let boot = try image.read(at: range.offset, count: 512)
        let backup = Int64(boot.fatLE16(50))
        guard backup > 0, backup < Int64(boot.fatLE16(14)) else { return }
        try image.write(boot, at: range.offset + backup * 512, dense: true)
    }

    // MARK: Helpers

    static func checkedLabel(_ options: FATOptions) throws -> [UInt8]? {
        let trimmed = options.volumeLabel.uppercased()
        if trimmed == "NO NAME" || trimmed.isEmpty { return nil }
        guard let l = FATNames.label(options.volumeLabel) else { throw Error.invalidLabel(options.volumeLabel) }
        return l
    }

    static func checkedSPC(_ options: FATOptions) throws -> Int? {
        guard let spc = options.sectorsPerCluster else { return nil }
        guard (1...128).contains(spc), spc.nonzeroBitCount == 1 else { throw Error.invalidClusterSize(spc) }
        return spc
    }

    private static func put(_ bytes: [UInt8], at offset: Int64, _ image: ImageFile, _ range: ByteRange) throws {
        try image.write(bytes, at: offset, in: range)
    }

    private static func writeDirectory(
        _ d: FATDirectory, plan: FATPlan, geometry g: FATGeometry, tree: FileTree, image: ImageFile,
        range: ByteRange, options: FATOptions
    ) throws {
        if d.isRoot && g.type != .fat32 {
            try put(plan.records(of: d, size: 0, defaultTime: options.timestamp), at: g.rootOffset, image, range)
        } else {
            let size = d.clusterCount * g.clusterSize
            try put(
                plan.records(of: d, size: size, defaultTime: options.timestamp),
                at: g.offset(ofCluster: d.firstCluster), image, range)
        }
        for item in d.items where item.directory == nil {
            guard let content = item.content, content.size > 0 else { continue }
            try streamFile(item, content: content, geometry: g, tree: tree, image: image, range: range)
        }
        for item in d.items {
            if let sub = item.directory {
                try writeDirectory(
                    sub, plan: plan, geometry: g, tree: tree, image: image, range: range, options: options)
            }
        }
    }

    /// Streams a file's chunks into its contiguous cluster run.
    private static func streamFile(
        _ item: FATItem, content: Content, geometry g: FATGeometry, tree: FileTree, image: ImageFile, range: ByteRange
    ) throws {
        let start = g.offset(ofCluster: item.firstCluster)
        let limit = Int64(item.clusterCount) * Int64(g.clusterSize)
        var done: Int64 = 0
        try tree.readChunks(of: content, chunkSize: 4 << 20) { chunk in
            guard done + Int64(chunk.count) <= limit else {
                throw Error.contentChanged(item.path, expected: content.size, got: done + Int64(chunk.count))
            }
            try image.write(chunk, at: range.offset + start + done)
            done += Int64(chunk.count)
        }
        guard done == content.size else { throw Error.contentChanged(item.path, expected: content.size, got: done) }
    }
}

/// Builds allocation-table bytes from contiguous cluster runs.
enum FATTable {
    /// The FAT covering clusters 0 up to the last allocated one (the rest stays a hole = free).
    static func bytes(type: FATType, runs: [(start: Int, count: Int)]) -> [UInt8] {
        let end = runs.map { $0.start + $0.count }.max() ?? 2
        var entries = [UInt32](repeating: 0, count: end)
        entries[0] = type == .fat32 ? 0x0FFF_FFF8 : (type == .fat16 ? 0xFFF8 : 0xFF8)
        entries[1] = type.endOfChain
        entries.withUnsafeMutableBufferPointer { e in
            for r in runs {
                var c = r.start
                let last = r.start + r.count - 1
                while c < last {
                    e[c] = UInt32(c + 1)
                    c += 1
                }
                e[last] = type.endOfChain
            }
        }
        var out: [UInt8]
        switch type {
        case .fat12:
            out = [UInt8](repeating: 0, count: (end * 3 + 1) / 2)
            for (c, v) in entries.enumerated() {
                let o = c * 3 / 2
                if c & 1 == 0 {
                    out[o] = UInt8(v & 0xFF)
                    out[o + 1] = (out[o + 1] & 0xF0) | UInt8((v >> 8) & 0x0F)
                } else {
                    out[o] = (out[o] & 0x0F) | UInt8((v & 0x0F) << 4)
                    out[o + 1] = UInt8((v >> 4) & 0xFF)
                }
            }
        case .fat16:
            let words = entries.map { UInt16(truncatingIfNeeded: $0).littleEndian }
            out = words.withUnsafeBytes { Array($0) }
        case .fat32:
            let words = entries.map { $0.littleEndian }
            out = words.withUnsafeBytes { Array($0) }
        }
        return out
    }
}
