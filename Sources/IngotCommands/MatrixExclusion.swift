// Cells a matrix leaves out on purpose (`--exclude rpi3/iso`, or `exclude:` in a matrix file):
// `BOARD/FORMAT[/BUS]`, each part a name or `*`. An excluded cell is not built, booted or
// reported — unlike a skipped cell, which is one the run wanted and could not do (and which
// fails the gate under --fail-on-skip). A pattern that names an unknown board, format or bus is
// an error, so a typo cannot silently exclude nothing.

import IngotBoot
import IngotContract

/// One `BOARD/FORMAT[/BUS]` pattern.
struct MatrixExclusion: Equatable, CustomStringConvertible {
    /// Board name, or nil for `*`.
    var board: String?
    /// Format, or nil for `*`.
    var format: OutputFormat?
    /// Bus, or nil for `*` or when the pattern has no bus part (all buses, and non-disk cells).
    var bus: DiskBus?

    /// Why a pattern was refused (the caller adds the file:line or option).
    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    /// Parses `text`; `boards` are the board names that exist.
    static func parse(_ text: String, boards: [String]) throws -> MatrixExclusion {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else {
            throw Problem(
                description: "'\(text)' is not BOARD/FORMAT or BOARD/FORMAT/BUS (each a name or *), e.g. rpi3/iso")
        }
        var exclusion = MatrixExclusion()
        if parts[0] != "*" {
            guard boards.contains(parts[0]) else {
                throw Problem(
                    description: "'\(text)': no board '\(parts[0])' (boards: \(boards.joined(separator: ", ")))")
            }
            exclusion.board = parts[0]
        }
        if parts[1] != "*" {
            guard let format = OutputFormat(rawValue: parts[1]), format.isBootable else {
                let names = OutputFormat.allCases.filter(\.isBootable).map(\.rawValue)
                throw Problem(
                    description: "'\(text)': no format '\(parts[1])' (formats: \(names.joined(separator: ", ")))")
            }
            exclusion.format = format
        }
        if parts.count == 3, parts[2] != "*" {
            guard let bus = DiskBus(rawValue: parts[2]) else {
                let names = DiskBus.allCases.map(\.rawValue)
                throw Problem(description: "'\(text)': no bus '\(parts[2])' (buses: \(names.joined(separator: ", ")))")
            }
            guard exclusion.format?.isDisk != false else {
                throw Problem(description: "'\(text)': \(parts[1]) cells have no bus; write \(parts[0])/\(parts[1])")
            }
            exclusion.bus = bus
        }
        return exclusion
    }

    /// Whether `cell` is left out.
    func matches(_ cell: MatrixCell) -> Bool {
        (board == nil || board == cell.board) && (format == nil || format == cell.format)
            && (bus == nil || bus == cell.bus)
    }

    var description: String {
        [board ?? "*", format?.rawValue ?? "*"].joined(separator: "/") + (bus.map { "/\($0.rawValue)" } ?? "")
    }
}
