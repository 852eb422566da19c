// The layout planner: turns partition plans + content sizes + board constraints into a
// `DiskLayout` with absolute offsets, sizes, type codes and seeded UUIDs. Pure computation:
// nothing is written here, so every rule is testable in memory.

import Foundation
import IngotFilesystems

/// Resolves partition plans into a `DiskLayout`.
public struct LayoutPlanner {
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case noPartitions(board: String)
        case duplicateName(String)
        case tooManyPartitions(table: TableKind, count: Int, limit: Int)
        case typeNotOnTable(partition: String, type: String, table: TableKind)
        case badGeometry(String)
        case fillNotLast(partition: String)
        case contentTooLarge(partition: String, content: Int64, fixed: Int64)
        case diskTooSmall(requested: Int64, needed: Int64)
        case constraint(String)
        case unknownType(String)
        case tooLarge(partition: String, bytes: Int64, limit: Int64)
        case beyondMBR(partition: String, end: Int64, board: String)

        public var description: String {
            switch self {
            case .noPartitions(let board):
                return "the layout for \(board) has no partitions; add at least a boot partition"
            case .duplicateName(let n):
                return "partition name '\(n)' is used twice; partition names must be unique"
            case .tooManyPartitions(let t, let n, let limit):
                return "a \(t.rawValue) table holds at most \(limit) partitions; the layout has \(n) — "
                    + "drop some or use a GPT table"
            case .typeNotOnTable(let p, let type, let t):
                return "partition '\(p)': type '\(type)' has no \(t == .mbr ? "MBR type byte" : "GPT type GUID") "
                    + "and cannot live in a \(t.rawValue) table; pick another type or table"
            case .badGeometry(let why):
                return "invalid layout geometry: \(why)"
            case .fillNotLast(let p):
                return
                    "partition '\(p)' is sized 'fill' but is not the last partition; only the last one may fill the disk"
            case .contentTooLarge(let p, let content, let fixed):
                return "partition '\(p)' is fixed at \(fixed) bytes (\(DiskLayout.human(fixed))) but its content needs "
                    + "\(content) bytes (\(DiskLayout.human(content))); raise its size or shrink the content"
            case .diskTooSmall(let requested, let needed):
                return
                    "the requested disk size \(requested) bytes (\(DiskLayout.human(requested))) is smaller than the "
                    + "\(needed) bytes (\(DiskLayout.human(needed))) the partitions need; raise the disk size"
            case .constraint(let why):
                return why
            case .unknownType(let why):
                return why
            case .tooLarge(let p, let bytes, let limit):
                return "partition '\(p)' would be \(bytes) bytes (\(DiskLayout.human(bytes))), beyond the "
                    + "\(DiskLayout.human(limit)) a disk image can be laid out to; shrink it (data.size in the spec)"
            case .beyondMBR(let p, let end, let board):
                return
                    "partition '\(p)' would end at \(DiskLayout.human(end)), beyond the 2 TiB an MBR partition table "
                    + "can address (\(board) uses MBR); reduce data.size in the spec so the disk stays under 2 TiB"
            }
        }
    }

    static let sector: Int64 = 512
    /// The largest disk the planner lays out (1 PiB): far beyond any spec's data partition, and
    /// far enough below Int64.max that no offset, alignment or power-of-two rounding overflows.
    public static let maximumDiskSize: Int64 = 1 << 50
    /// An MBR entry holds 32-bit sector numbers: nothing may end past 2 TiB.
    public static let mbrLimit: Int64 = (1 << 32) * 512
    /// Backup GPT: 32 sectors of entries + the header sector (+ the last-usable gap of one).
    static let gptTail: Int64 = 33 * 512
    /// Primary GPT: protective MBR + header + 32 sectors of entries.
    static let gptHead: Int64 = 34 * 512

    /// Plans a disk.
    /// - Parameters:
    ///   - table: the partition table kind.
    ///   - partitions: the partitions in on-disk order.
    ///   - contentSizes: bytes each partition's content needs (for `.content` and checks of
    ///     `.fixed` sizes), by partition name.
    ///   - alignment: every partition start and size is a multiple of this (bytes, multiple of 512).
    ///   - firstOffset: where the first partition starts (1 MiB; RPi uses 4 MiB).
    ///   - seed: source of the disk id and every partition UUID (spec digest + board).
    ///   - constraints: the board's rules.
    ///   - roundDiskToPowerOfTwo: round the disk size up to a power of two (QEMU's SD cards).
    ///   - diskSize: a fixed total disk size; `.fill` then takes the rest. Without it the disk is
    ///     as small as the partitions allow.
    public static func plan(
        table: TableKind, partitions: [PartitionPlan], contentSizes: [String: Int64],
        alignment: Int64 = 1 << 20, firstOffset: Int64 = 1 << 20, seed: String,
        constraints: LayoutConstraints, roundDiskToPowerOfTwo: Bool = false, diskSize: Int64? = nil
    ) throws -> DiskLayout {
        guard !partitions.isEmpty else { throw Error.noPartitions(board: constraints.boardName) }
        var seen = Set<String>()
        for p in partitions where !seen.insert(p.name).inserted { throw Error.duplicateName(p.name) }
        if table == .mbr, partitions.count > 4 {
            throw Error.tooManyPartitions(table: table, count: partitions.count, limit: 4)
        }
        if partitions.count > 128 {
            throw Error.tooManyPartitions(table: table, count: partitions.count, limit: 128)
        }
        guard alignment >= sector, alignment % sector == 0 else {
            throw Error.badGeometry("alignment \(alignment) must be a positive multiple of 512 bytes")
        }
        let minFirst = table == .mbr ? sector : gptHead
        guard firstOffset >= minFirst, firstOffset % sector == 0 else {
            throw Error.badGeometry(
                "first partition offset \(firstOffset) must be a multiple of 512 and at least \(minFirst) "
                    + "bytes for a \(table.rawValue) table")
        }

        // Types first: unknown names and table mismatches are the most common spec mistakes.
        var codes: [PartitionType.Code] = []
        for p in partitions {
            let code: PartitionType.Code
            do { code = try PartitionType.named(p.type).resolve(partition: p.name) } catch {
                throw Error.unknownType(String(describing: error))
            }
            if table == .mbr, code.mbr == nil {
                throw Error.typeNotOnTable(partition: p.name, type: p.type, table: table)
            }
            if table != .mbr, code.gpt == nil {
                throw Error.typeNotOnTable(partition: p.name, type: p.type, table: table)
            }
            codes.append(code)
        }
        try check(constraints, table: table, partitions: partitions, codes: codes)

        // Sizes and offsets.
        var sizes: [Int64] = []
        for (i, p) in partitions.enumerated() {
            let content = max(0, contentSizes[p.name] ?? 0)
            let requested: Int64
            switch p.size {
            case .fixed(let n): requested = n
            case .content(let minimum, _): requested = max(minimum, content)
            case .fill: requested = content
            }
            // Checked first, so the arithmetic below cannot overflow on absurd sizes.
            if requested > maximumDiskSize || content > maximumDiskSize {
                throw Error.tooLarge(partition: p.name, bytes: max(requested, content), limit: maximumDiskSize)
            }
            switch p.size {
            case .fixed(let n):
                guard n > 0 else { throw Error.badGeometry("partition '\(p.name)' has a fixed size of \(n) bytes") }
                if content > n { throw Error.contentTooLarge(partition: p.name, content: content, fixed: n) }
                sizes.append(alignUp(n, alignment))
            case .content(let minimum, let headroom):
                let need = content + content * Int64(min(max(0, headroom), 1000)) / 100
                sizes.append(alignUp(max(max(minimum, need), 1), alignment))
            case .fill:
                guard i == partitions.count - 1 else { throw Error.fillNotLast(partition: p.name) }
                sizes.append(alignUp(max(content, 1), alignment))
            }
        }
        var starts: [Int64] = []
        var cursor = firstOffset
        for size in sizes {
            let start = alignUp(cursor, alignment)
            starts.append(start)
            cursor = start + size
        }
        let tail = table == .mbr ? 0 : gptTail
        if cursor + tail > maximumDiskSize {
            throw Error.tooLarge(
                partition: partitions[partitions.count - 1].name, bytes: cursor + tail, limit: maximumDiskSize)
        }
        let needed = alignUp(cursor + tail, alignment)
        var disk = needed
        if let requested = diskSize {
            guard requested % sector == 0 else {
                throw Error.badGeometry("disk size \(requested) is not a multiple of 512 bytes")
            }
            guard requested >= needed else { throw Error.diskTooSmall(requested: requested, needed: needed) }
            guard requested <= maximumDiskSize else {
                throw Error.tooLarge(
                    partition: partitions[partitions.count - 1].name, bytes: requested, limit: maximumDiskSize)
            }
            disk = requested
        }
        if disk > maximumDiskSize {
            throw Error.tooLarge(partition: partitions[partitions.count - 1].name, bytes: disk, limit: maximumDiskSize)
        }
        if roundDiskToPowerOfTwo { disk = nextPowerOfTwo(disk) }
        if table == .mbr {
            for (i, p) in partitions.enumerated() where starts[i] + sizes[i] > mbrLimit {
                throw Error.beyondMBR(partition: p.name, end: starts[i] + sizes[i], board: constraints.boardName)
            }
        }
        if case .fill = partitions[partitions.count - 1].size {
            let last = partitions.count - 1
            let end = alignDown(disk - tail, 4096)
            sizes[last] = max(sizes[last], end - starts[last])
        }

        // Identifiers.
        let mbrSig = SeededID.mbrSignature(seed: seed, for: "disk")
        let mbrID = SeededID.mbrIDString(mbrSig)
        let diskID = table == .mbr ? mbrID : SeededID.uuid(seed: seed, for: "disk")
        var resolved: [ResolvedPartition] = []
        for (i, p) in partitions.enumerated() {
            let number = i + 1
            let uuid =
                table == .mbr
                ? SeededID.mbrPartUUID(mbrSig, number: number) : SeededID.uuid(seed: seed, for: "part|\(p.name)")
            resolved.append(
                ResolvedPartition(
                    number: number, name: p.name, role: p.role,
                    range: ByteRange(offset: starts[i], size: sizes[i]), typeName: p.type,
                    mbrType: codes[i].mbr, gptType: table == .mbr ? nil : codes[i].gpt, uuid: uuid,
                    bootable: p.bootable, label: p.label))
        }
        return DiskLayout(table: table, diskSize: disk, diskID: diskID, mbrDiskID: mbrID, partitions: resolved)
    }

    static func alignUp(_ v: Int64, _ a: Int64) -> Int64 { (v + a - 1) / a * a }
    static func alignDown(_ v: Int64, _ a: Int64) -> Int64 { v / a * a }
    /// The smallest power of two ≥ `v`; `v` must be at most 2^62 (the planner bounds disks far below).
    static func nextPowerOfTwo(_ v: Int64) -> Int64 {
        guard v > 1 else { return 1 }
        guard v <= 1 << 62 else { return v }
        return 1 << (64 - (v - 1).leadingZeroBitCount)
    }
}
