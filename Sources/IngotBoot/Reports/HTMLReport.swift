// The self-contained HTML report: inline CSS and SVG only, no external assets. A colour matrix of
// boards × formats, then per cell a timeline of stage durations (SVG bars), the init events and
// the console log with stage marks. Every piece of console text is HTML-escaped.

import Foundation
import IngotSpec

/// Renders matrix results as one HTML page.
public enum HTMLReport {
    /// Console bytes shown per cell at most (the tail is kept).
    public static let maximumLogBytes = 1 << 20

    /// Renders the page.
    /// - Parameters:
    ///   - cells: matrix results.
    ///   - title: page title.
    ///   - readLog: reads a cell's log (default: from `logPath`; tests may inject).
    public static func render(
        _ cells: [CellResult], title: String = "Ingot boot matrix",
        readLog: (CellResult) -> [UInt8]? = { FileManager.default.contents(atPath: $0.logPath).map { Array($0) } }
    ) -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
            <style>
            body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
            table.matrix{border-collapse:collapse}
            .matrix th,.matrix td{border:1px solid #999;padding:.4em .8em;text-align:center}
            td.pass{background:#b7e4b0} td.fail{background:#f3b0a8} td.error{background:#f9d58b} td.skip{background:#dde3ea;color:#555}
            td.none{background:#eee;color:#888} .warn{color:#8a5a00} .muted{color:#666}
            .cell{border:1px solid #ccc;border-radius:4px;margin:1.2em 0;padding:.6em 1em}
            .cell h2{font-size:1.1em;margin:.2em 0} .ok{color:#17702a} .bad{color:#a1261a}
            pre.log{background:#111;color:#ddd;padding:.6em;max-height:30em;overflow:auto;font-size:12px}
            pre.log .mark{color:#7fd0ff;font-weight:bold} pre.log .fail{color:#ff8a80}
            </style></head><body>
            <h1>\(escape(title))</h1>

            """
        let passed = cells.filter { $0.status == .passed }.count
        let counts = CellStatus.allCases.compactMap { status -> String? in
            let n = cells.filter { $0.status == status }.count
            return n == 0 || status == .passed ? nil : "\(n) \(status.rawValue)"
        }
        html +=
            "<p class=\"summary\">\(passed) of \(cells.count) cells passed\(counts.isEmpty ? "" : " (" + counts.joined(separator: ", ") + ")").</p>\n"
        html += matrix(cells)
        for (index, cell) in cells.enumerated() {
            html += section(cell, index: index, log: readLog(cell))
        }
        html += "</body></html>\n"
        return html
    }

    static func matrix(_ cells: [CellResult]) -> String {
        var boards: [String] = []
        var formats: [String] = []
        for cell in cells {
            if !boards.contains(cell.board) { boards.append(cell.board) }
            if !formats.contains(cell.cell.variant) { formats.append(cell.cell.variant) }
        }
        var html = "<table class=\"matrix\"><tr><th>board \\ format (bus)</th>"
        for format in formats { html += "<th>\(escape(format))</th>" }
        html += "</tr>\n"
        for board in boards {
            html += "<tr><th>\(escape(board))</th>"
            for format in formats {
                let matching = cells.enumerated().filter {
                    $0.element.board == board && $0.element.cell.variant == format
                }
                if matching.isEmpty {
                    html += "<td class=\"none\">–</td>"
                    continue
                }
                // The worst status colours the cell: failed, then error, then skipped.
                let statuses = matching.map(\.element.status)
                let worst: CellStatus = [.failed, .error, .skipped].first { statuses.contains($0) } ?? .passed
                let links = matching.map { index, cell in
                    "<a href=\"#cell-\(index)\" data-status=\"\(cell.status.rawValue)\" title=\"\(escape(cell.summary))\">\(escape(cell.backend.rawValue)): \(label(cell.status))</a>"
                }
                html += "<td class=\"\(cssClass(worst))\">\(links.joined(separator: "<br>"))</td>"
            }
            html += "</tr>\n"
        }
        return html + "</table>\n"
    }

    static func label(_ status: CellStatus) -> String {
        switch status {
        case .passed: return "pass"
        case .failed: return "fail"
        case .error: return "error"
        case .skipped: return "skipped"
        }
    }

    static func cssClass(_ status: CellStatus) -> String {
        switch status {
        case .passed: return "pass"
        case .failed: return "fail"
        case .error: return "error"
        case .skipped: return "skip"
        }
    }

    static func section(_ cell: CellResult, index: Int, log: [UInt8]?) -> String {
        var html = "<div class=\"cell\" id=\"cell-\(index)\" data-status=\"\(cell.status.rawValue)\">\n"
        let tone =
            cell.status == .passed ? "ok" : cell.status == .failed ? "bad" : cell.status == .error ? "warn" : "muted"
        html += "<h2>\(escape(cell.name)) — <span class=\"\(tone)\">\(escape(cell.summary))</span></h2>\n"
        guard cell.status == .passed || cell.status == .failed || cell.attempts > 0 else {
            return html + "</div>\n"  // never ran: the reason is the whole story
        }
        for reason in cell.retryReasons { html += "<p class=\"warn\">retried: \(escape(reason))</p>\n" }
        html += "<p>host \(escape(cell.host)); attempts \(cell.attempts); log \(escape(cell.logPath))"
        for key in cell.durations.keys.sorted() {
            html += "; \(escape(key)) \(String(format: "%.1f", cell.durations[key] ?? 0)) s"
        }
        html += "</p>\n"
        html += timeline(cell.verdict)
        if !cell.verdict.events.isEmpty {
            html += "<ul>"
            for event in cell.verdict.events {
                html += "<li>\(String(format: "%.1f", event.time)) s: \(escape(event.summary))</li>"
            }
            html += "</ul>\n"
        }
        html += consoleLog(cell.verdict, log: log)
        return html + "</div>\n"
    }

    /// An SVG bar chart: one bar per stage, its length the time spent reaching it.
    static func timeline(_ verdict: BootVerdict) -> String {
        let durations = verdict.stageDurations
        guard !durations.isEmpty else { return "<p>No stage reached.</p>\n" }
        let total = max(durations.reduce(0) { $0 + $1.seconds }, 0.001)
        let width = 600.0, row = 22.0, label = 90.0
        let height = row * Double(durations.count) + 4
        var svg =
            "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width + label + 80))\" height=\"\(Int(height))\" role=\"img\">\n"
        var offset = 0.0
        let colours: [BootStage: String] = [
            .firmware: "#8e7cc3", .bootloader: "#6fa8dc", .kernel: "#f6b26b", .`init`: "#93c47d", .ready: "#38761d",
        ]
        for (row_, entry) in durations.enumerated() {
            let y = Double(row_) * row + 2
            let x = label + offset / total * width
            let w = max(entry.seconds / total * width, 1)
            let skipped = verdict.skipped.contains(entry.stage)
            svg +=
                "<text x=\"0\" y=\"\(y + 15)\" font-size=\"12\">\(entry.stage.rawValue)\(skipped ? " (implied)" : "")</text>"
            svg +=
                "<rect x=\"\(String(format: "%.1f", x))\" y=\"\(y)\" width=\"\(String(format: "%.1f", w))\" height=\"\(row - 4)\" fill=\"\(colours[entry.stage] ?? "#999")\"\(skipped ? " fill-opacity=\"0.35\"" : "")><title>\(entry.stage.rawValue): \(String(format: "%.2f", entry.seconds)) s</title></rect>"
            svg +=
                "<text x=\"\(String(format: "%.1f", x + w + 4))\" y=\"\(y + 15)\" font-size=\"12\">\(String(format: "%.1f", entry.seconds)) s</text>\n"
            offset += entry.seconds
        }
        return svg + "</svg>\n"
    }

    /// The console log, escaped, with a mark before the line on which each stage was recognised.
    static func consoleLog(_ verdict: BootVerdict, log: [UInt8]?) -> String {
        guard let log else { return "<p>Console log not available.</p>\n" }
        var marks: [Int: [BootStage]] = [:]
        for (stage, line) in verdict.stageLines { marks[line, default: []].append(stage) }
        let lines = ConsoleText.lines(log)
        var first = 0
        var bytes = 0
        for (index, line) in lines.enumerated().reversed() {
            bytes += line.utf8.count + 1
            if bytes > maximumLogBytes {
                first = index + 1
                break
            }
        }
        var html = "<pre class=\"log\">"
        if first > 0 { html += "<span class=\"mark\">… \(first) earlier lines omitted …</span>\n" }
        for index in first..<lines.count {
            for stage in (marks[index + 1] ?? []).sorted() {
                html += "<span class=\"mark\">▶ stage \(stage.rawValue)</span>\n"
            }
            html += escape(lines[index]) + "\n"
        }
        if !verdict.passed {
            html += "<span class=\"fail\">✖ \(escape(verdict.reason))</span>\n"
        }
        return html + "</pre>\n"
    }

    /// HTML-escapes text.
    public static func escape(_ text: String) -> String { JUnitReport.escape(text) }
}
