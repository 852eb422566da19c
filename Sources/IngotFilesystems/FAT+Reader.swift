// FATReader: reads a FAT12/16/32 volume from a byte range of an image file — the BPB, the first
// allocation table, directories with VFAT long names (checksums verified) and file content.
// Used by tests and `ingot inspect`; it reads whole files into memory.

import Foundation

/// Reads FAT12/16/32 volumes (with VFAT long names) from an image file.
public struct FATReader {
    public enum Error: Swift.Error, CustomStringConvertible {
        case notFAT(String, ByteRange, String)
        case corrupt(String, ByteRange, String)
        case notFound(String)
        case isDirectory(String)

        public var description: String {
            switch self {
            case .notFAT(let img, let r, let why):
                return "\(img) \(r): not a FAT volume (\(why)); check the partition offset"
            case .corrupt(let img, let r, let why):
                return "\(img) \(r): FAT volume is damaged: \(why); run fsck.fat -n on it"
            case .notFound(let p): return "\(p): no such file or directory on the FAT volume"
            case .isDirectory(let p): return "\(p): is a directory, not a file"
            }
        }
    }

    let image: ImageFile
    let range: ByteRange
    let geometry: FATGeometry
    let rootCluster: Int
    let fat: [UInt32]

    /// The FAT flavour found (by cluster count, as Linux decides it).
    public var type: FATType { geometry.type }
    /// Bytes per cluster.
    public var clusterSize: Int { geometry.clusterSize }
    /// Data clusters of the volume.
    public var clusters: Int { geometry.clusters }
    /// Volume serial number from the boot sector.
    public let volumeID: UInt32
    /// Volume label from the boot sector, trailing spaces removed.
    public let volumeLabel: String

    /// Opens the volume in `range` of `image`.
    /// - Throws: `FATReader.Error.notFAT` when the boot sector is not a FAT BPB.
    public init(image: ImageFile, range: ByteRange) throws {
        self.image = image
        self.range = range
        let b = try image.read(at: range.offset, count: 512)
        func bad(_ why: String) -> Error { .notFAT(image.path, range, why) }
        guard b[510] == 0x55, b[511] == 0xAA else { throw bad("no 0x55AA boot signature") }
        let bps = Int(b.fatLE16(11))
        guard bps == 512 else { throw bad("\(bps) bytes per sector; only 512 is supported") }
        let spc = Int(b[13])
        guard spc > 0, spc.nonzeroBitCount == 1 else { throw bad("\(spc) sectors per cluster") }
        let reserved = Int(b.fatLE16(14))
        let fats = Int(b[16])
        let rootEntries = Int(b.fatLE16(17))
        let total = b.fatLE16(19) != 0 ? Int(b.fatLE16(19)) : Int(b.fatLE32(32))
        let fat16Size = Int(b.fatLE16(22))
        let fatSize = fat16Size != 0 ? fat16Size : Int(b.fatLE32(36))
        guard reserved > 0, fats > 0, fatSize > 0, total > 0 else { throw bad("empty BPB fields") }
        let rootSectors = (rootEntries * 32 + 511) / 512
        let dataSector = reserved + fats * fatSize + rootSectors
        guard dataSector < total, Int64(total) * 512 <= range.size else {
            throw bad("BPB describes \(total) sectors, more than the range holds")
        }
        let clusters = (total - dataSector) / spc
        let type: FATType = fat16Size == 0 ? .fat32 : (clusters < 4085 ? .fat12 : .fat16)
        geometry = FATGeometry(
            type: type, totalSectors: total, sectorsPerCluster: spc, reservedSectors: reserved, fatSectors: fatSize,
            numberOfFATs: fats, rootEntries: rootEntries, clusters: clusters)
        let ext = type == .fat32 ? 64 : 36
        volumeID = b[ext + 2] == 0x29 ? b.fatLE32(ext + 3) : 0
        volumeLabel =
            b[ext + 2] == 0x29
            ? String(decoding: b[(ext + 7)..<(ext + 18)], as: UTF8.self).replacingOccurrences(
                of: " +$", with: "", options: .regularExpression) : ""
        rootCluster = type == .fat32 ? Int(b.fatLE32(44)) : 0

        let raw = try image.read(at: range.offset + Int64(reserved * 512), count: fatSize * 512)
        let n = min(clusters + 2, type == .fat12 ? raw.count * 2 / 3 : raw.count * 8 / type.bits)
        var table = [UInt32](repeating: 0, count: n)
        for c in 0..<n {
            switch type {
            case .fat12:
                let v = UInt32(raw.fatLE16(c * 3 / 2))
                table[c] = c & 1 == 0 ? v & 0xFFF : v >> 4
            case .fat16: table[c] = UInt32(raw.fatLE16(c * 2))
            case .fat32: table[c] = raw.fatLE32(c * 4) & 0x0FFF_FFFF
            }
        }
        fat = table
    }

    /// Every file and directory (not the root) by absolute path with long names restored.
    public func list() throws -> [String: FATEntry] {
        var out: [String: FATEntry] = [:]
        var pending: [(String, Int)] = [("", rootCluster)]
        var seen: Set<Int> = []
        while let (prefix, cluster) = pending.popLast() {
            for e in try directory(prefix: prefix, cluster: cluster) {
                guard out[e.path] == nil else { throw corrupt("\(e.path) appears twice") }
                out[e.path] = e
                if e.isDirectory {
                    guard e.firstCluster >= 2, seen.insert(Int(e.firstCluster)).inserted else {
                        throw corrupt("directory \(e.path) points at cluster \(e.firstCluster)")
                    }
                    pending.append((e.path, Int(e.firstCluster)))
                }
            }
        }
        return out
    }

