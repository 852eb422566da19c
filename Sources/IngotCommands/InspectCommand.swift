// `ingot inspect IMAGE`: partition table (libfdisk) and filesystems (libblkid) of an image,
// checked against the manifest beside it when there is one. Exit 1 when they differ.

import ArgumentParser
import Foundation
import IngotBuild
import IngotDisk

struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show an image's partitions and filesystems; check them against its manifest.")

    @Argument(help: "A disk image (.img) built by Ingot, or any raw disk image.") var image: String
    @Flag(name: .long, help: "Print JSON.") var json = false
    @Option(name: .long, help: "Manifest to check against (default: NAME-BOARD.manifest.json beside the image).")
    var manifest: String?
    @Flag(name: .long, help: "Also hash every partition and compare with the manifest's digests.")
    var verifyContent = false

    func run() async throws {
        let report = try ImageInspector.inspect(path: image)
        let manifestPath = manifest ?? (image.hasSuffix(".img") ? String(image.dropLast(4)) + ".manifest.json" : image + ".manifest.json")
        var differences: [String] = []
        var checked = false
        if FileManager.default.fileExists(atPath: manifestPath) {
            let m = try BuildManifest.load(path: manifestPath)
            differences = try Self.compare(report: report, manifest: m, image: image, content: verifyContent)
            checked = true
        } else if manifest != nil {
            throw ValidationError("manifest \(manifestPath) does not exist")
        }
        if json {
            struct Output: Encodable {
                var report: InspectReport
                var manifest: String?
                var differences: [String]
            }
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = try enc.encode(Output(report: report, manifest: checked ? manifestPath : nil, differences: differences))
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(report.table())
            if checked {
                print(differences.isEmpty ? "matches \(manifestPath)" : "differs from \(manifestPath):")
                for d in differences { print("  - \(d)") }
            }
        }
        if !differences.isEmpty { throw ExitCode(1) }
    }

    /// Differences between what the image holds and what its manifest recorded.
    static func compare(report: InspectReport, manifest m: BuildManifest, image: String, content: Bool) throws -> [String] {
        var out: [String] = []
        if let table = m.table, report.table?.rawValue != table {
            out.append("table: image has \(report.table?.rawValue ?? "none"), manifest has \(table)")
        }
        if let id = m.diskID, report.diskID?.lowercased() != id.lowercased() {
            out.append("disk id: image has \(report.diskID ?? "none"), manifest has \(id)")
        }
        let recorded = m.partitions ?? []
        if recorded.count != report.partitions.count {
            out.append("partitions: image has \(report.partitions.count), manifest has \(recorded.count)")
        }
        for r in recorded {
            guard let p = report.partitions.first(where: { $0.number == r.number }) else {
                out.append("partition \(r.number) (\(r.name)): missing from the image")
                continue
            }
            if p.offset != r.offset || p.size != r.size {
                out.append("partition \(r.number) (\(r.name)): image has offset \(p.offset) size \(p.size), manifest has \(r.offset)/\(r.size)")
            }
            if let u = p.uuid, u.lowercased() != r.uuid.lowercased() {
                out.append("partition \(r.number) (\(r.name)): PARTUUID \(u), manifest has \(r.uuid)")
            }
            if let fs = r.filesystem, p.filesystem != fs {
                out.append("partition \(r.number) (\(r.name)): filesystem \(p.filesystem ?? "none"), manifest has \(fs)")
            }
            if content, let digest = r.sha256 {
                let actual = try sha256(image: image, offset: p.offset, size: p.size)
                if actual != digest { out.append("partition \(r.number) (\(r.name)): content sha256 \(actual), manifest has \(digest)") }
            }
        }
        return out
    }

    static func sha256(image: String, offset: Int64, size: Int64) throws -> String {
        guard let h = FileHandle(forReadingAtPath: image) else { throw ValidationError("cannot open \(image)") }
        defer { try? h.close() }
        try h.seek(toOffset: UInt64(offset))
        return try BuildManifest.sha256(reading: h, count: size)
    }
}
