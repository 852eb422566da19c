// `ingot inspect`: reads an image's partition table with libfdisk and probes each partition with
// libblkid, producing a Codable report (for `--json`), a human table, and the differences from
// the `DiskLayout` a manifest recorded.

import Foundation
import IngotFilesystems

#if canImport(Glibc)
    import Glibc
#endif

/// One partition as found on an image.
public struct InspectedPartition: Codable, Sendable, Equatable {
    public var number: Int
    /// Absolute byte offset and size.
    public var offset: Int64
    public var size: Int64
    /// MBR type byte (dos tables).
    public var mbrType: UInt8?
    /// GPT type GUID, upper case (gpt tables).
    public var gptType: String?
    /// libfdisk's description of the type.
    public var typeDescription: String?
    /// PARTUUID: the GPT partition GUID, or `xxxxxxxx-NN` on MBR.
    public var uuid: String?
    /// GPT partition name (PARTLABEL).
    public var name: String?
    public var bootable: Bool
    /// What libblkid found inside: TYPE, UUID, LABEL, VERSION, BLOCK_SIZE...
    public var filesystem: String?
    public var filesystemUUID: String?
    public var filesystemLabel: String?
    public var filesystemVersion: String?
    public var probe: [String: String]
}

/// What `inspect` reports about an image.
public struct InspectReport: Codable, Sendable, Equatable {
    public var path: String
    public var size: Int64
    /// `mbr`, `gpt` or `hybrid`; nil when there is no partition table.
    public var table: TableKind?
    /// GPT disk GUID (upper case) or MBR `0x........`.
    public var diskID: String?
    public var partitions: [InspectedPartition]

    /// A human-readable table.
    public func table(width: Int = 0) -> String {
        var lines = [
            "\(path): \(size) bytes (\(DiskLayout.human(size))), "
                + (table.map { "\($0.rawValue) table, disk id \(diskID ?? "?")" } ?? "no partition table")
        ]
        let header = ["#", "start", "size", "type", "partuuid", "name", "boot", "fs", "fs-uuid", "fs-label"]
        var rows = [header]
        for p in partitions {
            let type = p.gptType ?? p.mbrType.map { String(format: "0x%02x", $0) } ?? "-"
            rows.append([
                "\(p.number)", "\(p.offset)", DiskLayout.human(p.size), type, p.uuid ?? "-", p.name ?? "-",
                p.bootable ? "*" : "", [p.filesystem, p.filesystemVersion].compactMap { $0 }.joined(separator: " "),
                p.filesystemUUID ?? "-", p.filesystemLabel ?? "-",
            ])
        }
        let widths = header.indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        for row in rows {
            lines.append(
                "  "
                    + row.indices.map { DiskLayout.pad(row[$0], widths[$0]) }.joined(separator: "  ")
                    .trimmingCharacters(in: .whitespaces))
        }
        return lines.joined(separator: "\n")
    }

    /// What differs between this image and the layout it was built from (empty when they agree).
    public func differences(from layout: DiskLayout) -> [String] {
        var out: [String] = []
        if table != layout.table {
            out.append("table: image has \(table?.rawValue ?? "none"), layout has \(layout.table.rawValue)")
        }
        if diskID?.lowercased() != layout.diskID.lowercased() {
            out.append("disk id: image has \(diskID ?? "none"), layout has \(layout.diskID)")
        }
        if partitions.count != layout.partitions.count {
            out.append("partition count: image has \(partitions.count), layout has \(layout.partitions.count)")
        }
        for want in layout.partitions {
            guard let got = partitions.first(where: { $0.number == want.number }) else {
                out.append("partition \(want.number) (\(want.name)): missing from the image")
                continue
            }
            let tag = "partition \(want.number) (\(want.name))"
            if got.offset != want.range.offset || got.size != want.range.size {
                out.append(
                    "\(tag): image has \(ByteRange(offset: got.offset, size: got.size)), layout has \(want.range)")
            }
            if layout.table == .mbr {
                if got.mbrType != want.mbrType {
                    out.append(
                        "\(tag): type \(got.mbrType.map { String(format: "0x%02x", $0) } ?? "none") vs "
                            + "\(want.mbrType.map { String(format: "0x%02x", $0) } ?? "none")")
                }
                if got.bootable != want.bootable {
                    out.append("\(tag): bootable flag is \(got.bootable), layout wants \(want.bootable)")
                }
            } else {
                if got.gptType?.uppercased() != want.gptType?.uppercased() {
                    out.append("\(tag): type \(got.gptType ?? "none") vs \(want.gptType ?? "none")")
                }
                if got.name != (want.label ?? want.name) {
                    out.append("\(tag): name '\(got.name ?? "")' vs '\(want.label ?? want.name)'")
                }
            }
            if got.uuid?.lowercased() != want.uuid.lowercased() {
                out.append("\(tag): uuid \(got.uuid ?? "none") vs \(want.uuid)")
            }
        }
        return out
    }
}

/// Reads partition tables and filesystems of images.
public struct ImageInspector {
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case open(String, String)
        case notAnImage(String, String)
        case partitionOutOfRange(path: String, partition: Int, start: UInt64, sectors: UInt64, imageSize: Int64)

