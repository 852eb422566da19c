// `ingot inspect`'s check of a disk image against the manifest of the build that wrote it:
// table kind, disk id, partitions (offset, size, PARTUUID, filesystem) and optionally every
// partition's sha256. The differences are sentences for the user; none means they agree.

import Foundation
import IngotDisk

extension BuildManifest {
    /// What differs between an inspected image and this manifest (empty when they agree).
    /// - Parameters:
    ///   - report: the image as `ImageInspector` read it.
    ///   - image: the image's path (read again when `content` is set).
    ///   - content: also hash every recorded partition and compare its sha256.
    /// - Throws: when the image cannot be read for hashing.
    public func differences(from report: InspectReport, image: String, content: Bool) throws -> [String] {
        var out: [String] = []
        if let table, report.table?.rawValue != table {
            out.append("table: image has \(report.table?.rawValue ?? "none"), manifest has \(table)")
        }
        if let id = diskID, report.diskID?.lowercased() != id.lowercased() {
            out.append("disk id: image has \(report.diskID ?? "none"), manifest has \(id)")
        }
        let recorded = partitions ?? []
        if recorded.count != report.partitions.count {
            out.append("partitions: image has \(report.partitions.count), manifest has \(recorded.count)")
        }
        for r in recorded {
            guard let p = report.partitions.first(where: { $0.number == r.number }) else {
                out.append("partition \(r.number) (\(r.name)): missing from the image")
                continue
            }
            if p.offset != r.offset || p.size != r.size {
                out.append(
                    "partition \(r.number) (\(r.name)): image has offset \(p.offset) size \(p.size), manifest has \(r.offset)/\(r.size)"
                )
            }
            if let u = p.uuid, u.lowercased() != r.uuid.lowercased() {
                out.append("partition \(r.number) (\(r.name)): PARTUUID \(u), manifest has \(r.uuid)")
            }
            if let fs = r.filesystem, p.filesystem != fs {
                out.append(
                    "partition \(r.number) (\(r.name)): filesystem \(p.filesystem ?? "none"), manifest has \(fs)")
            }
            if content, let digest = r.sha256 {
                let actual = try Self.sha256(image: image, offset: p.offset, size: p.size)
                if actual != digest {
                    out.append("partition \(r.number) (\(r.name)): content sha256 \(actual), manifest has \(digest)")
                }
            }
        }
        return out
    }

    /// sha256 of `size` bytes of `image` from `offset`.
    static func sha256(image: String, offset: Int64, size: Int64) throws -> String {
        guard let h = FileHandle(forReadingAtPath: image) else {
            throw ImageInspector.Error.open(image, String(cString: strerror(errno)))
        }
        defer { try? h.close() }
        try h.seek(toOffset: UInt64(offset))
        return try BuildManifest.sha256(reading: h, count: size)
    }
}
