// Running one machine plan: spawn QEMU in its own process group, capture the serial console to a
// log file and the stage watcher, and always end QEMU — on verdict, timeout, error, cancellation
// or a signal to ingot — with SIGTERM to the group, a grace period, SIGKILL, then waitpid.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import IngotSpec
import Logging

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
        return try await superviseOnThread(named: "ingot-qemu-\(plan.board)") { cancelled in
            try self.supervise(plan: plan, watcher: watcher, logPath: logPath, cancelled: cancelled)
        }
    }

    // The blocking supervision loop, on its own thread.
    private func supervise(plan: MachinePlan, watcher: StageWatcher, logPath: String, cancelled: CancelFlag) throws -> BootResult {
        let interactive = plan.serial == .stdio
        let log = interactive ? plan.consoleLogPath : logPath
        let logFD = interactive ? -1 : open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if !interactive && logFD < 0 { throw Error.logFile(path: logPath, reason: String(cString: strerror(errno))) }
        defer { if logFD >= 0 { close(logFD) } }

        let start = Date()
        let child = try ChildProcess.spawn(
            executable: plan.executable, arguments: plan.arguments, stdin: interactive ? .inherit : .null,
            stdout: interactive ? .inherit : .pipe, stderr: .pipe)
        let token = SignalGuard.shared.register(group: child.pid)
        let terminal = interactive ? ForegroundTerminal(group: child.pid) : nil
        logger?.debug("started \(plan.executable) pid \(child.pid)", metadata: ["board": "\(plan.board)"])
        defer {
            terminal?.restore()
            SignalGuard.shared.unregister(token)
        }

        var stderrTail: [UInt8] = []
        var tailReader = interactive ? LogTail(path: log) : nil
        var open = Set(child.pipes.keys.filter { $0 != 0 })
        var verdict: BootVerdict?
        var stopReason: Swift.Error?
        var exitStatus: ExitStatus?
        let elapsed = { Date().timeIntervalSince(start) }
        // Readiness over the network: probe rounds through the plan's forwarded ports.
        let probes = watcher.rules.probes.isEmpty ? nil : ProbeLoop(network: plan.network, start: start)

        loop: while true {
            var fds = open.sorted().compactMap { target in child.pipes[target].map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) } }
            if fds.isEmpty {
                usleep(100_000)
            } else if Glibc.poll(&fds, nfds_t(fds.count), 100) < 0 && errno != EINTR {
                break
            }
            for entry in fds where entry.revents != 0 {
                guard let target = child.pipes.first(where: { $0.value == entry.fd })?.key else { continue }
                var chunk = [UInt8](repeating: 0, count: 65536)
                let count = read(entry.fd, &chunk, chunk.count)
                if count <= 0 {
                    if count == 0 || (errno != EINTR && errno != EAGAIN) {
                        open.remove(target)
                        child.closePipe(target)
                    }
                    continue
                }
                let bytes = chunk[0..<count]
                if target == 1 {
                    bytes.withUnsafeBytes { _ = write(logFD, $0.baseAddress, $0.count) }
                    if let found = watcher.feed(bytes, at: elapsed()), verdict == nil { verdict = found }
                } else {
                    stderrTail.append(contentsOf: bytes)
                    if stderrTail.count > 4096 { stderrTail.removeFirst(stderrTail.count - 4096) }
                }
            }
            if let bytes = tailReader?.readNew(), !bytes.isEmpty, verdict == nil {
                verdict = watcher.feed(bytes, at: elapsed())
            }
            if verdict == nil, !interactive { verdict = watcher.check(at: elapsed()) }
            if verdict == nil, !interactive, let probes { verdict = probes.poll(watcher, at: elapsed()) }
            if verdict != nil && !interactive { break }
            if cancelled.isSet {
                stopReason = Error.cancelled
                break
            }
            let signal = SignalGuard.shared.receivedSignal
            if signal != 0 {
                stopReason = Error.interrupted(signal: signal, logPath: log)
                break
            }
            if !interactive && elapsed() > maximumSeconds {
                verdict = watcher.finish(at: elapsed(), cause: "run exceeded the harness limit of \(Int(maximumSeconds)) s")
                break
            }
            if let status = child.poll(), open.isEmpty || interactive {
                exitStatus = status
                break loop
            }
        }
        let status = child.terminate(grace: graceSeconds)
        let wall = elapsed()
        if let stopReason { throw stopReason }
        let qemuStderr = String(decoding: stderrTail, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if verdict == nil {
            if let bytes = tailReader?.readNew(), !bytes.isEmpty { watcher.feed(bytes, at: wall) }
            var cause = "QEMU exited (\(exitStatus ?? status))"
            if !qemuStderr.isEmpty { cause += " saying: \(qemuStderr.split(separator: "\n").suffix(3).joined(separator: " / "))" }
            verdict = watcher.verdict ?? watcher.finish(at: wall, cause: cause)
        }
        logger?.debug("QEMU ended: \(status)", metadata: ["board": "\(plan.board)"])
        return BootResult(
            verdict: verdict ?? watcher.finish(at: wall, cause: "run ended"), wallSeconds: wall, accelerator: plan.accelerator,
            exitStatus: exitStatus ?? status, logPath: log, qemuStderr: qemuStderr)
    }
}

/// A flag set from the cancellation handler, read by the supervision thread.
final class CancelFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }
    func set() {
        lock.lock()
        value = true
        lock.unlock()
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

/// Gives the terminal's foreground to QEMU's process group (interactive runs), so QEMU can read
/// the keyboard, and takes it back afterwards.
final class ForegroundTerminal {
    private let previous: pid_t
    private let active: Bool

    init(group: pid_t) {
        guard isatty(STDIN_FILENO) == 1 else {
            previous = 0
            active = false
            return
        }
        previous = tcgetpgrp(STDIN_FILENO)
        let old = signal(SIGTTOU, SIG_IGN)
        active = tcsetpgrp(STDIN_FILENO, group) == 0
        signal(SIGTTOU, old)
    }

    func restore() {
        guard active else { return }
        let old = signal(SIGTTOU, SIG_IGN)
        _ = tcsetpgrp(STDIN_FILENO, previous)
        signal(SIGTTOU, old)
    }
}
