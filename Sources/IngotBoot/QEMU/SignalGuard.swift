// Ending children when ingot itself is told to stop: while any machine runs, SIGINT, SIGTERM and
// SIGHUP are caught; every live process group gets SIGTERM at once and each runner, seeing the
// flag, finishes the SIGTERM → grace → SIGKILL → waitpid sequence before reporting the signal.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation

/// Process-wide registry of running children, with the signal handler that ends them.
final class SignalGuard: @unchecked Sendable {
    static let shared = SignalGuard()
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    private let lock = NSLock()
    private var groups: [Int: pid_t] = [:]
    private var nextToken = 0
    private var sources: [DispatchSourceSignal] = []
    private var received: Int32 = 0
    private let queue = DispatchQueue(label: "ingot.boot.signals")

    /// The signal received while children were registered (0 if none).
    var receivedSignal: Int32 {
        lock.lock()
        defer { lock.unlock() }
        return received
    }

    /// Registers a child group; installs the handlers with the first one.
    func register(group: pid_t) -> Int {
        lock.lock()
        defer { lock.unlock() }
        nextToken += 1
        groups[nextToken] = group
        if sources.isEmpty {
            received = 0
            for signalNumber in Self.signals {
                signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
                source.setEventHandler { [weak self] in self?.handle(signalNumber) }
                source.resume()
                sources.append(source)
            }
        }
        return nextToken
    }

    /// Unregisters a child group; restores default handling after the last one.
    func unregister(_ token: Int) {
        lock.lock()
        defer { lock.unlock() }
        groups.removeValue(forKey: token)
        if groups.isEmpty {
            for source in sources { source.cancel() }
            sources.removeAll()
            for signalNumber in Self.signals { signal(signalNumber, SIG_DFL) }
        }
    }

    private func handle(_ signalNumber: Int32) {
        lock.lock()
        received = signalNumber
        let live = Array(groups.values)
        lock.unlock()
        for group in live { _ = kill(-group, SIGTERM) }
    }
}
