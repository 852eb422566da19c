// Progress reporting: the flasher emits events; a terminal gets a redrawn bar with throughput and
// ETA, CI gets one JSON object per line (`--progress=json`), and `none` prints nothing.

import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The phase a progress event is about.
public enum FlashPhase: String, Codable, Sendable {
    case write
    case verify
}

/// Something the flasher reports while it works.
public enum FlashEvent: Sendable {
    /// Bytes done of total in a phase, for one target, `elapsed` seconds into that phase.
    case progress(phase: FlashPhase, target: String, done: Int64, total: Int64, elapsed: Double)
    /// A target was dropped; the others continue.
    case targetFailed(target: String, error: String)
    /// A phase finished on one target.
    case phaseDone(phase: FlashPhase, target: String, bytes: Int64, seconds: Double)
    /// The run ended.
    case finished(FlashReport)
}

/// Receives the flasher's events; called from several worker threads, so implementations lock.
public protocol FlashProgressSink: AnyObject, Sendable {
    func handle(_ event: FlashEvent)
}

/// How progress is shown.
public enum ProgressStyle: String, Sendable, CaseIterable {
    /// A bar on a terminal (stderr), nothing otherwise.
    case auto
    case bar
    case json
    case none
}

/// Prints progress in the chosen style; the summary goes to stdout in every style but `json`,
/// where it is the last JSON line.
public final class ProgressPrinter: FlashProgressSink, Sendable {
    let style: ProgressStyle

    /// What the printer remembers between events (events come from several worker threads).
    private struct State {
        var lastDraw: [String: Double] = [:]
        var drawn = false
        var ended: Set<String> = []
        var latest: [String: (phase: FlashPhase, done: Int64, total: Int64, elapsed: Double)] = [:]
    }
    private let state = Mutex(State())

    /// Creates a printer; `.auto` becomes `.bar` when stderr is a terminal, else `.none`.
    public init(style: ProgressStyle) {
        if style == .auto {
            self.style = isatty(2) != 0 ? .bar : .none
        } else {
            self.style = style
        }
    }

    public func handle(_ event: FlashEvent) {
        state.withLock { state in
            // A poll that raced with the end of a phase must not print after its summary.
            switch event {
            case .progress(let phase, let target, let done, let total, _):
                if done < total, state.ended.contains(phase.rawValue + target) { return }
            case .phaseDone(let phase, let target, _, _):
                state.ended.insert(phase.rawValue + target)
            default: break
            }
            switch style {
            case .json: Self.json(event, &state)
            case .bar: Self.bar(event, &state)
            case .none, .auto: break
            }
            if case .finished(let report) = event, style != .json {
                if state.drawn { FileHandle.standardError.write(Data("\r\u{1b}[K".utf8)) }
                print(report.summary)
            }
        }
    }

    static func now() -> Double { Date().timeIntervalSince1970 }

    private static func json(_ event: FlashEvent, _ state: inout State) {
        var object: [String: Any] = [:]
        switch event {
        case .progress(let phase, let target, let done, let total, let elapsed):
            let key = phase.rawValue + target
            let t = now()
            // One line a second per target and phase, plus the final one.
            if done < total, let last = state.lastDraw[key], t - last < 1 { return }
            state.lastDraw[key] = t
            let rate = elapsed > 0 ? Double(done) / elapsed : 0
            object = [
                "event": phase.rawValue, "target": target, "bytes": done, "total": total,
                "percent": total > 0 ? (Double(done) * 1000 / Double(total)).rounded() / 10 : 100,
                "bytesPerSecond": Int64(rate), "elapsedSeconds": (elapsed * 10).rounded() / 10,
            ]
            if rate > 0 { object["etaSeconds"] = (Double(total - done) / rate * 10).rounded() / 10 }
        case .targetFailed(let target, let error):
            object = ["event": "target-failed", "target": target, "error": error]
        case .phaseDone(let phase, let target, let bytes, let seconds):
            object = [
                "event": phase.rawValue + "-done", "target": target, "bytes": bytes,
                "seconds": (seconds * 100).rounded() / 100,
            ]
        case .finished(let report):
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            guard let data = try? encoder.encode(report),
                var dict = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            else { return }
            dict["event"] = "summary"
            dict["succeeded"] = report.succeeded
            object = dict
        }
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return }
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }

    private static func bar(_ event: FlashEvent, _ state: inout State) {
        switch event {
        case .progress(let phase, let target, let done, let total, let elapsed):
            state.latest[target] = (phase, done, total, elapsed)
            let t = now()
            if done < total, let last = state.lastDraw["bar"], t - last < 0.2 { return }
            state.lastDraw["bar"] = t
            // The slowest target sets the bar; the count says how many are in flight.
            guard let slow = state.latest.min(by: { fraction($0.value) < fraction($1.value) }) else { return }
            let v = slow.value
            let f = v.total > 0 ? min(1, Double(v.done) / Double(v.total)) : 1
            let width = 30
            let filled = Int(f * Double(width))
            let rate = v.elapsed > 0 ? Double(v.done) / v.elapsed : 0
            let eta = rate > 0 ? FlashFormat.duration(Double(v.total - v.done) / rate) : "--:--"
            let who = state.latest.count == 1 ? slow.key : "\(state.latest.count) targets"
            let line =
                "\r\u{1b}[K\(v.phase == .write ? "writing" : "verifying") \(who) ["
                + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
                + "] \(String(format: "%5.1f", f * 100))% \(FlashFormat.bytes(v.done))/\(FlashFormat.bytes(v.total)) "
                + "\(FlashFormat.rate(rate)) ETA \(eta)"
            FileHandle.standardError.write(Data(line.utf8))
            state.drawn = true
        case .targetFailed(let target, let error):
            state.latest[target] = nil
            FileHandle.standardError.write(Data("\r\u{1b}[K\(target): FAILED — \(error)\n".utf8))
        case .phaseDone(let phase, let target, let bytes, let seconds):
            state.latest[target] = nil
            let rate = seconds > 0 ? Double(bytes) / seconds : 0
            FileHandle.standardError.write(
                Data(
                    "\r\u{1b}[K\(target): \(phase == .write ? "written" : "verified") \(FlashFormat.bytes(bytes)) in \(String(format: "%.1f", seconds)) s (\(FlashFormat.rate(rate)))\n"
                        .utf8))
        case .finished:
            break
        }
    }

    private static func fraction(_ v: (phase: FlashPhase, done: Int64, total: Int64, elapsed: Double)) -> Double {
        let base = v.phase == .write ? 0.0 : 1.0
        return base + (v.total > 0 ? Double(v.done) / Double(v.total) : 1)
    }
}
