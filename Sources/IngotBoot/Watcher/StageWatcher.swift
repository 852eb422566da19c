// The serial stage watcher: a pure, line-driven state machine fed with console bytes and the time
// they arrived. It recognises boot stages by pattern or verified init marker, applies per-stage
// timeouts against an injected clock, ends at once on failure patterns, and yields a BootVerdict.

import Foundation
import IngotSpec

/// What the watcher looks for: per-stage patterns and timeouts, failure patterns, readiness.
public struct WatchRules: Sendable {
    /// Patterns (regular expressions) and timeouts per stage; a stage's timeout runs from entering
    /// the previous stage (the firmware's from the start).
    public var stages: [BootStage: StageRule]
    /// Extra readiness patterns (from the appliance spec) that mark the `ready` stage.
    public var readinessPatterns: [String]
    /// Patterns that end the run at once as failed.
    public var failurePatterns: [String]
    /// Stages not expected on the console (e.g. firmware and bootloader for a direct kernel boot):
    /// their timeouts are not counted and they are recorded as skipped when a later stage arrives.
    public var notExpected: Set<BootStage>
    /// Timeout for a stage that has no rule.
    public var defaultTimeoutSeconds: Double
    /// Seconds from power-on by which readiness must be reached (the spec's `readiness.timeout`);
    /// nil: only the per-stage timeouts apply.
    public var readinessTimeoutSeconds: Double?
    /// Seconds to keep watching after the ready marker before passing, so a service that
    /// crash-loops right after start still fails the run (0: pass at the ready marker).
    public var serviceSettleSeconds: Double
    /// A service that restarts this many times before readiness (including the settle period)
    /// fails the run in the init stage.
    public var maximumServiceRestarts: Int
    /// Network probes that must answer after the ready marker (or pattern) before the run passes:
    /// ready = marker AND every probe answers (see ReadinessProbe.swift).
    public var probes: [ReadinessProbe] = []
    /// Probing starts when the init stage is reached instead of at a ready marker: for images
    /// that print none (a root's own init other than systemd, readiness by probe alone).
    public var probesStartAtInit = false
    /// The probes get at least this many seconds after the ready marker, even when the ready
    /// stage's own timeout ends sooner.
    public var minimumProbeSeconds: Double = 30

    /// Failure patterns every board gets in addition to its own.
    public static let standardFailurePatterns = [
        #"Kernel panic"#, #"\bOops\b"#, #"\bBUG: "#, #"Unable to mount root"#,
    ]

    /// Creates rules.
    public init(
        stages: [BootStage: StageRule], readinessPatterns: [String] = [], failurePatterns: [String] = [],
        notExpected: Set<BootStage> = [], defaultTimeoutSeconds: Double = 120, readinessTimeoutSeconds: Double? = nil,
        serviceSettleSeconds: Double = 0, maximumServiceRestarts: Int = 3
    ) {
        self.stages = stages
        self.readinessPatterns = readinessPatterns
        self.failurePatterns = failurePatterns
        self.notExpected = notExpected
        self.defaultTimeoutSeconds = defaultTimeoutSeconds
        self.readinessTimeoutSeconds = readinessTimeoutSeconds
        self.serviceSettleSeconds = serviceSettleSeconds
        self.maximumServiceRestarts = maximumServiceRestarts
    }

    /// Rules from a board profile plus the spec's readiness pattern(s).
    /// - Parameters:
    ///   - board: the board whose stage patterns, timeouts and failure patterns apply.
    ///   - readiness: the spec's own readiness patterns, added to the `ready` stage.
    ///   - directKernelBoot: true when QEMU loads the kernel itself (firmware/bootloader not expected).
    ///   - readinessTimeout: the spec's `readiness.timeout` (seconds from power-on), if any.
    ///   - settle: seconds to watch for service restarts after the ready marker.
    public init(
        board: BoardProfile, readiness: [String] = [], directKernelBoot: Bool = false, readinessTimeout: Double? = nil,
        settle: Double = 0
    ) {
        self.init(
            stages: board.stages, readinessPatterns: readiness, failurePatterns: board.failurePatterns,
            notExpected: directKernelBoot ? [.firmware, .bootloader] : [], readinessTimeoutSeconds: readinessTimeout,
            serviceSettleSeconds: settle)
    }
}

