// One cell of the test matrix (board × format × bus × backend) and the JSON report over all cells.

import Foundation
import IngotContract
import IngotSpec

/// The result of booting one image format on one board with one backend.
public struct CellResult: Codable, Equatable, Sendable {
    /// Board profile name.
    public var board: String
    /// The output format booted.
    public var format: OutputFormat
    /// The disk bus (disk formats only).
    public var bus: DiskBus?
    /// The backend kind.
    public var backend: BootBackendKind
    /// Host name or description the cell ran on.
    public var host: String
    /// The stage verdict.
    public var verdict: BootVerdict
    /// Named durations in seconds (e.g. `build`, `boot`, `wall`).
    public var durations: [String: Double]
    /// The serial log file.
    public var logPath: String
    /// How the cell ended for the release gate (derived from the verdict unless set).
    public var status: CellStatus
    /// How many times the cell was started (1 + infrastructure retries; 0 when it never ran).
    public var attempts: Int
    /// Why earlier attempts were retried, one sentence each.
    public var retryReasons: [String]

    /// Creates a cell result.
    /// - Parameters:
    ///   - status: the gate status; nil derives `passed`/`failed` from the verdict.
    ///   - attempts: starts of the machine (0 for a cell that never ran).
    ///   - retryReasons: why earlier attempts were thrown away.
    public init(
        board: String, format: OutputFormat, bus: DiskBus? = nil, backend: BootBackendKind, host: String,
        verdict: BootVerdict,
        durations: [String: Double] = [:], logPath: String, status: CellStatus? = nil, attempts: Int = 1,
        retryReasons: [String] = []
    ) {
        self.board = board
        self.format = format
        self.bus = bus
        self.backend = backend
        self.host = host
        self.verdict = verdict
        self.durations = durations
        self.logPath = logPath
        self.status = status ?? (verdict.passed ? .passed : .failed)
        self.attempts = attempts
        self.retryReasons = retryReasons
    }

    /// Creates the result of `cell` (see the other initializer for the parameters).
    public init(
        cell: MatrixCell, host: String, verdict: BootVerdict, durations: [String: Double] = [:], logPath: String,
        status: CellStatus? = nil, attempts: Int = 1, retryReasons: [String] = []
    ) {
        self.init(
            board: cell.board, format: cell.format, bus: cell.bus, backend: cell.backend, host: host, verdict: verdict,
            durations: durations, logPath: logPath, status: status, attempts: attempts, retryReasons: retryReasons)
    }

    private enum CodingKeys: String, CodingKey {
        case board, format, bus, backend, host, verdict, durations, logPath, status, attempts, retryReasons
    }

    // Reports written before `status` existed still decode (status from the verdict).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            board: try c.decode(String.self, forKey: .board), format: try c.decode(OutputFormat.self, forKey: .format),
            bus: try c.decodeIfPresent(DiskBus.self, forKey: .bus),
            backend: try c.decode(BootBackendKind.self, forKey: .backend),
            host: try c.decode(String.self, forKey: .host),
            verdict: try c.decode(BootVerdict.self, forKey: .verdict),
            durations: try c.decodeIfPresent([String: Double].self, forKey: .durations) ?? [:],
            logPath: try c.decode(String.self, forKey: .logPath),
            status: try c.decodeIfPresent(CellStatus.self, forKey: .status),
            attempts: try c.decodeIfPresent(Int.self, forKey: .attempts) ?? 1,
            retryReasons: try c.decodeIfPresent([String].self, forKey: .retryReasons) ?? [])
    }

    /// The cell this is the result of.
    public var cell: MatrixCell { MatrixCell(board: board, format: format, bus: bus, backend: backend) }

    /// `board/format[/bus]/backend`, the cell's name in reports.
    public var name: String { cell.description }

    /// One line: `passed (ready at 4.1 s)` or `failed in kernel: reason`.
    public var summary: String {
        switch status {
        case .skipped: return "skipped: \(verdict.reason)"
        case .error: return "infrastructure error: \(verdict.reason)"
        case .passed, .failed: break
        }
        if verdict.passed {
            let time = verdict.stageTimes[.ready].map { String(format: " at %.1f s", $0) } ?? ""
            return "passed (ready\(time))"
        }
        return "failed in \(verdict.failedStage?.rawValue ?? "unknown stage"): \(verdict.reason)"
    }
}

