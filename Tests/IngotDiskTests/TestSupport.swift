// Shared helpers for IngotDisk tests: temp dirs, running host tools, sfdisk JSON decoding, and
// the standard layouts the tests plan.

import Foundation
import IngotDisk
import IngotFilesystems
import IngotTestSupport
import Testing

/// A temporary directory removed when the test is done with it.
final class TempDir {
    let path: String
    init() throws {
        let p = NSTemporaryDirectory() + "ingot-disk-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        path = p
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

struct ToolResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a host tool and captures its output.
func run(_ tool: String, _ args: [String]) throws -> ToolResult {
    let result = try Command.run(tool, args)
    return ToolResult(status: result.status, stdout: result.stdout, stderr: result.stderr)
}

/// `sfdisk --json` output.
struct SfdiskDump: Decodable {
    struct Table: Decodable {
        var label: String
        var id: String
        var unit: String
        var sectorsize: Int?
        var partitions: [Part]
    }
    struct Part: Decodable {
        var node: String
        var start: Int64
        var size: Int64
        var type: String
        var uuid: String?
        var name: String?
        var bootable: Bool?
    }
    var partitiontable: Table

    static func read(_ image: String) throws -> Table {
        let r = try run("sfdisk", ["--json", image])
        #expect(r.status == 0, "sfdisk --json failed: \(r.stderr)")
        return try JSONDecoder().decode(SfdiskDump.self, from: Data(r.stdout.utf8)).partitiontable
    }
}

/// Parses `blkid -o export` / `KEY=value` lines.
func parseExport(_ text: String) -> [String: String] {
    var out: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let eq = line.firstIndex(of: "=") else { continue }
        out[String(line[..<eq])] = String(line[line.index(after: eq)...])
    }
    return out
}

enum Layouts {
    static let mib: Int64 = 1 << 20

    static func efi(root: String = "linux-root-x86-64") -> [PartitionPlan] {
        [
            PartitionPlan(name: "boot", role: .esp, type: "esp", size: .fixed(32 * mib), label: "EFI"),
            PartitionPlan(
                name: "root-a", role: .rootA, type: root, size: .content(minimum: 8 * mib, headroomPercent: 10)),
            PartitionPlan(name: "data", role: .data, type: "linux-data", size: .fill, label: "data"),
        ]
    }

    static func rpi(first: PartitionPlan? = nil) -> [PartitionPlan] {
        [
            first
                ?? PartitionPlan(name: "boot", role: .boot, type: "fat32-lba", size: .fixed(64 * mib), bootable: true),
            PartitionPlan(
                name: "root-a", role: .rootA, type: "linux", size: .content(minimum: 16 * mib, headroomPercent: 0)),
            PartitionPlan(name: "data", role: .data, type: "linux-data", size: .fixed(8 * mib)),
        ]
    }

    static let rpiConstraints = LayoutConstraints(
        requireTable: .mbr, firstPartitionRole: .boot, allowedFirstTypes: ["fat32-lba", "fat16"], forbidTypes: ["esp"],
        boardName: "rpi3")
    static let efiConstraints = LayoutConstraints(requireTable: .gpt, requireESP: true, boardName: "x86_64-efi")
}