/// Watches a console stream and decides the boot verdict.
public final class StageWatcher {
    /// Errors building a watcher.
    public enum Error: Swift.Error, CustomStringConvertible {
        /// A pattern is not a valid regular expression.
        case invalidPattern(stage: String, pattern: String, message: String)

        public var description: String {
            switch self {
            case .invalidPattern(let stage, let pattern, let message):
                return
                    "invalid \(stage) pattern '\(pattern)': \(message); fix the board profile or spec (regular expression syntax)"
            }
        }
    }

    /// The rules in effect.
    public let rules: WatchRules
    /// How many console lines to keep for the verdict.
    public var keepLines = 30

    private let stagePatterns: [BootStage: [NSRegularExpression]]
    private let failurePatterns: [(source: String, regex: NSRegularExpression)]
    private var splitter = ConsoleLineSplitter()
    private var lineNumber = 0
    private var recent: [String] = []
    private var reached: BootStage?
    var enteredAt = 0.0
    private var stageTimes: [BootStage: Double] = [:]
    private var stageLines: [BootStage: Int] = [:]
    private var skipped: [BootStage] = []
    private var events: [BootEvent] = []
    // A replayed marker (same payload) counts once; seq numbers restart in subshells, so they are not unique.
    private var seenPayloads: Set<String> = []
    var finalVerdict: BootVerdict?
    private var restarts: [String: Int] = [:]
    // The ready marker (or pattern) seen, waiting out the settle period before passing.
    var pendingReady: (time: Double, line: Int, reason: String)?
    // The ready marker (or pattern) seen, waiting for the network probes to answer.
    var awaitingProbes: (time: Double, line: Int, reason: String)?
    var probeReports: [ProbeReport] = []

    /// Creates a watcher; throws when a pattern does not compile.
    public init(rules: WatchRules) throws {
        self.rules = rules
        var compiled: [BootStage: [NSRegularExpression]] = [:]
        for stage in BootStage.allCases {
            var sources = rules.stages[stage]?.patterns ?? []
            if stage == .ready { sources += rules.readinessPatterns }
            // Marker text is only trusted through the checksum-verified parser: a plain regex on
            // "@@INGOT ..." would let a forged or broken marker count.
            sources.removeAll { $0.contains("@@INGOT") }
            compiled[stage] = try sources.map { try Self.compile($0, stage: stage.rawValue) }
        }
        stagePatterns = compiled
        let failures = WatchRules.standardFailurePatterns + rules.failurePatterns
        failurePatterns = try failures.map { ($0, try Self.compile($0, stage: "failure")) }
        probeReports = rules.probes.map { ProbeReport(probe: $0) }
    }

    /// The verdict, once known.
    public var verdict: BootVerdict? { finalVerdict }

    /// The latest stage reached so far.
    public var currentStage: BootStage? { reached }

    /// Feeds console bytes received at `time` (seconds since start). Returns the verdict as soon
    /// as it is known (ready, failure, or a timeout that expired by `time`).
    @discardableResult
    public func feed<Bytes: Sequence>(_ bytes: Bytes, at time: Double) -> BootVerdict? where Bytes.Element == UInt8 {
        if let finalVerdict { return finalVerdict }
        if let expired = check(at: time) { return expired }
        for line in splitter.feed(bytes) {
            lineNumber += 1
            remember(line)
            if let verdict = process(line: line, number: lineNumber, at: time, complete: true) { return verdict }
        }
        // Prompts and firmware banners may not end with a newline: match the tail too (idempotent).
        let tail = splitter.partialLine
        if !tail.isEmpty {
            return process(line: tail, number: lineNumber + 1, at: time, complete: false)
        }
        return nil
    }

    /// Feeds text (UTF-8) received at `time`.
    @discardableResult
    public func feed(text: String, at time: Double) -> BootVerdict? { feed(Array(text.utf8), at: time) }

