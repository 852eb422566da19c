// While builds are staging, SIGINT, SIGTERM and SIGHUP discard every staging directory and then
// end ingot with the same signal (so the shell sees an interrupted command). Built on
// IngotSystem's one interrupt stream, which first ends the host tools still running
// (mke2fs, qemu-img, ...) so nothing writes into a directory being removed.

import IngotSystem

/// Cleanups to run when ingot is interrupted.
final class InterruptCleanup: Sendable {
    static let shared = InterruptCleanup()

    /// Registers `cleanup`; it runs once, on the first interrupt.
    /// - Returns: a token for `remove(_:)`.
    func add(_ cleanup: @escaping @Sendable () -> Void) -> Int {
        InterruptStream.shared.addCleanup(cleanup)
    }

    /// Unregisters a cleanup (the build committed or aborted on its own).
    func remove(_ token: Int) {
        InterruptStream.shared.remove(token)
    }
}
