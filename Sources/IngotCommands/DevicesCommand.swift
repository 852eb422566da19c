// `ingot devices [--json] [--all]`: the disks an image could be written to — bus, size, model,
// serial, partitions with filesystems and labels — and why the flash policy would refuse each.

import ArgumentParser
import Foundation
import IngotFlash

struct DevicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List the removable disks an image can be flashed to (--all: every whole disk).")

    @Flag(name: .long, help: "Print JSON (one array of devices).") var json = false
    @Flag(name: .long, help: "Also list fixed disks and loop devices.") var all = false

    func run() async throws {
        let disks = DeviceDiscovery().disks()
        let shown = all ? disks : disks.filter(\.isRemovableMedia)
        let policy = FlashPolicy()
        if json {
            var out: [[String: Any]] = []
            let encoder = JSONEncoder()
            for d in shown {
                guard var object = try JSONSerialization.jsonObject(with: encoder.encode(d)) as? [String: Any] else {
                    continue
                }
                let refusals = policy.refusals(device: d, imageSize: 0)
                object["removableMedia"] = d.isRemovableMedia
                object["identity"] = d.identity.token
                object["refusals"] = refusals.map(\.short)
                out.append(object)
            }
            let data = try JSONSerialization.data(
                withJSONObject: out, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        if shown.isEmpty {
            print(
                all
                    ? "no disks found"
                    : "no removable disks found (plug in a card or stick; --all lists fixed disks too)")
            return
        }
        var rows = [["DEVICE", "BUS", "SIZE", "MODEL", "SERIAL", "IDENTITY", "STATE"]]
        var details: [[String]] = []
        for d in shown {
            var state = policy.refusals(device: d, imageSize: 0).filter {
                if case .fixed = $0 { return false }
                return true
            }.map(\.short)
            if !d.isRemovableMedia { state.insert("fixed (needs --allow-fixed)", at: 0) }
            rows.append([
                d.path, d.bus.rawValue + (d.mmcType.map { "/\($0)" } ?? ""), FlashFormat.bytes(d.size), d.displayModel,
                d.serial ?? "-", d.identity.token, state.isEmpty ? "ok" : state.joined(separator: "; "),
            ])
            var lines: [String] = []
            if let table = d.partitionTable { lines.append("    \(table) table \(d.partitionTableUUID ?? "")") }
            for p in d.partitions {
                var text = "    \(p.name ?? "#\(p.number)")  \(FlashFormat.bytes(p.size))  \(p.filesystem ?? "-")"
                if let label = p.label { text += "  \"\(label)\"" }
                if !p.mountpoints.isEmpty { text += "  mounted at \(p.mountpoints.joined(separator: ", "))" }
                if p.swap { text += "  swap" }
                if !p.holders.isEmpty { text += "  held by \(p.holders.joined(separator: ", "))" }
                lines.append(text)
            }
            if let e = d.probeError { lines.append("    (partitions not read: \(e))") }
            details.append(lines)
        }
        let widths = rows[0].indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        for (n, row) in rows.enumerated() {
            print(
                row.indices.map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(
                    separator: "  "
                )
                .trimmingCharacters(in: .whitespaces))
            if n > 0 { for line in details[n - 1] { print(line) } }
        }
        if !all {
            let hidden = disks.count - shown.count
            if hidden > 0 { print("(\(hidden) fixed disk(s) and loop device(s) not shown; --all lists them)") }
        }
    }
}