    /// Applies the stage timeouts at `time`; returns the verdict when one expired.
    @discardableResult
    public func check(at time: Double) -> BootVerdict? {
        if let finalVerdict { return finalVerdict }
        if let pending = pendingReady {
            guard time >= pending.time + rules.serviceSettleSeconds else { return nil }
            return passReady(pending)
        }
        if let awaiting = awaitingProbes {
            if let limit = rules.readinessTimeoutSeconds, time > limit {
                return conclude(
                    passed: false, failedStage: .ready,
                    reason:
                        "not ready within \(Self.format(limit)) s of power-on (readiness.timeout): \(awaiting.reason), but \(probeFailure)"
                )
            }
            let deadline = probeDeadline(awaiting)
            guard time > deadline else { return nil }
            return conclude(
                passed: false, failedStage: .ready,
                reason: "\(awaiting.reason), but within \(Self.format(deadline - awaiting.time)) s \(probeFailure)")
        }
        if let limit = rules.readinessTimeoutSeconds, time > limit {
            let awaited = nextDeadline()?.stage ?? .ready
            let stuck = reached.map { "stuck in \($0.rawValue)" } ?? "no stage recognised"
            let last = events.last.map { "; last init event: \($0.summary)" } ?? ""
            return conclude(
                passed: false, failedStage: awaited,
                reason:
                    "not ready within \(Self.format(limit)) s of power-on (readiness.timeout), awaiting \(awaited.rawValue): \(stuck)\(last)"
            )
        }
        guard let (stage, deadline) = nextDeadline(), time > deadline else { return nil }
        let since = reached.map { "entering \($0.rawValue) at \(Self.format(enteredAt)) s" } ?? "start"
        return conclude(
            passed: false, failedStage: stage,
            reason: "stage \(stage.rawValue) not reached within \(Self.format(deadline - enteredAt)) s of \(since)")
    }

    /// The stage awaited next and the time by which it must arrive (nil once decided).
    public func nextDeadline() -> (stage: BootStage, deadline: Double)? {
        guard finalVerdict == nil else { return nil }
        var budget = 0.0
        for stage in BootStage.allCases where reached.map({ stage > $0 }) ?? true {
            if rules.notExpected.contains(stage) { continue }
            budget += rules.stages[stage]?.timeoutSeconds ?? rules.defaultTimeoutSeconds
            let observable = !(stagePatterns[stage] ?? []).isEmpty || stage == .`init` || stage == .ready
            if observable { return (stage, enteredAt + budget) }
        }
        return nil
    }

    /// Ends the stream (QEMU exited, or the caller gave up) and returns the verdict.
    /// - Parameters:
    ///   - time: seconds since start.
    ///   - cause: why the stream ended, e.g. `QEMU exited with status 1`.
    @discardableResult
    public func finish(at time: Double, cause: String) -> BootVerdict {
        if let finalVerdict { return finalVerdict }
        if let line = splitter.flush() {
            lineNumber += 1
            remember(line)
            if let verdict = process(line: line, number: lineNumber, at: time, complete: true) { return verdict }
        }
        if let pending = pendingReady {
            return passReady(
                (pending.time, pending.line, pending.reason + " (the machine ended during the settle period)"))
        }
        if let awaiting = awaitingProbes {
            return conclude(
                passed: false, failedStage: .ready, reason: "\(cause) after \(awaiting.reason), before \(probeFailure)")
        }
        if let expired = check(at: time) { return expired }
        let awaited = nextDeadline()?.stage ?? .ready
        let where_ = reached.map { "after reaching \($0.rawValue)" } ?? "before any stage was recognised"
        return conclude(passed: false, failedStage: awaited, reason: "\(cause) \(where_), awaiting \(awaited.rawValue)")
    }

    // MARK: - Line processing

