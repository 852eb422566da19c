// Printing benchmark figures: aligned tables, human sizes, medians over repeated runs, and the
// target lines ("compose/read 1.4x, target <= 2x: met") every benchmark ends with.

import Foundation

/// A plain text table with a header row; columns are padded to their widest cell.
struct Table {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: String...) { self.header = header }

    mutating func add(_ cells: String...) { rows.append(cells) }

    func render() -> String {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for row in all { for (i, c) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ row: [String]) -> String {
            row.enumerated().map { i, c in
                // First column left-aligned, figures right-aligned.
                let pad = String(repeating: " ", count: max(0, widths[i] - c.count))
                return i == 0 ? c + pad : pad + c
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
    }
}

enum Figures {
    /// "1.23" seconds.
    static func s(_ v: Double) -> String { String(format: "%.2f", v) }
    /// Megabytes (10^6) with one decimal, as `du`/`ls -h` readers expect for RSS and sizes.
    static func mb(_ bytes: Int64) -> String { String(format: "%.1f", Double(bytes) / 1e6) }
    /// "1.42x".
    static func x(_ v: Double) -> String { String(format: "%.2fx", v) }

    /// Median of the values (the mean of the middle two for an even count).
    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let v = values.sorted()
        return v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
    }

    /// A target line: what was measured, the bound, and whether it was met.
    static func target(_ what: String, measured: String, bound: String, met: Bool) -> String {
        "  \(what): \(measured) (target \(bound)): \(met ? "met" : "MISSED")"
    }
}

/// Repeated runs of one phase: medians of the wall times, the largest peak RSS.
struct Samples {
    private(set) var results: [PhaseResult] = []
    private(set) var usages: [ChildUsage] = []

    mutating func add(_ result: PhaseResult, _ usage: ChildUsage) {
        results.append(result)
        usages.append(usage)
    }

    /// Median of a duration the child reported.
    func seconds(_ key: String) -> Double { Figures.median(results.compactMap { $0.seconds[key] }) }
    /// Median wall time of the whole child, seen from outside (process start-up included).
    var wall: Double { Figures.median(usages.map(\.wall)) }
    /// Median CPU time (user + system) of the child and its helpers.
    var cpu: Double { Figures.median(usages.map(\.cpu)) }
    /// Largest peak RSS over the runs.
    var peakRSS: Int64 { usages.map(\.peakRSS).max() ?? 0 }
    /// A count from the last run.
    func count(_ key: String) -> Int64 { results.last?.counts[key] ?? 0 }
}

/// Bytes of the host's memory, processor count and kernel, for the header of every run.
func machineLine() -> String {
    var info = utsname()
    uname(&info)
    let release = withUnsafeBytes(of: &info.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let mem = ProcessInfo.processInfo.physicalMemory
    let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
        .split(separator: "\n").first { $0.hasPrefix("model name") }?
        .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
    return "machine: \(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores, "
        + "\(mem / (1 << 30)) GiB, Linux \(release)"
}
