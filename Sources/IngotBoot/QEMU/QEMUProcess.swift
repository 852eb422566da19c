// Running one machine plan: spawn QEMU through IngotSystem's ChildProcess (its own process group),
// stream the serial console to a log file and the stage watcher, and always end QEMU — on verdict,
// timeout, error, cancellation or a signal to ingot — with SIGTERM to the group, a grace period,
// SIGKILL, then reaping once no member of the group is left.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation
import IngotSpec
import IngotSystem
import Logging

/// How a child process ended (IngotSystem's type, named here for IngotBoot's API).
public typealias ExitStatus = IngotSystem.ExitStatus

/// The outcome of one run.
public struct BootResult: Codable, Equatable, Sendable {
    /// The stage verdict.
    public var verdict: BootVerdict
    /// Wall-clock seconds from spawn to the end of QEMU.
    public var wallSeconds: Double
    /// `kvm` or `tcg`.
    public var accelerator: String
    /// How QEMU ended (after being ended by the harness, usually SIGTERM).
    public var exitStatus: ExitStatus
    /// The serial log file.
    public var logPath: String
    /// The last lines QEMU wrote to stderr (its own errors).
    public var qemuStderr: String
}

/// Runs machine plans under QEMU.
public final class QEMUProcess: Sendable {
    /// Errors running QEMU.
    public enum Error: Swift.Error, CustomStringConvertible {
        /// The log file could not be created.
        case logFile(path: String, reason: String)
        /// ingot received a signal; QEMU was ended.
        case interrupted(signal: Int32, logPath: String)
        /// The task was cancelled; QEMU was ended.
        case cancelled

        public var description: String {
            switch self {
            case .logFile(let path, let reason):
                return "cannot write the serial log \(path): \(reason); check the run directory"
            case .interrupted(let signal, let logPath):
                return "interrupted by signal \(signal); QEMU was stopped (serial log so far: \(logPath))"
            case .cancelled:
                return "the run was cancelled; QEMU was stopped"
            }
        }
    }

    /// Seconds between SIGTERM and SIGKILL.
    public let graceSeconds: Double
    /// Hard cap on a run when the watcher sets none (seconds).
    public let maximumSeconds: Double
    private let logger: Logger?

    /// Creates a runner.
    /// - Parameters:
    ///   - graceSeconds: wait after SIGTERM before SIGKILL.
    ///   - maximumSeconds: absolute limit for one run, whatever the stage timeouts say.
    ///   - logger: optional logger.
    public init(graceSeconds: Double = 2, maximumSeconds: Double = 1800, logger: Logger? = nil) {
        self.graceSeconds = graceSeconds
        self.maximumSeconds = maximumSeconds
        self.logger = logger
    }

    /// Runs `plan`, feeding the console to `watcher`, and returns once QEMU has ended.
    /// In `.pipe` mode QEMU is ended as soon as the verdict is known; in `.stdio` (interactive)
    /// mode the console is the user's terminal and the run lasts until QEMU exits.
    /// - Parameters:
    ///   - plan: the machine plan (scratch files are created first).
    ///   - watcher: the stage watcher for this boot.
    ///   - logPath: where the full serial log is written (`.pipe` mode; `.stdio` uses the plan's).
    public func run(plan: MachinePlan, watcher: StageWatcher, logPath: String) async throws -> BootResult {
        let plan = plan.withFreeForwards()
        try plan.prepareScratchFiles()
        // nonisolated(unsafe): the caller awaits this run, so until it returns only the supervision
        // thread uses the watcher (StageWatcher is a single-thread object handed over, not shared).
        nonisolated(unsafe) let watcher = watcher
        return try await superviseOnThread(named: "ingot-qemu-\(plan.board)") { cancelled in
            try self.supervise(plan: plan, watcher: watcher, logPath: logPath, cancelled: cancelled)
        }
    }