    private func process(line: String, number: Int, at time: Double, complete: Bool) -> BootVerdict? {
        if complete {
            for marker in IngotMarker.markers(in: line) where !seenPayloads.contains(marker.payload) {
                seenPayloads.insert(marker.payload)
                events.append(BootEvent(time: time, line: number, marker: marker))
                if let verdict = apply(marker, line: number, at: time) { return verdict }
            }
        }
        let range = NSRange(line.startIndex..<line.endIndex, in: line)
        for (source, regex) in failurePatterns where regex.firstMatch(in: line, range: range) != nil {
            let stage = reached ?? firstExpectedStage
            return conclude(
                passed: false, failedStage: stage,
                reason:
                    "failure pattern '\(source)' on console line \(number) in stage \(stage.rawValue): \(Self.excerpt(line))"
            )
        }
        for stage in BootStage.allCases.reversed() where reached.map({ stage > $0 }) ?? true {
            guard let patterns = stagePatterns[stage],
                patterns.contains(where: { $0.firstMatch(in: line, range: range) != nil })
            else { continue }
            if stage == .ready {
                return reachReady(
                    line: number, at: time, reason: "ready on console line \(number) at \(Self.format(time)) s")
            }
            enter(stage, line: number, at: time)
            break
        }
        return nil
    }

    private func apply(_ marker: IngotMarker, line: Int, at time: Double) -> BootVerdict? {
        switch marker.stage {
        case "init", "onboot":
            enter(.`init`, line: line, at: time)
        case "service":
            enter(.`init`, line: line, at: time)
            guard marker.fields["status"] == "restarting" else { break }
            let name = marker.fields["name"] ?? "?"
            restarts[name, default: 0] += 1
            let count = restarts[name] ?? 0
            if count >= rules.maximumServiceRestarts {
                pendingReady = nil
                let rc = marker.fields["rc"].map { ", last rc=\($0)" } ?? ""
                return conclude(
                    passed: false, failedStage: .`init`,
                    reason:
                        "service \(name) is crash-looping: restarted \(count) times before ready\(rc) (console line \(line))"
                )
            }
        case "ready":
            let name = marker.fields["name"].map { " (\($0))" } ?? ""
            return reachReady(
                line: line, at: time, reason: "ready marker\(name) on console line \(line) at \(Self.format(time)) s")
        case "fail":
            enter(.`init`, line: line, at: time)
            var what = "init reported failure"
            if let reason = marker.fields["reason"] { what += " (\(reason))" }
            if let name = marker.fields["name"] { what += ": step \(name)" }
            if let rc = marker.fields["rc"] { what += " exited with rc=\(rc)" }
            return conclude(passed: false, failedStage: .`init`, reason: "\(what) on console line \(line)")
        default:
            break
        }
        return nil
    }

    // Ready passes at once, or after the settle period when one is set (see `check`).
    private func reachReady(line: Int, at time: Double, reason: String) -> BootVerdict? {
        if pendingReady != nil || awaitingProbes != nil { return nil }
        if !rules.probes.isEmpty {
            awaitingProbes = (time, line, reason)
            return nil
        }
        guard rules.serviceSettleSeconds > 0 else { return passReady((time, line, reason)) }
        pendingReady = (time, line, reason)
        return nil
    }

    func passReady(_ pending: (time: Double, line: Int, reason: String)) -> BootVerdict {
        pendingReady = nil
        enter(.ready, line: pending.line, at: pending.time)
        return conclude(passed: true, failedStage: nil, reason: pending.reason)
    }

    private var firstExpectedStage: BootStage {
        BootStage.allCases.first { !rules.notExpected.contains($0) } ?? .firmware
    }

    private func enter(_ stage: BootStage, line: Int, at time: Double) {
        if let reached, stage <= reached { return }
        for earlier in BootStage.allCases where earlier < stage && stageTimes[earlier] == nil {
            stageTimes[earlier] = time
            skipped.append(earlier)
        }
        stageTimes[stage] = time
        stageLines[stage] = line
        reached = stage
        enteredAt = time
        if stage == .`init`, rules.probesStartAtInit, !rules.probes.isEmpty, awaitingProbes == nil, pendingReady == nil
        {
            awaitingProbes = (
                time, line,
                "init stage reached on console line \(line) at \(Self.format(time)) s (the image prints no ready marker)"
            )
        }
    }

