// The one place ingot receives SIGINT, SIGTERM and SIGHUP. While anything is registered — a live
// child, a cleanup, a handler, a subscriber — the signals are caught. On the first one:
//   1. every live child process group is ended (SIGTERM → grace → SIGKILL),
//   2. handlers are called and subscribers see the signal (runs stop and report it),
//   3. once the children are gone (bounded), cleanups run (staging directories are removed),
//   4. if no handler or subscriber claimed the interrupt, ingot ends by the same signal, so the
//      shell sees an interrupted command.
// A second signal while the first is handled kills every live group at once and ends ingot.
// The handler (C, async-signal-safe) only writes the signal number to a pipe; a reader thread
// does the rest. (libdispatch's signal sources were tried first: on Linux they lost signals that
// reached a thread not blocking them while the disposition was SIG_IGN.)

import CIngotSystem
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// The process-wide interrupt signal stream with its registrations.
public final class InterruptStream: Sendable {
    /// The shared stream (signals are process-wide).
    public static let shared = InterruptStream()
    /// The signals treated as interrupts.
    public static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    private enum Registration: Sendable {
        case cleanup(@Sendable () -> Void)
        case handler(@Sendable (Int32) -> Void)
        case subscriber(AsyncStream<Int32>.Continuation)
        case child(ChildProcess)
    }

    private struct State {
        var registrations: [Int: Registration] = [:]
        var next = 0
        var installed = false
        var received: Int32?
        var handling = false
        var pipeEnds: (read: Int32, write: Int32)?
    }
    private let state = Mutex(State())

    init() {}

    // MARK: Registering

    /// Runs `cleanup` once, on the first interrupt, after live children have ended.
    /// - Returns: a token for `remove(_:)`.
    public func addCleanup(_ cleanup: @escaping @Sendable () -> Void) -> Int {
        add(.cleanup(cleanup))
    }

    /// Calls `handler` with the signal on the first interrupt. While a handler is registered
    /// ingot is not ended by the signal: its owner stops and reports it.
    /// - Returns: a token for `remove(_:)`.
    public func addHandler(_ handler: @escaping @Sendable (Int32) -> Void) -> Int {
        add(.handler(handler))
    }

    /// The interrupts received from now on, as an async stream that ends when its consumer stops
    /// iterating. Like a handler, a subscriber keeps ingot from being ended by the signal.
    public func subscribe() -> AsyncStream<Int32> {
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        let token = add(.subscriber(continuation))
        continuation.onTermination = { [weak self] _ in self?.remove(token) }
        return stream
    }

    /// Tracks a live child so an interrupt ends its group (done by `ChildProcess.spawn`).
    func track(_ child: ChildProcess) -> Int {
        add(.child(child))
    }

    /// Removes a registration; with the last one, the signals get their default action back.
    public func remove(_ token: Int) {
        state.withLock { state in
            guard state.registrations.removeValue(forKey: token) != nil else { return }
            if state.registrations.isEmpty && !state.handling { Self.uninstall(&state) }
        }
    }

    /// The interrupt ingot received, if any. It stays set: once interrupted, ingot is stopping,
    /// and work started afterwards (a retry, the next matrix cell) must stop at once too.
    public var receivedSignal: Int32? {
        state.withLock { $0.received }
    }

    private func add(_ registration: Registration) -> Int {
        state.withLock { state in
            state.next += 1
            state.registrations[state.next] = registration
            if !state.installed { install(&state) }
            return state.next
        }
    }

    // MARK: Delivering

    private func install(_ state: inout State) {
        if state.pipeEnds == nil {
            var fds: [Int32] = [-1, -1]
            guard pipe(&fds) == 0 else { return }  // no pipe: signals keep their default action
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            // The handler must never block on a full pipe.
            _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
            state.pipeEnds = (fds[0], fds[1])
            let readEnd = fds[0]
            let thread = Thread { [self] in readSignals(from: readEnd) }
            thread.name = "ingot-interrupts"
            thread.start()
        }
        guard let pipeEnds = state.pipeEnds else { return }
        for signalNumber in Self.signals { _ = ingot_signal_catch(signalNumber, pipeEnds.write) }
        state.installed = true
    }

