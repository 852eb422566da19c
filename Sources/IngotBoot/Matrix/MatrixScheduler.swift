// The matrix scheduler: runs jobs on hosts within each host's slot and memory limits, placing
// every cell on the least-loaded host of its backend kind, retrying infrastructure failures (on
// another host when there is one) and never guest failures. Talks to backends only through the
// BootBackend protocol, so tests drive it with fakes and no QEMU.

import Foundation
import IngotSpec
import Logging

/// Runs matrix jobs on a pool of hosts.
public struct MatrixScheduler: Sendable {
    /// Errors that stop the whole matrix before any cell runs.
    public enum Error: Swift.Error, CustomStringConvertible {
        /// No host was given.
        case noHosts

        public var description: String {
            switch self {
            case .noHosts: return "the matrix has no host to run on; add --host or use the local QEMU backend"
            }
        }
    }

    /// One line of progress: a cell started, was retried or ended.
    public struct Event: Sendable, Equatable {
        /// What happened.
        public enum Kind: String, Sendable { case started, retrying, finished }
        /// What happened.
        public var kind: Kind
        /// The cell.
        public var cell: MatrixCell
        /// The host (backend `host` value).
        public var host: String
        /// 1-based attempt.
        public var attempt: Int
        /// Status summary or retry reason.
        public var detail: String
    }

    /// The hosts cells run on.
    public var hosts: [MatrixHost]
    /// Extra attempts allowed after an infrastructure failure.
    public var retries: Int
    private let logger: Logger?

    /// Creates a scheduler.
    /// - Parameters:
    ///   - hosts: where cells run (each with its slot and memory limits).
    ///   - retries: how many times an infrastructure failure is retried (guest failures never are).
    ///   - logger: optional logger.
    public init(hosts: [MatrixHost], retries: Int = 1, logger: Logger? = nil) throws {
        guard !hosts.isEmpty else { throw Error.noHosts }
        self.hosts = hosts
        self.retries = max(0, retries)
        self.logger = logger
    }

    /// Runs every job and returns one result per job, in the jobs' order.
    /// - Parameters:
    ///   - jobs: the cells (non-runnable ones become skipped/error results at once).
    ///   - progress: called for every start, retry and end (from the scheduling task).
    public func run(_ jobs: [MatrixJob], progress: @Sendable (Event) -> Void = { _ in }) async -> [CellResult] {
        var results = [CellResult?](repeating: nil, count: jobs.count)
        var pending: [Pending] = []
        for (index, job) in jobs.enumerated() {
            switch job.work {
            case .failure(let why):
                results[index] = Self.notRun(job, status: why.status, reason: why.reason, attempts: 0, retryReasons: [])
            case .success(let runnable):
                if let reason = unplaceable(job.cell, runnable) {
                    results[index] = Self.notRun(job, status: .error, reason: reason, attempts: 0, retryReasons: [])
                } else {
                    pending.append(Pending(index: index, runnable: runnable))
                }
            }
        }
        var load = [Load](repeating: Load(), count: hosts.count)

        await withTaskGroup(of: Finished.self) { group in
            var running = 0
            while !pending.isEmpty || running > 0 {
                // Start everything that fits now, in job order.
                var position = 0
                while position < pending.count {
                    let item = pending[position]
                    guard let hostIndex = place(jobs[item.index].cell, item, load: load) else {
                        position += 1
                        continue
                    }
                    pending.remove(at: position)
                    load[hostIndex].running += 1
                    load[hostIndex].memoryMiB += item.runnable.memoryMiB
                    running += 1
                    let host = hosts[hostIndex]
                    let cell = jobs[item.index].cell
                    progress(
                        Event(kind: .started, cell: cell, host: host.backend.host, attempt: item.attempt, detail: ""))
                    group.addTask { await Self.attempt(item, cell: cell, on: host, hostIndex: hostIndex) }
                }
                guard running > 0, let done = await group.next() else { break }
                running -= 1
                load[done.hostIndex].running -= 1
                load[done.hostIndex].memoryMiB -= done.item.runnable.memoryMiB
                let job = jobs[done.item.index]
                let hostName = hosts[done.hostIndex].backend.host
                switch done.outcome {
                case .success(let result) where !result.isInfrastructureFailure:
                    let cellResult = Self.finished(job, done.item, result: result, host: hosts[done.hostIndex])
                    results[done.item.index] = cellResult
                    progress(
                        Event(
                            kind: .finished, cell: job.cell, host: hostName, attempt: done.item.attempt,
                            detail: cellResult.summary))
                default:
                    let reason =
                        "attempt \(done.item.attempt) on \(hostName): " + Self.infrastructureReason(done.outcome)
                    var next = done.item
                    next.retryReasons.append(reason)
                    next.failedHosts.insert(done.hostIndex)
                    if done.item.attempt <= retries {
                        next.attempt += 1
                        logger?.info("\(job.cell): retrying after infrastructure failure: \(reason)")
                        progress(
                            Event(
                                kind: .retrying, cell: job.cell, host: hostName, attempt: done.item.attempt,
                                detail: reason))
                        pending.insert(next, at: 0)
                    } else {
                        let lastLog = Self.logPath(done.item)
                        var result = Self.notRun(
                            job, status: .error,
                            reason: "infrastructure failure after \(done.item.attempt) attempt(s): \(reason)",
                            attempts: done.item.attempt, retryReasons: Array(next.retryReasons.dropLast()))
                        result.host = hostName
                        result.logPath = lastLog
                        if case .success(let boot) = done.outcome {
                            result.verdict.lastLines = boot.verdict.lastLines
                            result.verdict.stageTimes = boot.verdict.stageTimes
                        }
                        results[done.item.index] = result
                        progress(
                            Event(
                                kind: .finished, cell: job.cell, host: hostName, attempt: done.item.attempt,
                                detail: result.summary))
                    }
                }
            }
        }
        return results.enumerated().map { index, result in
            result
                ?? Self.notRun(
                    jobs[index], status: .error, reason: "the scheduler could not place this cell", attempts: 0,
                    retryReasons: [])
        }
    }