/// The machine-readable report: all cells, as JSON.
public enum JSONReport {
    /// The report document.
    public struct Document: Codable, Equatable, Sendable {
        /// Report format version.
        public var version = 1
        /// Number of cells that passed.
        public var passed: Int
        /// Number of cells that failed (guest failures and infrastructure errors).
        public var failed: Int
        /// Number of cells that were skipped (could not exist on this host or build).
        public var skipped: Int?
        /// Number of cells that ended in an infrastructure error.
        public var errors: Int?
        /// All cells.
        public var cells: [CellResult]
    }

    /// Encodes `cells` as pretty, key-sorted JSON.
    public static func render(_ cells: [CellResult]) throws -> Data {
        let passed = cells.filter { $0.status == .passed }.count
        let skipped = cells.filter { $0.status == .skipped }.count
        let errors = cells.filter { $0.status == .error }.count
        let document = Document(
            passed: passed, failed: cells.count - passed - skipped, skipped: skipped, errors: errors, cells: cells)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(document)
    }

    /// Decodes a report written by `render`.
    public static func parse(_ data: Data) throws -> Document {
        try JSONDecoder().decode(Document.self, from: data)
    }
}

/// JUnit XML: one testsuite per board, one testcase per cell; failures carry the stage verdict.
public enum JUnitReport {
    /// Renders `cells` as a JUnit XML document.
    /// - Parameters:
    ///   - cells: matrix results.
    ///   - suiteName: the name of the enclosing `testsuites`.
    public static func render(_ cells: [CellResult], suiteName: String = "ingot") -> String {
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        let failures = cells.filter { $0.status == .failed }.count
        let errors = cells.filter { $0.status == .error }.count
        let skipped = cells.filter { $0.status == .skipped }.count
        let total = cells.reduce(0.0) { $0 + wall($1) }
        xml +=
            "<testsuites name=\"\(escape(suiteName))\" tests=\"\(cells.count)\" failures=\"\(failures)\" errors=\"\(errors)\" skipped=\"\(skipped)\" time=\"\(seconds(total))\">\n"
        var boards: [String] = []
        for cell in cells where !boards.contains(cell.board) { boards.append(cell.board) }
        for board in boards {
            let group = cells.filter { $0.board == board }
            let groupFailures = group.filter { $0.status == .failed }.count
            let groupErrors = group.filter { $0.status == .error }.count
            let groupSkipped = group.filter { $0.status == .skipped }.count
            xml +=
                "  <testsuite name=\"\(escape(board))\" tests=\"\(group.count)\" failures=\"\(groupFailures)\" errors=\"\(groupErrors)\" skipped=\"\(groupSkipped)\" time=\"\(seconds(group.reduce(0.0) { $0 + wall($1) }))\">\n"
            for cell in group {
                xml +=
                    "    <testcase classname=\"ingot.\(escape(cell.board))\" name=\"\(escape("\(cell.cell.variant)/\(cell.backend)"))\" time=\"\(seconds(wall(cell)))\">\n"
                switch cell.status {
                case .passed:
                    break
                case .failed:
                    let stage = cell.verdict.failedStage?.rawValue ?? "unknown"
                    xml +=
                        "      <failure message=\"\(escape("stage \(stage): \(cell.verdict.reason)"))\" type=\"\(escape(stage))\">"
                    xml += escape(cell.verdict.lastLines.joined(separator: "\n"))
                    xml += "</failure>\n"
                case .error:
                    xml += "      <error message=\"\(escape(cell.verdict.reason))\" type=\"infrastructure\">"
                    xml += escape((cell.retryReasons + cell.verdict.lastLines).joined(separator: "\n"))
                    xml += "</error>\n"
                case .skipped:
                    xml += "      <skipped message=\"\(escape(cell.verdict.reason))\"/>\n"
                }
                xml += "      <system-out>\(escape(systemOut(cell)))</system-out>\n"
                xml += "    </testcase>\n"
            }
            xml += "  </testsuite>\n"
        }
        xml += "</testsuites>\n"
        return xml
    }

    static func systemOut(_ cell: CellResult) -> String {
        var lines = ["host: \(cell.host)", "log: \(cell.logPath)", "attempts: \(cell.attempts)", cell.summary]
        for reason in cell.retryReasons { lines.append("retried: \(reason)") }
        for (stage, seconds) in cell.verdict.stageDurations {
            lines.append("\(stage.rawValue): \(String(format: "%.2f", seconds)) s")
        }
        return lines.joined(separator: "\n")
    }

    static func wall(_ cell: CellResult) -> Double {
        cell.durations["wall"] ?? cell.durations["boot"] ?? cell.verdict.stageTimes.values.max() ?? 0
    }

    static func seconds(_ value: Double) -> String { String(format: "%.3f", value) }

    /// XML-escapes text and drops characters XML 1.0 cannot carry.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
