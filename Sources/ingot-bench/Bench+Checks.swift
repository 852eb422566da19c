// Untimed checks after the image benchmark, so a fast but wrong image cannot pass. Both images are
// read back with the field's tools and each result decides the verdict:
//   - `sfdisk -J`: three partitions of the same types on both sides, boot at 1 MiB, boot and data
//     64 MiB;
//   - mtools: the boot partition holds exactly the input files, byte for byte (`mcopy` out, compare);
//   - `unsquashfs -s` / `-lln` at the root partition's offset: zstd, 128 KiB blocks, and the listing
//     equal to the tar's (`tar -tv`: paths, types, modes, owners, sizes, link targets);
//   - `blkid -p` at the data partition's offset: an ext4 filesystem labelled "data".

import Foundation

enum ImageChecks {
    /// One partition as `sfdisk -J` lists it.
    struct Partition {
        var start: Int64
        var size: Int64
        var type: String
    }

    /// Runs every check on both images and records them in `verdict`.
    /// - Returns: whether all passed.
    static func run(
        ingotImage: String, peerImage: String, tar: String, bootDir: String, scratch: String, verdict: Verdict
    ) throws -> Bool {
        var ok = true
        let mine = try partitions(ingotImage)
        let theirs = try partitions(peerImage)
        let mib: Int64 = 1 << 20
        for (side, parts) in [("ingot", mine), ("genimage", theirs)] {
            var problems: [String] = []
            if parts.count != 3 { problems.append("\(parts.count) partitions, expected 3 (boot, root, data)") }
            if let boot = parts.first, boot.start != mib || boot.size != 64 * mib {
                problems.append("boot at \(boot.start) size \(boot.size), expected 1 MiB and 64 MiB")
            }
            if parts.count == 3, parts[2].size != 64 * mib {
                problems.append("data size \(parts[2].size), expected 64 MiB")
            }
            ok =
                verdict.check(
                    "\(side): partition table (sfdisk -J): " + parts.map(describe).joined(separator: ", "),
                    passed: problems.isEmpty, problems: problems) && ok
        }
        ok =
            verdict.check(
                "partition types equal on both sides", passed: mine.map(\.type) == theirs.map(\.type) && !mine.isEmpty,
                detail: "ingot \(mine.map(\.type)), genimage \(theirs.map(\.type))") && ok

        let expected = try Listing.tar(tar)
        for (side, image, parts) in [("ingot", ingotImage, mine), ("genimage", peerImage, theirs)]
        where parts.count == 3 {
            let boot = try bootFiles(image, offset: parts[0].start, inputs: bootDir, scratch: scratch)
            ok =
                verdict.check(
                    "\(side): boot partition files (mdir, mcopy) vs the input files", passed: boot.isEmpty,
                    detail: boot.isEmpty
                        ? BootFiles.files.map { "\($0.name) \($0.size) bytes equal" }.joined(separator: ", ") : "",
                    problems: boot) && ok

            let at = ["-o", String(parts[1].start), image]
            let summary = try ChildProcess.capture(["unsquashfs", "-s"] + at)
            let zstd = summary.contains("Compression zstd")
            let block = summary.contains("Block size 131072")
            ok =
                verdict.check(
                    "\(side): root superblock (unsquashfs -s)", passed: zstd && block,
                    detail: "\(zstd ? "zstd" : "NOT zstd"), \(block ? "128 KiB blocks" : "NOT 128 KiB blocks")") && ok
            let diffs = Listing.differences(expected: expected, actual: try Listing.squashfs(at))
            ok =
                verdict.check(
                    "\(side): root, unsquashfs -lln vs tar -tv (\(expected.count) paths: type, mode, owner, size, link, device)",
                    passed: diffs.isEmpty && !expected.isEmpty, detail: "\(diffs.count) differences", problems: diffs)
                && ok

            let data = blkid(image, offset: parts[2].start)
            ok =
                verdict.check(
                    "\(side): data partition (blkid -p)",
                    passed: data.contains("TYPE=ext4") && data.contains("LABEL=data"),
                    detail: data) && ok
        }
        return ok
    }

    static func describe(_ p: Partition) -> String {
        "\(p.type.count > 8 ? String(p.type.prefix(8)) : p.type)@\(p.start >> 20)MiB+\(p.size >> 20)MiB"
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
                type: (p["type"] as? String) ?? "?")
        }
    }

    /// The boot partition's names must be the input files' and each file's bytes equal.
    /// - Returns: the problems found (empty when the partition is right).
    static func bootFiles(_ image: String, offset: Int64, inputs: String, scratch: String) throws -> [String] {
        var problems: [String] = []
        let spec = "\(image)@@\(offset)"
        guard let listing = try? ChildProcess.capture(["mdir", "-b", "-i", spec, "::"]) else {
            return ["mdir could not read the FAT at offset \(offset)"]
        }
        // mdir -b prints one "::/NAME" per file, with its long name.
        let names = Set(
            listing.split(separator: "\n").map { String($0.split(separator: "/").last ?? "") }
                .filter { !$0.isEmpty })
        let wanted = Set(BootFiles.files.map(\.name))
        if names != wanted { problems.append("files \(names.sorted()), expected \(wanted.sorted())") }
        for file in BootFiles.files {
            let copy = scratch + "/boot-check.bin"
            try? FileManager.default.removeItem(atPath: copy)
            guard (try? ChildProcess.capture(["mcopy", "-n", "-i", spec, "::" + file.name, copy])) != nil else {
                problems.append("\(file.name): mcopy could not read it")
                continue
            }
            let got = FileManager.default.contents(atPath: copy)
            let want = FileManager.default.contents(atPath: inputs + "/" + file.name)
            if got == nil || got != want {
                problems.append("\(file.name): \(got?.count ?? 0) bytes, not equal to the input's \(want?.count ?? 0)")
            }
            try? FileManager.default.removeItem(atPath: copy)
        }
        return problems
    }

    /// `blkid -p` at an offset: the filesystem type and label ("TYPE=ext4 LABEL=data").
    static func blkid(_ image: String, offset: Int64) -> String {
        guard let out = try? ChildProcess.capture(["blkid", "-p", "-O", String(offset), "-o", "export", image]) else {
            return "blkid found no filesystem"
        }
        return out.split(separator: "\n").filter { $0.hasPrefix("TYPE=") || $0.hasPrefix("LABEL=") }
            .joined(separator: " ")
    }
}
