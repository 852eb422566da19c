// The libvirt boot backend: one transient domain per run, created paused, console stream attached,
// then resumed, so no early output is lost; console bytes feed the stage watcher (per-stage
// timeouts) and the local log; the domain is always destroyed at the end — verdict, timeout,
// error, cancellation (at any point, creation included) or a signal to ingot. Artifacts are passed by path: the daemon must see
// the same files (local daemon, or a host sharing the filesystem).

import Foundation
import IngotContract
import IngotSpec
import IngotSystem
import Logging
import Synchronization

/// What one libvirt run left behind, for reports and for checking where cells ran.
public struct LibvirtRunRecord: Codable, Equatable, Sendable {
    /// The libvirt URI the domain ran on.
    public var uri: String
    /// The transient domain's name (`ingot-<board>-<uuid8>`).
    public var domain: String
    /// The domain UUID the daemon assigned.
    public var uuid: String
    /// Whether the boot reached readiness.
    public var passed: Bool
}

/// Runs machine plans as transient libvirt domains on one daemon.
public final class LibvirtBackend: BootBackend, Sendable {
    public var kind: BootBackendKind { .libvirt }
    /// The libvirt URI (`qemu:///system`, `qemu+tcp://10.123.0.1/system`).
    public var host: String { uri }

    /// The libvirt URI.
    public let uri: String
    /// Hard cap on a run when the watcher sets none (seconds).
    public let maximumSeconds: Double
    private let logger: Logger?
    private let records = Mutex<[LibvirtRunRecord]>([])

    /// Creates a backend for one daemon; nothing is contacted until a run.
    /// - Parameters:
    ///   - uri: the libvirt URI.
    ///   - maximumSeconds: absolute limit for one run, whatever the stage timeouts say.
    ///   - logger: optional logger.
    public init(uri: String, maximumSeconds: Double = 1800, logger: Logger? = nil) {
        self.uri = uri
        self.maximumSeconds = maximumSeconds
        self.logger = logger
    }

    /// The runs made through this backend so far, oldest first.
    public var runs: [LibvirtRunRecord] {
        records.withLock { $0 }
    }

    /// Runs `plan` as a transient domain and returns once the domain is destroyed.
    /// - Parameters:
    ///   - plan: the machine plan (scratch files such as the UEFI VARS copy are created first).
    ///   - watcher: the stage watcher for this boot.
    ///   - logPath: where the console is written (locally, whatever the host).
    /// - Throws: `LibvirtConnection.Error` for infrastructure failures (unreachable daemon,
    ///   domain creation or console failure, cancellation); guest failures are verdicts.
    public func run(plan: MachinePlan, watcher: StageWatcher, logPath: String) async throws -> BootResult {
        let freed = plan.withFreeForwards()
        let plan =
            freed.network == nil
            ? freed : freed.withForwardAddress(try Self.forwardAddress(uri: uri, board: freed.board))
        try plan.prepareScratchFiles()
        // nonisolated(unsafe): the caller awaits this run, so until it returns only the supervision
        // thread uses the watcher (StageWatcher is a single-thread object handed over, not shared).
        nonisolated(unsafe) let watcher = watcher
        return try await superviseOnThread(named: "ingot-libvirt-\(plan.board)") { cancelled in
            try self.supervise(plan: plan, watcher: watcher, logPath: logPath, cancelled: cancelled)
        }
    }

