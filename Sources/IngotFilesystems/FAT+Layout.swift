// FAT volume geometry (reserved sectors, FAT size, root directory, cluster count) chosen like
// mkfs.fat, and the boot sector / FSInfo sector bytes that describe it.

import Foundation

/// The computed layout of one FAT volume, in 512-byte sectors relative to the volume start.
struct FATGeometry: Equatable {
    static let sectorSize = 512

    var type: FATType
    var totalSectors: Int
    var sectorsPerCluster: Int
    var reservedSectors: Int
    var fatSectors: Int
    var numberOfFATs = 2
    /// Root directory entries (FAT12/16 fixed root area); 0 on FAT32.
    var rootEntries: Int
    var clusters: Int

    var clusterSize: Int { sectorsPerCluster * Self.sectorSize }
    var rootSectors: Int { (rootEntries * 32 + Self.sectorSize - 1) / Self.sectorSize }
    var fatOffset: Int64 { Int64(reservedSectors * Self.sectorSize) }
    var rootOffset: Int64 { Int64((reservedSectors + numberOfFATs * fatSectors) * Self.sectorSize) }
    var dataSector: Int { reservedSectors + numberOfFATs * fatSectors + rootSectors }
    var dataOffset: Int64 { Int64(dataSector * Self.sectorSize) }

    /// Byte offset (within the volume) of a data cluster (numbered from 2).
    func offset(ofCluster c: Int) -> Int64 { dataOffset + Int64(c - 2) * Int64(clusterSize) }

    /// Lays out a volume of `totalSectors`, or returns nil when the cluster count falls outside
    /// what `type` allows with this cluster size.
    static func make(type: FATType, totalSectors: Int, sectorsPerCluster spc: Int, rootEntries: Int) -> FATGeometry? {
        let reserved0 = type == .fat32 ? 32 : 1
        let rootEntries = type == .fat32 ? 0 : rootEntries
        let rootSectors = (rootEntries * 32 + sectorSize - 1) / sectorSize
        // Align the data area to the cluster size (at least 4 KiB) like mkfs.fat, so clusters
        // sit on file-system block boundaries.
        let align = max(spc, 8)
        var fatSectors = 1
        for _ in 0..<64 {
            let meta = reserved0 + 2 * fatSectors + rootSectors
            let dataStart = (meta + align - 1) / align * align
            guard dataStart < totalSectors else { return nil }
            let clusters = (totalSectors - dataStart) / spc
            let fatBytes = type == .fat12 ? ((clusters + 2) * 3 + 1) / 2 : (clusters + 2) * type.bits / 8
            let need = max(1, (fatBytes + sectorSize - 1) / sectorSize)
            if need <= fatSectors {
                guard type.clusterRange.contains(clusters) else { return nil }
                return FATGeometry(
                    type: type, totalSectors: totalSectors, sectorsPerCluster: spc,
                    reservedSectors: dataStart - 2 * fatSectors - rootSectors, fatSectors: fatSectors,
                    rootEntries: rootEntries, clusters: clusters)
            }
            fatSectors = need
        }
        return nil
    }

    /// Chooses type and cluster size for `totalSectors` as mkfs.fat would, honouring the caller's
    /// choices when given. Returns nil when no valid layout exists.
    static func choose(
        totalSectors: Int, type: FATType?, sectorsPerCluster: Int?, rootEntries: Int
    ) -> FATGeometry? {
        let sizeMB = (totalSectors + 2047) / 2048
        let types: [FATType] = type.map { [$0] } ?? (totalSectors > 1_064_960 ? [.fat32] : [.fat12, .fat16])
        var candidates: [(FATType, Int)] = []
        if let spc = sectorsPerCluster {
            candidates = types.map { ($0, spc) }
        } else if types == [.fat32] {
            // Microsoft's table (as mkfs.fat): 512 B up to 260 MB, 4 KiB up to 8 GB, ... then
            // smaller clusters when the volume is too small for FAT32 with that size.
            let start =
                sizeMB > 32 * 1024 ? 64 : sizeMB > 16 * 1024 ? 32 : sizeMB > 8 * 1024 ? 16 : sizeMB > 260 ? 8 : 1
            var spc = start
            while spc >= 1 {
                candidates.append((.fat32, spc))
                spc /= 2
            }
        } else {
            // mkfs.fat starts FAT12/16 at 4 sectors per cluster and doubles until a type fits;
            // small volumes fall back to smaller clusters.
            for spc in [4, 8, 16, 32, 64, 128, 2, 1] {
                for t in types { candidates.append((t, spc)) }
            }
        }
        for (t, spc) in candidates {
            if let g = make(type: t, totalSectors: totalSectors, sectorsPerCluster: spc, rootEntries: rootEntries) {
                return g
            }
        }
        return nil
    }

