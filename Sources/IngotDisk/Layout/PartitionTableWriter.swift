// Writes a `DiskLayout`'s partition table into an image with libfdisk: protective MBR + primary
// and backup GPT for `.gpt`, a dos table with the active flag and disk signature for `.mbr`, and
// for `.hybrid` a GPT whose MBR also lists up to three partitions. Every identifier comes from the
// layout, so the same layout writes the same bytes; the result is read back and checked.

import Foundation
import IngotFilesystems

/// Writes partition tables and MBR boot code.
public struct PartitionTableWriter {
    public enum Error: Swift.Error, CustomStringConvertible {
        case imageTooLarge(path: String, size: Int64, layout: Int64)
        case moved(path: String, partition: Int, want: String, got: String)
        case bootCode(path: String, count: Int)
        case notGPTDiskID(String)

        public var description: String {
            switch self {
            case .imageTooLarge(let p, let size, let layout):
                return "\(p): the image is \(size) bytes but the layout's disk is \(layout) bytes; the backup GPT "
                    + "would land in the wrong place — create the image at the layout's size"
            case .moved(let p, let n, let want, let got):
                return "\(p): partition \(n): libfdisk wrote \(got) instead of \(want); the layout's alignment or "
                    + "sizes are not representable — use 512-byte multiples"
            case .bootCode(let p, let n):
                return "\(p): MBR boot code is \(n) bytes; give 1...440 bytes (e.g. /usr/lib/SYSLINUX/mbr.bin)"
            case .notGPTDiskID(let id):
                return "disk id '\(id)' is not a GUID; a gpt layout needs a GUID disk id"
            }
        }
    }

    static let bootCodeSize = 440

    /// Writes `layout`'s partition table into `image`, growing the image to `layout.diskSize`.
    /// MBR boot code already in the first 440 bytes is kept.
    /// - Parameters:
    ///   - layout: the resolved layout.
    ///   - image: the sparse image file to write into.
    public static func write(_ layout: DiskLayout, to image: ImageFile) throws {
        let current = image.size
        if current > layout.diskSize {
            throw Error.imageTooLarge(path: image.path, size: current, layout: layout.diskSize)
        }
        if current < layout.diskSize { try image.truncate(to: layout.diskSize) }
        let bootCode = try image.read(at: 0, count: bootCodeSize)
        // Start from a clean first sector so stale entries never leak into the new table.
        try image.write([UInt8](repeating: 0, count: 512), at: 0, dense: true)

        let sector: Int64 = 512
        let fd = try FdiskContext(path: image.path, writable: true)
        switch layout.table {
        case .mbr:
            try fd.createLabel("dos")
            try fd.setDiskID(layout.mbrDiskID)
            for p in layout.partitions {
                try fd.addPartition(
                    number: p.number, start: UInt64(p.range.offset / sector), sectors: UInt64(p.range.size / sector),
                    type: String(format: "0x%02x", p.mbrType ?? 0x83), name: nil, uuid: nil)
                if p.bootable { try fd.toggleBootable(p.number) }
            }
        case .gpt, .hybrid:
            guard UUID(uuidString: layout.diskID) != nil else { throw Error.notGPTDiskID(layout.diskID) }
            try fd.createLabel("gpt")
            try fd.setDiskID(layout.diskID)
            for p in layout.partitions {
                try fd.addPartition(
                    number: p.number, start: UInt64(p.range.offset / sector), sectors: UInt64(p.range.size / sector),
                    type: p.gptType ?? PartitionType.linuxData, name: p.label ?? p.name, uuid: p.uuid)
            }
        }
        try fd.write()
        try fd.close()
        // libfdisk wrote through its own descriptor: record its sectors in the image's map.
        image.markWritten(ByteRange(offset: 0, size: sector))
        if layout.table != .mbr {
            image.markWritten(ByteRange(offset: 0, size: LayoutPlanner.gptHead))
            image.markWritten(ByteRange(offset: layout.diskSize - LayoutPlanner.gptTail, size: LayoutPlanner.gptTail))
        }

        if layout.table == .hybrid { try writeHybridMBR(layout, image: image) }
        if bootCode.contains(where: { $0 != 0 }) { try image.write(bootCode, at: 0, dense: true) }
        try verify(layout, path: image.path)
    }

    /// Puts boot code into the first 440 bytes of the image; the disk signature and the partition
    /// table after it are never touched. Longer code (a 512-byte `mbr.bin` image) is cut at 440.
    public static func installMBRBootCode(_ code: [UInt8], image: ImageFile) throws {
        guard !code.isEmpty else { throw Error.bootCode(path: image.path, count: 0) }
        try image.write(Array(code.prefix(bootCodeSize)), at: 0, dense: true)
    }

    /// Rewrites the MBR of a freshly written GPT as a hybrid: up to three partitions that have an
    /// MBR type, then a 0xEE entry covering the GPT structures in front of the first partition.
    static func writeHybridMBR(_ layout: DiskLayout, image: ImageFile) throws {
        var mbr = try image.read(at: 0, count: 512)
        for i in 446..<510 { mbr[i] = 0 }
        let sig = UInt32(layout.mbrDiskID.dropFirst(2), radix: 16) ?? 0
        for i in 0..<4 { mbr[440 + i] = UInt8((sig >> (8 * UInt32(i))) & 0xff) }
        func entry(_ slot: Int, status: UInt8, type: UInt8, lba: UInt32, count: UInt32) {
            let o = 446 + slot * 16
            mbr[o] = status
            // CHS fields say "use LBA" (0xFE 0xFF 0xFF) as every modern tool does.
            mbr[o + 1] = 0xfe; mbr[o + 2] = 0xff; mbr[o + 3] = 0xff
            mbr[o + 4] = type
            mbr[o + 5] = 0xfe; mbr[o + 6] = 0xff; mbr[o + 7] = 0xff
            for i in 0..<4 {
                mbr[o + 8 + i] = UInt8((lba >> (8 * UInt32(i))) & 0xff)
                mbr[o + 12 + i] = UInt8((count >> (8 * UInt32(i))) & 0xff)
            }
        }
        let listed = layout.partitions.filter { $0.mbrType != nil }.prefix(3)
        var slot = 0
        for p in listed {
            entry(
                slot, status: p.bootable ? 0x80 : 0, type: p.mbrType ?? 0x83,
                lba: UInt32(clamping: p.range.offset / 512),
                count: UInt32(clamping: p.range.size / 512))
            slot += 1
        }
        let firstStart = layout.partitions.map(\.range.offset).min() ?? 34 * 512
        entry(slot, status: 0, type: 0xee, lba: 1, count: UInt32(clamping: firstStart / 512 - 1))
        mbr[510] = 0x55
        mbr[511] = 0xaa
        try image.write(mbr, at: 0, dense: true)
    }

    /// Reads the table back and checks libfdisk put every partition where the layout says.
    static func verify(_ layout: DiskLayout, path: String) throws {
        let fd = try FdiskContext(path: path, writable: false)
        let entries = try fd.partitions()
        let ss = Int64(fd.sectorSize)
        for p in layout.partitions {
            let want = "\(p.range)"
            guard let e = entries.first(where: { $0.number == p.number }) else {
                throw Error.moved(path: path, partition: p.number, want: want, got: "no partition")
            }
            let got = ByteRange(offset: Int64(e.start) * ss, size: Int64(e.sectors) * ss)
            if got != p.range { throw Error.moved(path: path, partition: p.number, want: want, got: "\(got)") }
        }
    }
}