    // The blocking supervision loop, on its own thread.
    private func supervise(plan: MachinePlan, watcher: StageWatcher, logPath: String, cancelled: CancelFlag) throws
        -> BootResult
    {
        let interactive = plan.serial == .stdio
        let log = interactive ? plan.consoleLogPath : logPath
        let logFD = interactive ? -1 : open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if !interactive && logFD < 0 { throw Error.logFile(path: logPath, reason: String(cString: strerror(errno))) }
        defer { if logFD >= 0 { close(logFD) } }

        let interrupts = cancelled.listenForInterrupts()
        defer { InterruptStream.shared.remove(interrupts) }
        if let reason = cancelled.reason { throw stopError(reason, log: log) }
        let start = Date()
        let child = try ChildProcess.spawn(
            .init(
                plan.executable, plan.arguments, standardInput: interactive ? .inherit : .null,
                standardOutput: interactive ? .inherit : .stream, standardError: .capture(limit: 4096),
                graceSeconds: graceSeconds))
        // Cancellation or an interrupt ends QEMU's group at once; the loop below then reports it.
        cancelled.whenSet { child.terminate() }
        let terminal = interactive ? TerminalForeground(group: child.pid) : nil
        defer { terminal?.restore() }
        logger?.debug("started \(plan.executable) pid \(child.pid)", metadata: ["board": "\(plan.board)"])

        var tailReader = interactive ? LogTail(path: log) : nil
        var outputEnded = interactive
        var verdict: BootVerdict?
        var stop: CancelFlag.Reason?
        let elapsed = { Date().timeIntervalSince(start) }
        // Readiness over the network: probe rounds through the plan's forwarded ports.
        let probes = watcher.rules.probes.isEmpty ? nil : ProbeLoop(network: plan.network, start: start)

        while true {
            if let output = child.standardOutputStream {
                let (chunks, finished) = output.take(waiting: 0.1)
                for bytes in chunks {
                    bytes.withUnsafeBytes { _ = write(logFD, $0.baseAddress, $0.count) }
                    if verdict == nil { verdict = watcher.feed(bytes, at: elapsed()) }
                }
                outputEnded = finished
            } else {
                _ = child.waitBlocking(seconds: 0.1)
            }
            if let bytes = tailReader?.readNew(), !bytes.isEmpty, verdict == nil {
                verdict = watcher.feed(bytes, at: elapsed())
            }
            // A stop request wins over anything seen after it.
            if let reason = cancelled.reason {
                stop = reason
                break
            }
            if verdict == nil, !interactive { verdict = watcher.check(at: elapsed()) }
            if verdict == nil, !interactive, let probes { verdict = probes.poll(watcher, at: elapsed()) }
            if verdict != nil && !interactive { break }
            if !interactive && elapsed() > maximumSeconds {
                verdict = watcher.finish(
                    at: elapsed(), cause: "run exceeded the harness limit of \(Int(maximumSeconds)) s")
                break
            }
            if outputEnded && child.hasEnded { break }
        }
        child.terminate(grace: graceSeconds)
        let end = child.waitBlocking()
        let wall = elapsed()
        if let stop { throw stopError(stop, log: log) }
        let qemuStderr = end.standardErrorText.trimmingCharacters(in: .whitespacesAndNewlines)
        if verdict == nil {
            if let bytes = tailReader?.readNew(), !bytes.isEmpty { watcher.feed(bytes, at: wall) }
            var cause = "QEMU exited (\(end.status))"
            if !qemuStderr.isEmpty {
                cause += " saying: \(qemuStderr.split(separator: "\n").suffix(3).joined(separator: " / "))"
            }
            verdict = watcher.verdict ?? watcher.finish(at: wall, cause: cause)
        }
        logger?.debug("QEMU ended: \(end.status)", metadata: ["board": "\(plan.board)"])
        return BootResult(
            verdict: verdict ?? watcher.finish(at: wall, cause: "run ended"), wallSeconds: wall,
            accelerator: plan.accelerator,
            exitStatus: end.status, logPath: log, qemuStderr: qemuStderr)
    }

    private func stopError(_ reason: CancelFlag.Reason, log: String) -> Error {
        switch reason {
        case .cancelled: return .cancelled
        case .interrupted(let signal): return .interrupted(signal: signal, logPath: log)
        }
    }
}

/// Follows a file QEMU writes (the interactive console log) from where it was last read.
struct LogTail {
    let path: String
    var offset: UInt64 = 0

    init(path: String) { self.path = path }

    mutating func readNew() -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: offset)) != nil, let data = try? handle.readToEnd() else { return [] }
        offset += UInt64(data.count)
        return Array(data)
    }
}