    // The blocking supervision loop, on its own thread. A stop request (task cancellation or an
    // interrupt to ingot) is honoured at every point: before the connection, during domain
    // creation (the half-made domain is destroyed by name from another thread), between creation
    // and resume, while the guest boots and after readiness (the settle period); the domain is
    // destroyed on every path out, and a stop always throws rather than returning a verdict.
    private func supervise(plan: MachinePlan, watcher: StageWatcher, logPath: String, cancelled: CancelFlag) throws
        -> BootResult
    {
        let interrupts = cancelled.listenForInterrupts()
        defer { InterruptStream.shared.remove(interrupts) }
        let name = LibvirtDomainXML.uniqueName(board: plan.board)
        func stopError() -> Swift.Error? {
            switch cancelled.reason {
            case nil: return nil
            case .cancelled: return LibvirtConnection.Error.cancelled(uri: uri, domain: name)
            case .interrupted(let signal): return QEMUProcess.Error.interrupted(signal: signal, logPath: logPath)
            }
        }
        if let stop = stopError() { throw stop }
        let xml = try LibvirtDomainXML.render(plan: plan, name: name)
        let connection = try LibvirtConnection(uri: uri)
        if let stop = stopError() { throw stop }
        let logFD = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard logFD >= 0 else {
            throw QEMUProcess.Error.logFile(path: logPath, reason: String(cString: strerror(errno)))
        }
        defer { close(logFD) }

        // Creating a domain can take long on a busy host (libvirtd starts QEMU and talks to its
        // monitor): a stop meanwhile destroys it by name, which aborts the start.
        let daemon = uri
        cancelled.whenSet {
            let thread = Thread {
                guard let connection = try? LibvirtConnection(uri: daemon) else { return }
                LibvirtDomain.lookup(name: name, on: connection)?.destroy()
            }
            thread.name = "ingot-libvirt-stop"
            thread.start()
        }
        let creation = Date()
        let domain: LibvirtDomain
        do {
            domain = try LibvirtDomain.createPaused(xml: xml, name: name, on: connection)
        } catch {
            if let stop = stopError() { throw stop }
            throw error
        }
        // From here on the domain exists: every path out destroys it.
        var reader: ConsoleReader?
        defer {
            domain.destroy()
            reader?.finish()
        }
        logger?.debug(
            "created paused domain \(name) (\(domain.uuid)) in \(String(format: "%.1f", Date().timeIntervalSince(creation))) s",
            metadata: ["uri": "\(uri)"])
        if let stop = stopError() { throw stop }

        let stream = try domain.openConsole()
        let consoleReader = ConsoleReader(stream: stream)
        reader = consoleReader
        if let stop = stopError() { throw stop }
        do {
            try domain.resume()
        } catch {
            if let stop = stopError() { throw stop }
            throw error
        }
        // Stage timeouts measure the guest: the clock starts when it starts running, not while
        // libvirtd was still creating the domain.
        let start = Date()
        let elapsed = { Date().timeIntervalSince(start) }

        var verdict: BootVerdict?
        var ended: String?
        let probes = watcher.rules.probes.isEmpty ? nil : ProbeLoop(network: plan.network, start: start)
        var stop: Swift.Error?
        while verdict == nil {
            let chunks = consoleReader.take(waiting: 0.1)
            // A stop request wins over anything the console shows after it.
            if let request = stopError() {
                stop = request
                break
            }
            for chunk in chunks {
                switch chunk {
                case .bytes(let bytes):
                    bytes.withUnsafeBytes { _ = write(logFD, $0.baseAddress, $0.count) }
                    if verdict == nil { verdict = watcher.feed(bytes, at: elapsed()) }
                case .end:
                    ended = "the domain's console closed (domain ended)"
                case .failed(let message):
                    ended = "the domain's console failed: \(message)"
                }
            }
            if verdict != nil { break }
            verdict = watcher.check(at: elapsed())
            if verdict != nil { break }
            if let probes { verdict = probes.poll(watcher, at: elapsed()) }
            if verdict != nil { break }
            if let ended {
                verdict = watcher.finish(at: elapsed(), cause: ended)
                break
            }
            if elapsed() > maximumSeconds {
                verdict = watcher.finish(
                    at: elapsed(), cause: "run exceeded the harness limit of \(Int(maximumSeconds)) s")
            }
        }
        let wasRunning = domain.destroy()
        let wall = elapsed()
        logger?.debug("domain \(name) \(wasRunning ? "destroyed" : "had ended")", metadata: ["uri": "\(uri)"])
        if let stop { throw stop }
        let final = verdict ?? watcher.finish(at: wall, cause: "run ended")
        let record = LibvirtRunRecord(uri: uri, domain: name, uuid: domain.uuid, passed: final.passed)
        records.withLock { $0.append(record) }
        return BootResult(
            verdict: final, wallSeconds: wall, accelerator: plan.accelerator,
            exitStatus: wasRunning ? .signaled(SIGTERM) : .exited(0), logPath: logPath, qemuStderr: "")
    }
}

/// Reads a console stream on its own thread (receives block) and hands chunks to the supervisor.
// @unchecked: `pending` and `done` are only touched under `condition` (a condition variable, which Mutex lacks).
final class ConsoleReader: @unchecked Sendable {
    private let stream: LibvirtStream
    private let condition = NSCondition()
    private var pending: [LibvirtStream.Chunk] = []
    private var done = false

    init(stream: LibvirtStream) {
        self.stream = stream
        let thread = Thread { [self] in self.loop() }
        thread.name = "ingot-libvirt-console"
        thread.start()
    }

    private func loop() {
        while true {
            let chunk = stream.receive()
            condition.lock()
            pending.append(chunk)
            condition.signal()
            condition.unlock()
            if case .bytes = chunk { continue }
            break
        }
        condition.lock()
        done = true
        condition.broadcast()
        condition.unlock()
    }

    /// The chunks received so far, waiting up to `seconds` for the first.
    func take(waiting seconds: Double) -> [LibvirtStream.Chunk] {
        condition.lock()
        defer { condition.unlock() }
        if pending.isEmpty && !done { _ = condition.wait(until: Date().addingTimeInterval(seconds)) }
        let chunks = pending
        pending.removeAll()
        return chunks
    }

    /// Waits (bounded) for the reader to see the end after the domain was destroyed; aborts the
    /// stream if it does not.
    func finish() {
        let deadline = Date().addingTimeInterval(5)
        condition.lock()
        while !done && condition.wait(until: deadline) {}
        let finished = done
        condition.unlock()
        if !finished { stream.abort() }
    }
}