        public var description: String {
            switch self {
            case .open(let p, let why): return "\(p): cannot open the image for inspection: \(why)"
            case .notAnImage(let p, let why): return "\(p): \(why); give a disk image file (.img) or a block device"
            case .partitionOutOfRange(let p, let n, let start, let sectors, let size):
                return
                    "\(p): partition \(n) starts at sector \(start) and is \(sectors) sectors long, which lies outside "
                    + "the \(size)-byte image (or any possible disk); the partition table is damaged or forged — "
                    + "rewrite it (e.g. rebuild the image) before using it"
            }
        }
    }

    /// Size (works for block devices too) and first sector, opened read-only. Only regular files
    /// and block devices are opened, without blocking: a FIFO would otherwise hang forever.
    static func readHead(_ path: String) throws -> (Int64, [UInt8]) {
        var st = stat()
        guard stat(path, &st) == 0 else { throw Error.open(path, String(cString: strerror(errno))) }
        let type = st.st_mode & S_IFMT
        guard type == S_IFREG || type == S_IFBLK else {
            let what =
                type == S_IFDIR
                ? "a directory"
                : type == S_IFIFO
                    ? "a FIFO"
                    : type == S_IFCHR
                        ? "a character device"
                        : type == S_IFSOCK ? "a socket" : "not a regular file"
            throw Error.notAnImage(path, "it is \(what), not a disk image")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw Error.open(path, String(cString: strerror(errno))) }
        defer { close(fd) }
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == type else {
            throw Error.notAnImage(path, "it changed while being opened")
        }
        let size = Int64(lseek(fd, 0, SEEK_END))
        guard size > 0 else { throw Error.notAnImage(path, "the file is empty (0 bytes)") }
        guard size >= 512 else {
            throw Error.notAnImage(path, "the file is \(size) bytes, too small to hold a partition table")
        }
        var sector = [UInt8](repeating: 0, count: 512)
        let n = sector.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 512, 0) }
        return (max(0, size), n == 512 ? sector : [])
    }

    /// Byte offset and size of a table entry, checked: a forged GPT can hold any 64-bit LBA.
    static func byteRange(of e: FdiskEntry, sectorSize ss: Int64, path: String, imageSize: Int64) throws -> (
        Int64, Int64
    ) {
        let fail = Error.partitionOutOfRange(
            path: path, partition: e.number, start: e.start, sectors: e.sectors, imageSize: imageSize)
        guard let start = Int64(exactly: e.start), let sectors = Int64(exactly: e.sectors) else { throw fail }
        let (offset, o1) = start.multipliedReportingOverflow(by: ss)
        let (bytes, o2) = sectors.multipliedReportingOverflow(by: ss)
        guard !o1, !o2, !offset.addingReportingOverflow(bytes).overflow else { throw fail }
        return (offset, bytes)
    }

    /// Inspects the image (or block device) at `path`.
    public static func inspect(path: String) throws -> InspectReport {
        let (size, mbr) = try readHead(path)
        let fd = try FdiskContext(path: path, writable: false)
        guard let label = fd.labelName else {
            return InspectReport(path: path, size: size, table: nil, diskID: nil, partitions: [])
        }
        let rawID = try fd.diskID()
        let isGPT = label == "gpt"
        var table: TableKind = isGPT ? .gpt : .mbr
        if isGPT, hasHybridMBR(mbr) { table = .hybrid }
        let diskID = isGPT ? rawID.uppercased() : rawID.lowercased()
        let signature = UInt32(rawID.lowercased().replacingOccurrences(of: "0x", with: ""), radix: 16)
        let ss = Int64(fd.sectorSize)
        var parts: [InspectedPartition] = []
        for e in try fd.partitions() {
            let (offset, bytes) = try byteRange(of: e, sectorSize: ss, path: path, imageSize: size)
            // A probe failure (e.g. two stale signatures) is part of the report, not a reason to stop.
            let values: [String: String]
            do { values = try BlkidProbe(path: path, offset: offset, size: bytes).probe() } catch {
                values = ["ERROR": String(describing: error)]
            }
            let uuid = isGPT ? e.uuid : signature.map { SeededID.mbrPartUUID($0, number: e.number) }
            parts.append(
                InspectedPartition(
                    number: e.number, offset: offset, size: bytes, mbrType: isGPT ? nil : UInt8(clamping: e.code),
                    gptType: e.typeGUID, typeDescription: e.typeName, uuid: uuid, name: isGPT ? e.name : nil,
                    bootable: e.bootable, filesystem: values["TYPE"], filesystemUUID: values["UUID"],
                    filesystemLabel: values["LABEL"], filesystemVersion: values["VERSION"], probe: values))
        }
        return InspectReport(path: path, size: size, table: table, diskID: diskID, partitions: parts)
    }

    /// A GPT's MBR is hybrid when it lists anything besides the 0xEE protective entry.
    static func hasHybridMBR(_ mbr: [UInt8]) -> Bool {
        guard mbr.count == 512 else { return false }
        return (0..<4).contains { i in
            let type = mbr[446 + i * 16 + 4]
            return type != 0 && type != 0xee
        }
    }
}