    // MARK: - Placement

    struct Pending: Sendable {
        var index: Int
        var runnable: MatrixJob.Runnable
        var attempt = 1
        var retryReasons: [String] = []
        var failedHosts: Set<Int> = []
    }

    struct Load: Sendable {
        var running = 0
        var memoryMiB = 0
    }

    struct Finished: Sendable {
        var item: Pending
        var hostIndex: Int
        var outcome: Result<BootResult, Swift.Error>
        var wallSeconds: Double
    }

    /// Why a cell can never run on these hosts (no host of its kind, or too little memory).
    func unplaceable(_ cell: MatrixCell, _ runnable: MatrixJob.Runnable) -> String? {
        let kind = hosts.filter { $0.backend.kind == cell.backend }
        if kind.isEmpty {
            let have = Set(hosts.map(\.backend.kind.rawValue)).sorted().joined(separator: ", ")
            return
                "no \(cell.backend) host in this matrix (hosts are: \(have)); add --backend \(cell.backend) with a --host"
        }
        let largest = kind.map(\.memoryMiB).max() ?? 0
        if runnable.memoryMiB > largest {
            return
                "board \(cell.board) needs \(runnable.memoryMiB) MiB of guest memory but the largest \(cell.backend) host "
                + "offers \(largest) MiB; free memory or add a larger host"
        }
        return nil
    }

    /// The least-loaded host of the cell's kind with a free slot and enough free memory (ties:
    /// the first listed). A retried cell avoids hosts it already failed on while others exist.
    func place(_ cell: MatrixCell, _ item: Pending, load: [Load]) -> Int? {
        let candidates = hosts.indices.filter { hosts[$0].backend.kind == cell.backend }
        let fresh = candidates.filter { !item.failedHosts.contains($0) }
        let eligible = fresh.isEmpty ? candidates : fresh
        let fitting = eligible.filter {
            load[$0].running < hosts[$0].slots && load[$0].memoryMiB + item.runnable.memoryMiB <= hosts[$0].memoryMiB
        }
        return fitting.min { a, b in
            let la = Double(load[a].running) / Double(hosts[a].slots)
            let lb = Double(load[b].running) / Double(hosts[b].slots)
            return la != lb ? la < lb : a < b
        }
    }

    // MARK: - Running one attempt

    static func logPath(_ item: Pending) -> String {
        let name = item.attempt == 1 ? "console.log" : "console.attempt-\(item.attempt).log"
        return (item.runnable.logDirectory as NSString).appendingPathComponent(name)
    }

    static func attempt(_ item: Pending, cell: MatrixCell, on host: MatrixHost, hostIndex: Int) async -> Finished {
        let started = Date()
        let outcome: Result<BootResult, Swift.Error>
        do {
            try FileManager.default.createDirectory(
                atPath: item.runnable.logDirectory, withIntermediateDirectories: true)
            let watcher = try StageWatcher(rules: item.runnable.rules)
            outcome = .success(
                try await host.backend.run(plan: item.runnable.plan, watcher: watcher, logPath: logPath(item)))
        } catch {
            outcome = .failure(error)
        }
        return Finished(
            item: item, hostIndex: hostIndex, outcome: outcome, wallSeconds: Date().timeIntervalSince(started))
    }

    static func infrastructureReason(_ outcome: Result<BootResult, Swift.Error>) -> String {
        switch outcome {
        case .failure(let error): return "the backend failed: \(error)"
        case .success(let result):
            var text = "the emulator ended (\(result.exitStatus)) before any boot stage"
            if !result.qemuStderr.isEmpty {
                text += ", saying: " + result.qemuStderr.split(separator: "\n").suffix(2).joined(separator: " / ")
            }
            return text
        }
    }

    static func finished(_ job: MatrixJob, _ item: Pending, result: BootResult, host: MatrixHost) -> CellResult {
        var durations = ["wall": result.wallSeconds]
        if let build = job.buildSeconds { durations["build"] = build }
        if let ready = result.verdict.stageTimes[.ready], result.verdict.passed { durations["boot"] = ready }
        return CellResult(
            cell: job.cell, host: host.backend.host,
            verdict: result.verdict, durations: durations, logPath: result.logPath, attempts: item.attempt,
            retryReasons: item.retryReasons)
    }

    static func notRun(_ job: MatrixJob, status: CellStatus, reason: String, attempts: Int, retryReasons: [String])
        -> CellResult
    {
        var durations: [String: Double] = [:]
        if let build = job.buildSeconds { durations["build"] = build }
        return CellResult(
            cell: job.cell, host: "-",
            verdict: BootVerdict(passed: false, reached: nil, failedStage: nil, reason: reason), durations: durations,
            logPath: "", status: status, attempts: attempts, retryReasons: retryReasons)
    }
}
