// The outcome of watching one boot: which stage was reached, where and why it failed, when each
// stage was reached, the verified init events and the last console lines.

import IngotSpec

/// One verified init marker, stamped with when and on which console line it was seen.
public struct BootEvent: Codable, Equatable, Sendable {
    /// Seconds since the start of the run.
    public var time: Double
    /// 1-based console line number (as counted by the watcher).
    public var line: Int
    /// The verified marker.
    public var marker: IngotMarker

    /// Creates an event.
    public init(time: Double, line: Int, marker: IngotMarker) {
        self.time = time
        self.line = line
        self.marker = marker
    }

    /// A one-line human summary, e.g. `onboot dhcp ok rc=0`.
    public var summary: String {
        var parts = [marker.stage]
        for key in ["name", "status", "reason"] { if let value = marker.fields[key] { parts.append(value) } }
        if let rc = marker.fields["rc"] { parts.append("rc=\(rc)") }
        return parts.joined(separator: " ")
    }
}

/// The verdict of one boot, per stage.
public struct BootVerdict: Codable, Equatable, Sendable {
    /// True when the `ready` stage was reached without any failure.
    public var passed: Bool
    /// The latest stage reached (nil when nothing was recognised).
    public var reached: BootStage?
    /// The stage the run failed in (nil when it passed).
    public var failedStage: BootStage?
    /// Why the run passed or failed, in one sentence.
    public var reason: String
    /// Seconds since start at which each stage was reached (seen or implied).
    public var stageTimes: [BootStage: Double]
    /// 1-based console line on which each seen stage was recognised.
    public var stageLines: [BootStage: Int]
    /// Stages that were implied by a later one but never seen themselves.
    public var skipped: [BootStage]
    /// Verified init markers in order.
    public var events: [BootEvent]
    /// The last console lines (ANSI escapes removed), at most ~30.
    public var lastLines: [String]
    /// The network probes (readiness.http / readiness.tcp) and what each got; nil when the run had none.
    public var probes: [ProbeReport]? = nil

    /// Creates a verdict.
    public init(
        passed: Bool, reached: BootStage?, failedStage: BootStage?, reason: String,
        stageTimes: [BootStage: Double] = [:], stageLines: [BootStage: Int] = [:], skipped: [BootStage] = [],
        events: [BootEvent] = [], lastLines: [String] = []
    ) {
        self.passed = passed
        self.reached = reached
        self.failedStage = failedStage
        self.reason = reason
        self.stageTimes = stageTimes
        self.stageLines = stageLines
        self.skipped = skipped
        self.events = events
        self.lastLines = lastLines
    }

    /// Seconds spent in each stage: from reaching the previous stage (or start) to reaching it.
    public var stageDurations: [(stage: BootStage, seconds: Double)] {
        var previous = 0.0
        var result: [(stage: BootStage, seconds: Double)] = []
        for stage in BootStage.allCases {
            guard let time = stageTimes[stage] else { continue }
            result.append((stage, max(0, time - previous)))
            previous = time
        }
        return result
    }

    private enum CodingKeys: String, CodingKey {
        case passed, reached, failedStage, reason, stageTimes, stageLines, skipped, events, lastLines, probes
    }

    // Stages are written by name (IngotSpec's BootStage is not Codable); stage-keyed dictionaries
    // become JSON objects keyed by stage name, not arrays.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        passed = try container.decode(Bool.self, forKey: .passed)
        reached = try container.decodeIfPresent(String.self, forKey: .reached).flatMap(BootStage.init(rawValue:))
        failedStage = try container.decodeIfPresent(String.self, forKey: .failedStage).flatMap(
            BootStage.init(rawValue:))
        reason = try container.decode(String.self, forKey: .reason)
        stageTimes = Self.keyed(try container.decodeIfPresent([String: Double].self, forKey: .stageTimes) ?? [:])
        stageLines = Self.keyed(try container.decodeIfPresent([String: Int].self, forKey: .stageLines) ?? [:])
        skipped = (try container.decodeIfPresent([String].self, forKey: .skipped) ?? []).compactMap(
            BootStage.init(rawValue:))
        events = try container.decodeIfPresent([BootEvent].self, forKey: .events) ?? []
        lastLines = try container.decodeIfPresent([String].self, forKey: .lastLines) ?? []
        probes = try container.decodeIfPresent([ProbeReport].self, forKey: .probes)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(passed, forKey: .passed)
        try container.encodeIfPresent(reached?.rawValue, forKey: .reached)
        try container.encodeIfPresent(failedStage?.rawValue, forKey: .failedStage)
        try container.encode(reason, forKey: .reason)
        try container.encode(Self.named(stageTimes), forKey: .stageTimes)
        try container.encode(Self.named(stageLines), forKey: .stageLines)
        try container.encode(skipped.map(\.rawValue), forKey: .skipped)
        try container.encode(events, forKey: .events)
        try container.encode(lastLines, forKey: .lastLines)
        try container.encodeIfPresent(probes, forKey: .probes)
    }

    private static func keyed<Value>(_ named: [String: Value]) -> [BootStage: Value] {
        var result: [BootStage: Value] = [:]
        for (name, value) in named { if let stage = BootStage(rawValue: name) { result[stage] = value } }
        return result
    }

    private static func named<Value>(_ keyed: [BootStage: Value]) -> [String: Value] {
        var result: [String: Value] = [:]
        for (stage, value) in keyed { result[stage.rawValue] = value }
        return result
    }
}
