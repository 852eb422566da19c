// What every boot backend offers the test command and the matrix: run one machine plan,
// watch its console, always end the machine, and say how it went.

import Foundation
import IngotContract

/// A place machines run: the embedded QEMU process backend, or a libvirt daemon (local or remote).
public protocol BootBackend: Sendable {
    /// Which kind of backend this is (cells name the kind they run on).
    var kind: BootBackendKind { get }
    /// Where cells run: "local" or the libvirt URI.
    var host: String { get }
    /// Runs `plan`, feeding the console to `watcher`; the machine is always gone on return.
    /// Throws only for infrastructure failures (emulator missing or crashed on start, host
    /// unreachable); guest failures come back as a failed verdict.
    func run(plan: MachinePlan, watcher: StageWatcher, logPath: String) async throws -> BootResult
}

extension QEMUProcess: BootBackend {
    public var kind: BootBackendKind { .qemu }
    public var host: String { "local" }
}

/// Runs a backend's blocking supervision loop on its own thread (console reads block), turning
/// task cancellation into the loop's `CancelFlag`, which ends the machine.
func superviseOnThread(named name: String, _ body: @escaping @Sendable (CancelFlag) throws -> BootResult) async throws
    -> BootResult
{
    let cancelled = CancelFlag()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<BootResult, Swift.Error>) in
            let thread = Thread { continuation.resume(with: Result { try body(cancelled) }) }
            thread.name = name
            thread.start()
        }
    } onCancel: {
        cancelled.set()
    }
}
