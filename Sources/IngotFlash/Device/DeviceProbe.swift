// The libblkid seam for devices: `DeviceProbe` owns one `blkid_probe` over an open descriptor (a
// disk, an image, or a memfd holding an image's head) and reads either the partition table with
// its entries, or the filesystem superblock in a byte range. IngotDisk's BlkidProbe opens paths
// and reports only table-level values; the flasher needs the partition list from a descriptor it
// already holds exclusively.

import CBlkid
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A partition table as libblkid reads it.
public struct ProbedTable: Codable, Sendable, Equatable {
    /// `gpt` or `dos`.
    public var type: String
    /// GPT disk GUID or MBR signature.
    public var uuid: String?
    public var partitions: [ProbedPartition]
}

/// One entry of a probed table.
public struct ProbedPartition: Codable, Sendable, Equatable {
    public var number: Int
    /// Bytes.
    public var start: Int64
    public var size: Int64
    /// PARTUUID.
    public var uuid: String?
    /// GPT type GUID, or MBR type as `0x..`.
    public var type: String?
    /// GPT partition name.
    public var name: String?
}

/// A libblkid probe over `[offset, offset + size)` of a descriptor it does not own.
public final class DeviceProbe {
    public enum Error: Swift.Error, CustomStringConvertible {
        case call(String, path: String, code: Int32)

        public var description: String {
            switch self {
            case .call(let fn, let path, let code):
                return "\(path): libblkid \(fn) failed (code \(code)); check the device is readable (run as root)"
            }
        }
    }

    private let pr: blkid_probe
    public let path: String

    /// Creates a probe on `fd` (kept open by the caller for the probe's lifetime).
    /// - Parameters:
    ///   - fd: an open descriptor.
    ///   - path: the name used in errors.
    ///   - offset: where the probed range starts.
    ///   - size: its length (0 = to the end).
    public init(fd: Int32, path: String, offset: Int64 = 0, size: Int64 = 0) throws {
        guard let pr = blkid_new_probe() else { throw Error.call("blkid_new_probe", path: path, code: -1) }
        self.pr = pr
        self.path = path
        try check("blkid_probe_set_device", blkid_probe_set_device(pr, fd, blkid_loff_t(offset), blkid_loff_t(size)))
    }

    deinit { blkid_free_probe(pr) }

    @discardableResult
    private func check(_ fn: String, _ rc: Int32) throws -> Int32 {
        guard rc >= 0 else { throw Error.call(fn, path: path, code: rc) }
        return rc
    }

    /// The partition table, or nil when there is none.
    public func partitionTable() throws -> ProbedTable? {
        try check("blkid_probe_enable_superblocks", blkid_probe_enable_superblocks(pr, 0))
        try check("blkid_probe_enable_partitions", blkid_probe_enable_partitions(pr, 1))
        try check(
            "blkid_probe_set_partitions_flags", blkid_probe_set_partitions_flags(pr, Int32(BLKID_PARTS_ENTRY_DETAILS)))
        guard let list = blkid_probe_get_partitions(pr) else { return nil }
        guard let table = blkid_partlist_get_table(list) else { return nil }
        let type = blkid_parttable_get_type(table).map { String(cString: $0) } ?? "unknown"
        let uuid = blkid_parttable_get_id(table).map { String(cString: $0) }
        var parts: [ProbedPartition] = []
        let count = blkid_partlist_numof_partitions(list)
        for i in 0..<max(0, count) {
            guard let p = blkid_partlist_get_partition(list, i) else { continue }
            // Only the primary table's entries (not partitions of nested tables).
            if let t = blkid_partition_get_table(p), t != table { continue }
            let typeString = blkid_partition_get_type_string(p).map { String(cString: $0) }
            let mbrType = blkid_partition_get_type(p)
            parts.append(
                ProbedPartition(
                    number: Int(blkid_partition_get_partno(p)),
                    start: Int64(blkid_partition_get_start(p)) * 512,
                    size: Int64(blkid_partition_get_size(p)) * 512,
                    uuid: blkid_partition_get_uuid(p).map { String(cString: $0) },
                    type: typeString ?? (type == "dos" ? String(format: "0x%x", mbrType) : nil),
                    name: blkid_partition_get_name(p).map { String(cString: $0) }))
        }
        return ProbedTable(type: type, uuid: uuid?.isEmpty == true ? nil : uuid, partitions: parts)
    }

    /// Filesystem values (TYPE, LABEL, UUID, VERSION) found in the probed range; empty when none.
    public func superblock() throws -> [String: String] {
        try check("blkid_probe_enable_partitions", blkid_probe_enable_partitions(pr, 0))
        try check("blkid_probe_enable_superblocks", blkid_probe_enable_superblocks(pr, 1))
        let flags = BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE | BLKID_SUBLKS_VERSION
        try check("blkid_probe_set_superblocks_flags", blkid_probe_set_superblocks_flags(pr, Int32(flags)))
        let rc = blkid_do_safeprobe(pr)
        // -2: two signatures disagree; report what neither says rather than fail discovery.
        if rc == 1 || rc == -2 { return [:] }
        try check("blkid_do_safeprobe", rc)
        var values: [String: String] = [:]
        let n = blkid_probe_numof_values(pr)
        for i in 0..<max(0, n) {
            var name: UnsafePointer<CChar>? = nil
            var data: UnsafePointer<CChar>? = nil
            var len = 0
            guard blkid_probe_get_value(pr, i, &name, &data, &len) == 0, let name, let data else { continue }
            values[String(cString: name)] = String(cString: data)
        }
        return values
    }
}

extension DeviceProbe {
    /// The table of `fd` with each partition's filesystem type and label filled in.
    static func describe(fd: Int32, path: String) throws -> (ProbedTable?, [Int: [String: String]]) {
        guard let table = try DeviceProbe(fd: fd, path: path).partitionTable() else { return (nil, [:]) }
        var filesystems: [Int: [String: String]] = [:]
        for p in table.partitions where p.size > 0 {
            filesystems[p.number] =
                (try? DeviceProbe(fd: fd, path: path, offset: p.start, size: p.size).superblock()) ?? [:]
        }
        return (table, filesystems)
    }
}
