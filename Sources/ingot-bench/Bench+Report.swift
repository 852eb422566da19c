// Printing benchmark figures: aligned tables, human sizes, min/median/max over repeated runs, the
// target lines ("compose / header walk: 1.42x (target <= 2x): MET") every benchmark ends with,
// and the verdict that makes a benchmark exit non-zero when any untimed check failed.

import ArgumentParser
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
        "  \(what): \(measured) (target \(bound)): \(met ? "MET" : "MISSED")"
    }

    /// "min / median / max" of seconds, e.g. "0.05 / 0.06 / 0.09".
    static func spread(_ values: [Double]) -> String {
        guard let lo = values.min(), let hi = values.max() else { return "-" }
        return "\(s(lo)) / \(s(median(values))) / \(s(hi))"
    }

    /// "min / median / max" of byte counts in MB.
    static func spreadMB(_ values: [Int64]) -> String {
        guard let lo = values.min(), let hi = values.max() else { return "-" }
        let med = Int64(median(values.map(Double.init)))
        return "\(mb(lo)) / \(mb(med)) / \(mb(hi))"
    }
}

/// Repeated runs of one phase (or one peer command): every figure kept per run, so medians and
/// min/median/max spreads can be printed.
struct Samples {
    private(set) var results: [PhaseResult] = []
    private(set) var usages: [ChildUsage] = []

    /// Adds one run. A phase's own peak RSS (`selfPeakRSS`, see `Phases.selfPeakRSS`) replaces
    /// the one seen from outside, which never falls below the runner's floor.
    mutating func add(_ result: PhaseResult, _ usage: ChildUsage) {
        var usage = usage
        if let own = result.counts["selfPeakRSS"], own > 0 { usage.peakRSS = own }
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

    /// Every run's value of a duration the child reported.
    func allSeconds(_ key: String) -> [Double] { results.compactMap { $0.seconds[key] } }
    /// Every run's wall time, seen from outside.
    var walls: [Double] { usages.map(\.wall) }
    /// Every run's CPU time.
    var cpus: [Double] { usages.map(\.cpu) }
    /// Every run's peak RSS.
    var rsses: [Int64] { usages.map(\.peakRSS) }
}

/// Two runs' figures added (a peer made of two commands, e.g. `bsdtar -x` then `mksquashfs`):
/// wall and CPU add up, peak RSS is the larger one.
func combined(_ a: ChildUsage, _ b: ChildUsage) -> ChildUsage {
    ChildUsage(
        wall: a.wall + b.wall, peakRSS: max(a.peakRSS, b.peakRSS), cpu: a.cpu + b.cpu, status: a.status | b.status)
}

/// The outcome of one benchmark command: timing targets and untimed checks. A target is MET only
/// when its figure is within bound and every check it depends on passed; any failed check makes
/// the command exit non-zero. Timing misses are printed (MISSED) but do not change the exit
/// status: figures on a shared machine are not assertions.
final class Verdict {
    /// Printed before every check and target line.
    var indent = "  "
    private(set) var failedChecks: [String] = []
    private(set) var missedTargets: [String] = []

    /// Records and prints an untimed check: its description and whether it passed.
    /// - Returns: `passed`, for chaining into targets.
    @discardableResult
    func check(_ what: String, passed: Bool, detail: String = "", problems: [String] = []) -> Bool {
        print("\(indent)\(what): \(passed ? "ok" : "MISMATCH")\(detail.isEmpty ? "" : " (\(detail))")")
        for line in problems.prefix(8) { print("\(indent)    \(line)") }
        if problems.count > 8 { print("\(indent)    ... and \(problems.count - 8) more") }
        if !passed { failedChecks.append(what) }
        return passed
    }

    /// Prints a target line. `checks` are the untimed checks the figure depends on: a figure from
    /// a wrong result never counts as met.
    func target(_ what: String, measured: String, bound: String, withinBound: Bool, checks: Bool) {
        let met = withinBound && checks
        var line = "\(indent)\(what): \(measured) (target \(bound)): \(met ? "MET" : "MISSED")"
        if !checks { line += " (a check it depends on failed)" }
        print(line)
        if !met { missedTargets.append(what) }
    }

    /// Prints the summary line and throws `ExitCode(1)` when a check failed.
    func finish(_ benchmark: String) throws {
        print("load average at the end: \(loadAverage())")
        if failedChecks.isEmpty && missedTargets.isEmpty {
            print("\(benchmark): every target MET, every check passed")
            return
        }
        if !missedTargets.isEmpty {
            print("\(benchmark): MISSED: \(missedTargets.joined(separator: "; "))")
        }
        if !failedChecks.isEmpty {
            print("\(benchmark): \(failedChecks.count) check(s) FAILED (marked MISMATCH above); exiting with status 1")
            throw ExitCode(1)
        }
    }
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg gives them.
func loadAverage() -> String {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "unknown" }
    return text.split(separator: " ").prefix(3).joined(separator: " ")
}

/// Bytes of the host's memory, processor count and kernel, for the header of every run.
func machineLine() -> String {
    var info = utsname()
    uname(&info)
    let release = withUnsafeBytes(of: &info.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let mem = ProcessInfo.processInfo.physicalMemory
    let cpu =
        (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
        .split(separator: "\n").first { $0.hasPrefix("model name") }?
        .split(separator: ":", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
    return "machine: \(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores, "
        + "\(mem / (1 << 30)) GiB, Linux \(release); load average \(loadAverage()) at the start (shared machine)"
}
