// `ingot boards`: the board profiles, as a table or JSON.

import ArgumentParser
import Foundation
import IngotSpec

struct BoardsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "boards", abstract: "List the board profiles.")

    @OptionGroup var boards: Flags.Boards
    @Flag(name: .long, help: "Print JSON.") var json = false

    func run() async throws {
        let catalog = try boards.catalog()
        if json {
            let rows = catalog.boards.map { b -> [String: String] in
                [
                    "name": b.name, "arch": b.arch.rawValue, "bootloader": b.bootloader.rawValue,
                    "table": b.partitionTable.rawValue, "firmware": b.emulation.firmware.rawValue,
                    "machine": b.emulation.machine, "console": b.console, "summary": b.summary,
                ]
            }
            let data = try JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        let header = ["BOARD", "ARCH", "BOOT", "TABLE", "QEMU", "CONSOLE", "DESCRIPTION"]
        let rows = catalog.boards.map {
            [
                $0.name, $0.arch.rawValue, $0.bootloader.rawValue, $0.partitionTable.rawValue,
                "\($0.emulation.machine)/\($0.emulation.firmware.rawValue)", $0.console, $0.summary,
            ]
        }
        printTable(header: header, rows: rows)
    }
}

func printTable(header: [String], rows: [[String]]) {
    var widths = header.map(\.count)
    for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in
            i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
        }
        .joined(separator: "  ")
    }
    print(line(header))
    for r in rows { print(line(r)) }
}
