// The last check of a written target: libblkid must see the image's partition table on it (same
// type, same table UUID, same partitions at the same offsets with the same PARTUUIDs and types,
// and, for a raw image, the same filesystem in each).

import CFlash
import Foundation
import IngotTree

#if canImport(Glibc)
    import Glibc
#endif

/// What the image's partition table looks like, and how a target compares.
struct TableCheck: Sendable {
    var table: ProbedTable
    /// Filesystem TYPE per partition number (raw images only: a compressed image's partitions
    /// are not probed).
    var filesystems: [Int: String]

    /// Reads the image's table: a raw image directly, a compressed one from its first MiB
    /// (decompressed into a memfd the size of the image; GPT and MBR live there).
    static func expected(image: FlashImage) throws -> TableCheck? {
        if image.compression == .none {
            let fd = open(image.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw FlashImage.Error.open(image.path, String(cString: strerror(errno))) }
            defer { close(fd) }
            let (table, fs) = try DeviceProbe.describe(fd: fd, path: image.path)
            guard let table else { return nil }
            return TableCheck(table: table, filesystems: fs.compactMapValues { $0["TYPE"] })
        }
        let fd = cflash_memfd("ingot-image-head")
        guard fd >= 0 else { throw FlashImage.Error.open(image.path, "memfd: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard ftruncate(fd, off_t(image.size)) == 0 else {
            throw FlashImage.Error.open(image.path, "memfd: \(String(cString: strerror(errno)))")
        }
        let head = ImageRange(start: 0, end: min(image.size, 1 << 20))
        try FirstDifference.streamImage(image, range: head, blockSize: 1 << 20) { at, bytes in
            _ = pwrite(fd, bytes.baseAddress, bytes.count, off_t(at))
            return true
        }
        guard let table = try DeviceProbe(fd: fd, path: image.path).partitionTable() else { return nil }
        return TableCheck(table: table, filesystems: [:])
    }

    /// Differences between this table and what `fd` shows (empty when they agree), and the table
    /// found there.
    func compare(fd: Int32, path: String) -> ([String], ProbedTable?) {
        let found: ProbedTable?
        let fs: [Int: [String: String]]
        do { (found, fs) = try DeviceProbe.describe(fd: fd, path: path) } catch { return (["\(error)"], nil) }
        guard let found else { return (["no partition table found (expected \(table.type))"], nil) }
        var out: [String] = []
        if found.type != table.type { out.append("table type \(found.type), expected \(table.type)") }
        if found.uuid?.lowercased() != table.uuid?.lowercased() {
            out.append("table UUID \(found.uuid ?? "none"), expected \(table.uuid ?? "none")")
        }
        if found.partitions.count != table.partitions.count {
            out.append("\(found.partitions.count) partitions, expected \(table.partitions.count)")
        }
        for want in table.partitions {
            guard let got = found.partitions.first(where: { $0.number == want.number }) else {
                out.append("partition \(want.number) missing")
                continue
            }
            if got.start != want.start || got.size != want.size {
                out.append("partition \(want.number) at \(got.start)+\(got.size), expected \(want.start)+\(want.size)")
            }
            if got.uuid?.lowercased() != want.uuid?.lowercased() {
                out.append("partition \(want.number) PARTUUID \(got.uuid ?? "none"), expected \(want.uuid ?? "none")")
            }
            if got.type?.lowercased() != want.type?.lowercased() {
                out.append("partition \(want.number) type \(got.type ?? "none"), expected \(want.type ?? "none")")
            }
            if let wantFS = filesystems[want.number], fs[want.number]?["TYPE"] != wantFS {
                out.append(
                    "partition \(want.number) holds \(fs[want.number]?["TYPE"] ?? "no filesystem"), expected \(wantFS)")
            }
        }
        return (out, found)
    }
}