    /// The content of the file at `path` (long or short names, case-insensitive).
    public func read(_ path: String) throws -> [UInt8] {
        var cluster = rootCluster
        var entry: FATEntry?
        var prefix = ""
        for comp in path.split(separator: "/").map(String.init) {
            if let e = entry, !e.isDirectory { throw Error.notFound(path) }
            let entries = try directory(prefix: prefix, cluster: cluster)
            let up = comp.uppercased()
            guard
                let e = entries.first(where: {
                    ($0.path as NSString).lastPathComponent.uppercased() == up || $0.shortName == up
                })
            else { throw Error.notFound(path) }
            entry = e
            prefix = e.path
            cluster = Int(e.firstCluster)
        }
        guard let e = entry else { throw Error.isDirectory(path) }
        return try read(e)
    }

    /// The content of a file entry from `list()` (no directory lookups: fast for whole-volume checks).
    public func read(_ e: FATEntry) throws -> [UInt8] {
        guard !e.isDirectory else { throw Error.isDirectory(e.path) }
        guard e.size > 0 else { return [] }
        let chain = try self.chain(Int(e.firstCluster))
        let cs = clusterSize
        guard Int64(chain.count) * Int64(cs) >= e.size else {
            throw corrupt("\(e.path) has \(e.size) bytes but only \(chain.count) clusters")
        }
        var out = [UInt8]()
        out.reserveCapacity(Int(e.size))
        var i = 0
        while i < chain.count && out.count < Int(e.size) {
            // Read runs of consecutive clusters at once.
            var j = i + 1
            while j < chain.count && chain[j] == chain[j - 1] + 1 { j += 1 }
            let want = min((j - i) * cs, Int(e.size) - out.count)
            out += try image.read(at: range.offset + geometry.offset(ofCluster: chain[i]), count: want)
            i = j
        }
        return out
    }

    // MARK: Internals

    private func corrupt(_ why: String) -> Error { .corrupt(image.path, range, why) }

    /// The cluster chain starting at `first`.
    func chain(_ first: Int) throws -> [Int] {
        var out: [Int] = []
        var c = first
        while true {
            guard c >= 2, c < fat.count else { throw corrupt("cluster chain from \(first) reaches cluster \(c)") }
            out.append(c)
            guard out.count <= clusters else { throw corrupt("cluster chain from \(first) loops") }
            let next = Int(fat[c])
            if next >= Int(type.endOfChain & ~7) { return out }
            c = next
        }
    }

    /// Parsed entries of one directory (0 = FAT12/16 root area).
    private func directory(prefix: String, cluster: Int) throws -> [FATEntry] {
        var raw: [UInt8]
        if cluster == 0 {
            raw = try image.read(at: range.offset + geometry.rootOffset, count: geometry.rootEntries * 32)
        } else {
            raw = []
            for c in try chain(cluster) {
                raw += try image.read(at: range.offset + geometry.offset(ofCluster: c), count: clusterSize)
            }
        }
        var out: [FATEntry] = []
        var lfn: [Int: [UInt16]] = [:]
        var lfnSum: UInt8 = 0
        var lfnCount = 0
        for off in stride(from: 0, to: raw.count - 31, by: 32) {
            let first = raw[off]
            if first == 0 { break }
            if first == 0xE5 {
                lfn = [:]
                continue
            }
            let attr = raw[off + 11]
            if attr & 0x3F == 0x0F {
                if first & 0x40 != 0 {
                    lfn = [:]
                    lfnCount = Int(first & 0x1F)
                    lfnSum = raw[off + 13]
                }
                let units = FATNames.lfnOffsets.map { UInt16(raw[off + $0]) | UInt16(raw[off + $0 + 1]) << 8 }
                lfn[Int(first & 0x1F)] = units
                continue
            }
            let short = Array(raw[off..<(off + 11)])
            defer { lfn = [:] }
            if attr & 0x08 != 0 { continue }  // volume label
            if short == Array(".          ".utf8) || short == Array("..         ".utf8) { continue }
            var name = FATNames.display(short)
            if lfn.count == lfnCount, lfnCount > 0, FATNames.checksum(short) == lfnSum {
                var units: [UInt16] = []
                for i in 1...lfnCount { units += lfn[i] ?? [] }
                if let end = units.firstIndex(of: 0) { units = Array(units[..<end]) }
                name = String(decoding: units, as: UTF16.self)
            } else {
                // NT case bits: 0x08 lower-case base, 0x10 lower-case extension.
                let caseBits = raw[off + 12]
                if caseBits & 0x18 != 0 {
                    let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
                    var base = parts.first ?? name
                    var ext = parts.count > 1 ? parts[1] : ""
                    if caseBits & 0x08 != 0 { base = base.lowercased() }
                    if caseBits & 0x10 != 0 { ext = ext.lowercased() }
                    name = ext.isEmpty ? base : base + "." + ext
                }
            }
            let cluster = UInt32(raw.fatLE16(off + 20)) << 16 | UInt32(raw.fatLE16(off + 26))
            let mtime = DOSTime.decode(time: raw.fatLE16(off + 22), date: raw.fatLE16(off + 24))
            out.append(
                FATEntry(
                    path: prefix + "/" + name, shortName: FATNames.display(short), isDirectory: attr & 0x10 != 0,
                    size: Int64(raw.fatLE32(off + 28)), firstCluster: type == .fat32 ? cluster : cluster & 0xFFFF,
                    attributes: attr, mtime: mtime))
        }
        return out
    }
}