    // MARK: Boot sector and FSInfo

    /// The boot sector (sector 0, and sector 6 on FAT32).
    func bootSector(label: [UInt8], volumeID: UInt32, hiddenSectors: UInt32) -> [UInt8] {
        var s = [UInt8](repeating: 0, count: Self.sectorSize)
        let fat32 = type == .fat32
        s[0] = 0xEB
        s[1] = fat32 ? 0x58 : 0x3C
        s[2] = 0x90
        s.fatReplace(3, Array("MSWIN4.1".utf8))
        s.fatPut16(11, UInt16(Self.sectorSize))
        s[13] = UInt8(sectorsPerCluster)
        s.fatPut16(14, UInt16(reservedSectors))
        s[16] = UInt8(numberOfFATs)
        s.fatPut16(17, UInt16(rootEntries))
        if totalSectors < 0x10000 && !fat32 {
            s.fatPut16(19, UInt16(totalSectors))
        } else {
            s.fatPut32(32, UInt32(totalSectors))
        }
        s[21] = 0xF8  // fixed disk
        if !fat32 { s.fatPut16(22, UInt16(fatSectors)) }
        s.fatPut16(24, 63)  // sectors per track
        s.fatPut16(26, 255)  // heads
        s.fatPut32(28, hiddenSectors)
        var ext = 36
        if fat32 {
            s.fatPut32(36, UInt32(fatSectors))
            s.fatPut16(40, 0)  // mirrored FATs
            s.fatPut16(42, 0)  // version 0.0
            s.fatPut32(44, 2)  // root directory cluster
            s.fatPut16(48, 1)  // FSInfo sector
            s.fatPut16(50, 6)  // backup boot sector
            ext = 64
        }
        s[ext] = 0x80  // drive number
        s[ext + 2] = 0x29  // extended boot signature
        s.fatPut32(ext + 3, volumeID)
        s.fatReplace(ext + 7, label)
        s.fatReplace(ext + 18, Array((type.description + "   ").utf8))
        // Boot code: "int 18h" (try the next boot device), then halt forever.
        let code = ext + 26
        s.fatReplace(code, [0xCD, 0x18, 0xF4, 0xEB, 0xFD])
        s[510] = 0x55
        s[511] = 0xAA
        return s
    }

    /// The FAT32 FSInfo sector (sector 1, and 7 as backup).
    func fsInfoSector(usedClusters: Int) -> [UInt8] {
        var s = [UInt8](repeating: 0, count: Self.sectorSize)
        s.fatPut32(0, 0x4161_5252)
        s.fatPut32(484, 0x6141_7272)
        s.fatPut32(488, UInt32(clusters - usedClusters))
        s.fatPut32(492, usedClusters < clusters ? UInt32(2 + usedClusters) : 0xFFFF_FFFF)
        s.fatPut32(508, 0xAA55_0000)
        return s
    }
}

extension Array where Element == UInt8 {
    mutating func fatPut16(_ at: Int, _ v: UInt16) {
        self[at] = UInt8(v & 0xFF)
        self[at + 1] = UInt8(v >> 8)
    }

    mutating func fatPut32(_ at: Int, _ v: UInt32) {
        for i in 0..<4 { self[at + i] = UInt8((v >> (8 * UInt32(i))) & 0xFF) }
    }

    mutating func fatReplace(_ at: Int, _ bytes: [UInt8]) {
        self.replaceSubrange(at..<(at + bytes.count), with: bytes)
    }

    func fatLE16(_ at: Int) -> UInt16 { UInt16(self[at]) | UInt16(self[at + 1]) << 8 }

    func fatLE32(_ at: Int) -> UInt32 {
        UInt32(self[at]) | UInt32(self[at + 1]) << 8 | UInt32(self[at + 2]) << 16 | UInt32(self[at + 3]) << 24
    }
}