    private static func uninstall(_ state: inout State) {
        for signalNumber in Self.signals { _ = ingot_signal_default(signalNumber) }
        state.installed = false
    }

    private func readSignals(from fd: Int32) {
        var byte: UInt8 = 0
        while true {
            let count = read(fd, &byte, 1)
            if count == 1 {
                deliver(Int32(byte))
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }

    private func deliver(_ signalNumber: Int32) {
        let (repeated, current) = state.withLock { state in
            let repeated = state.handling
            state.handling = true
            state.received = signalNumber
            return (repeated, state.registrations)
        }

        if repeated {
            // A second interrupt: no more patience.
            for case .child(let child) in current.values { child.kill() }
            endProcess(signalNumber)
        }
        // The rest waits for children; keep this reader free for a second interrupt.
        let thread = Thread { self.handleFirst(signalNumber, current) }
        thread.name = "ingot-interrupt"
        thread.start()
    }

    private func handleFirst(_ signalNumber: Int32, _ current: [Int: Registration]) {
        var children: [ChildProcess] = []
        var claimed = false
        for (_, registration) in current.sorted(by: { $0.key < $1.key }) {
            switch registration {
            case .child(let child):
                child.terminate()
                children.append(child)
            case .handler(let handler):
                handler(signalNumber)
                claimed = true
            case .subscriber(let continuation):
                continuation.yield(signalNumber)
                claimed = true
            case .cleanup:
                break
            }
        }
        // Cleanups run once the children are gone (they may write into what is cleaned up) and,
        // when ingot is about to end, also at once and once more at the very end: the rest of
        // ingot keeps running meanwhile and may still create files in a directory being removed.
        // Cleanups are idempotent (they remove what exists).
        if !claimed { runCleanups(remove: false) }
        let deadline = Date().addingTimeInterval((children.map(\.configuration.graceSeconds).max() ?? 0) + 3)
        for child in children { _ = child.waitBlocking(seconds: max(0, deadline.timeIntervalSinceNow)) }
        let cleanups = runCleanups(remove: true)
        if !claimed {
            // Children started after the interrupt are not left behind either.
            let late = state.withLock { state in
                state.registrations.values.compactMap { registration -> ChildProcess? in
                    if case .child(let child) = registration { return child }
                    return nil
                }
            }
            for child in late { child.kill() }
            for child in late { _ = child.waitBlocking(seconds: 2) }
            for cleanup in cleanups { cleanup() }
            endProcess(signalNumber)
        }
        state.withLock { state in
            state.handling = false
            if state.registrations.isEmpty { Self.uninstall(&state) }
        }
    }

    /// Runs the registered cleanups (removing them when `remove`); returns them.
    @discardableResult
    private func runCleanups(remove: Bool) -> [@Sendable () -> Void] {
        let cleanups: [@Sendable () -> Void] = state.withLock { state in
            var cleanups: [@Sendable () -> Void] = []
            for (token, registration) in state.registrations.sorted(by: { $0.key < $1.key }) {
                if case .cleanup(let cleanup) = registration {
                    cleanups.append(cleanup)
                    if remove { state.registrations.removeValue(forKey: token) }
                }
            }
            return cleanups
        }
        for cleanup in cleanups { cleanup() }
        return cleanups
    }

    /// Ends ingot by `signalNumber`, as if it had not been caught.
    private func endProcess(_ signalNumber: Int32) -> Never {
        signal(signalNumber, SIG_DFL)
        kill(getpid(), signalNumber)
        // A blocked signal (not expected) would not end us: exit with the shell's code instead.
        exit(128 + signalNumber)
    }
}
