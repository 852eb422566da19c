// Untimed checks after the image benchmark, so a fast but wrong image cannot pass: both images
// are read back with the field's standard tools (sfdisk, mdir, unsquashfs -s, blkid -p) and the
// lines printed side by side. A tool's verdict is parsed; a failure to parse is reported, not hidden.

import Foundation

enum ImageChecks {
    /// One partition as `sfdisk -J` lists it.
    struct Partition {
        var start: Int64
        var size: Int64
        var type: String
    }

    /// Compares the two images and returns printable lines.
    static func compare(ingotImage: String, ingotRootOffset: Int64, peerRoot: String, peerImage: String) throws
        -> [String]
    {
        var lines: [String] = []
        let mine = try partitions(ingotImage)
        let theirs = try partitions(peerImage)
        lines.append("partitions ingot:    " + mine.map(describe).joined(separator: ", "))
        lines.append("partitions genimage: " + theirs.map(describe).joined(separator: ", "))
        if let boot = mine.first, let peerBoot = theirs.first {
            lines.append("boot files ingot:    " + bootFiles(ingotImage, offset: boot.start))
            lines.append("boot files genimage: " + bootFiles(peerImage, offset: peerBoot.start))
        }
        lines.append("root ingot:    " + squashfsSummary(["-o", String(ingotRootOffset), ingotImage]))
        lines.append("root genimage: " + squashfsSummary([peerRoot]))
        if mine.count == 3, theirs.count == 3 {
            lines.append("data ingot:    " + blkid(ingotImage, offset: mine[2].start))
            lines.append("data genimage: " + blkid(peerImage, offset: theirs[2].start))
        }
        return lines
    }

    static func describe(_ p: Partition) -> String {
        "\(p.type)@\(p.start >> 20)MiB+\(Figures.mb(p.size))MB"
    }

    /// The partition table as sfdisk reads it.
    static func partitions(_ image: String) throws -> [Partition] {
        let json = try ChildProcess.capture(["sfdisk", "-J", image])
        guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            let table = object["partitiontable"] as? [String: Any],
            let parts = table["partitions"] as? [[String: Any]]
        else { return [] }
        return parts.map { p in
            Partition(
                start: Int64((p["start"] as? Int) ?? 0) * 512, size: Int64((p["size"] as? Int) ?? 0) * 512,
                type: (p["type"] as? String).map { $0.count > 8 ? String($0.prefix(8)) : $0 } ?? "?")
        }
    }

    /// The boot partition's files with their sizes (mtools reads the FAT at an offset).
    static func bootFiles(_ image: String, offset: Int64) -> String {
        guard let out = try? ChildProcess.capture(["mdir", "-i", "\(image)@@\(offset)", "-a", "::"]) else {
            return "mdir could not read the FAT"
        }
        // "INITRD   IMG  25165824 2026-11-27  10:52  initrd.img": the size precedes the date.
        let files = out.split(separator: "\n").compactMap { line -> String? in
            let f = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard let date = f.firstIndex(where: { $0.count == 10 && $0.filter { $0 == "-" }.count == 2 }), date >= 1,
                let size = Int(f[date - 1])
            else { return nil }
            // A long name follows the time; a plain 8.3 name ("VMLINUZ", "INITRD IMG") precedes the size.
            let name = f.count > date + 2 ? f[(date + 2)...].joined(separator: " ")
                : f[..<(date - 1)].joined(separator: ".").lowercased()
            return "\(name) \(size)"
        }
        let label = out.split(separator: "\n").first { $0.contains("Volume in drive") }.map { String($0) } ?? ""
        return files.joined(separator: ", ") + (label.contains("BOOT") ? " (label BOOT)" : "")
    }

    /// `unsquashfs -s` parsed: compression, block size, inodes and filesystem size.
    static func squashfsSummary(_ args: [String]) -> String {
        guard let out = try? ChildProcess.capture(["unsquashfs", "-s"] + args) else {
            return "unsquashfs could not read the superblock"
        }
        func value(_ prefix: String) -> String {
            out.split(separator: "\n").first { $0.hasPrefix(prefix) }
                .map { $0.dropFirst(prefix.count).trimmingCharacters(in: .whitespaces) } ?? "?"
        }
        return "\(value("Compression")), block \(value("Block size")), \(value("Number of inodes")) inodes, "
            + "\(value("Filesystem size"))"
    }

    /// `blkid -p` at an offset: the filesystem type and label.
    static func blkid(_ image: String, offset: Int64) -> String {
        guard let out = try? ChildProcess.capture(["blkid", "-p", "-O", String(offset), "-o", "export", image]) else {
            return "blkid found no filesystem"
        }
        return out.split(separator: "\n").filter { $0.hasPrefix("TYPE=") || $0.hasPrefix("LABEL=") }
            .joined(separator: " ")
    }
}