    private func remember(_ line: String) {
        recent.append(line)
        if recent.count > keepLines { recent.removeFirst(recent.count - keepLines) }
    }

    private func conclude(passed: Bool, failedStage: BootStage?, reason: String) -> BootVerdict {
        var lines = recent
        let tail = splitter.partialLine
        if !tail.isEmpty { lines.append(tail) }
        if lines.count > keepLines { lines.removeFirst(lines.count - keepLines) }
        var verdict = BootVerdict(
            passed: passed, reached: reached, failedStage: failedStage, reason: reason, stageTimes: stageTimes,
            stageLines: stageLines, skipped: skipped, events: events, lastLines: lines)
        if !probeReports.isEmpty { verdict.probes = probeReports }
        finalVerdict = verdict
        return verdict
    }

    private static func compile(_ pattern: String, stage: String) throws -> NSRegularExpression {
        do {
            return try NSRegularExpression(pattern: pattern)
        } catch {
            throw Error.invalidPattern(stage: stage, pattern: pattern, message: "\(error)")
        }
    }

    static func format(_ seconds: Double) -> String { String(format: "%.1f", seconds) }

    private static func excerpt(_ line: String) -> String {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        return trimmed.count > 160 ? String(trimmed.prefix(160)) + "…" : trimmed
    }
}

// MARK: - Network probes

extension StageWatcher {
    /// The probes still to answer, by index into `rules.probes`, while the watcher waits for them
    /// (after the ready marker); empty otherwise. The backend runs an attempt of each and reports
    /// with `probeAttempted`.
    public var probesDue: [Int] {
        guard finalVerdict == nil, awaitingProbes != nil else { return [] }
        return probeReports.indices.filter { !probeReports[$0].passed }
    }

    /// The probe reports so far.
    public var probes: [ProbeReport] { probeReports }

    /// Records one attempt of probe `index`, made through `endpoint` (`127.0.0.1:41234`). When
    /// every probe has answered, the run passes (after the settle period, if any).
    @discardableResult
    public func probeAttempted(_ index: Int, endpoint: String, outcome: ProbeOutcome, at time: Double) -> BootVerdict? {
        if let finalVerdict { return finalVerdict }
        guard probeReports.indices.contains(index), let awaiting = awaitingProbes else { return nil }
        probeReports[index].endpoint = endpoint
        probeReports[index].attempts += 1
        if probeReports[index].answeredAt == nil {
            probeReports[index].last = outcome
            if outcome.answered { probeReports[index].answeredAt = time }
        }
        guard probeReports.allSatisfy(\.passed) else { return check(at: time) }
        awaitingProbes = nil
        let answers = probeReports.map(\.summary).joined(separator: "; ")
        let reason = "\(awaiting.reason); \(answers)"
        guard rules.serviceSettleSeconds > 0 else { return passReady((time, awaiting.line, reason)) }
        pendingReady = (time, awaiting.line, reason)
        return nil
    }

    /// When the probes run out of time: the ready stage's deadline, but never sooner than
    /// `minimumProbeSeconds` after they started.
    func probeDeadline(_ awaiting: (time: Double, line: Int, reason: String)) -> Double {
        let stage = enteredAt + (rules.stages[.ready]?.timeoutSeconds ?? rules.defaultTimeoutSeconds)
        return max(stage, awaiting.time + rules.minimumProbeSeconds)
    }

    /// What the unanswered probes got: `http GET / on guest port 80 (want 200) via
    /// 127.0.0.1:41234 got status 500 ... (12 attempts)`.
    var probeFailure: String {
        let pending = probeReports.filter { !$0.passed }
        guard !pending.isEmpty else { return "every probe answered" }
        return pending.map { report in
            let via = report.endpoint.map { " via \($0)" } ?? ""
            guard let last = report.last else { return "\(report.probe)\(via) was never attempted" }
            return
                "\(report.probe)\(via) did not answer: \(last.detail) (\(report.attempts) attempt\(report.attempts == 1 ? "" : "s"))"
        }.joined(separator: "; ")
    }
}
