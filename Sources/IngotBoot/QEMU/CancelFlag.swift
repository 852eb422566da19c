// Why a boot must stop early — the task was cancelled, or ingot was interrupted — set from other
// threads and polled by a backend's supervision loop, with actions that run at once when it is
// set (end QEMU's process group, destroy a domain still being created).

import Foundation
import IngotSystem

/// The stop request of one run.
///
/// `@unchecked Sendable`: `reason` and `actions` are guarded by `lock`.
final class CancelFlag: @unchecked Sendable {
    /// Why the run stops.
    enum Reason: Equatable {
        /// The task running the boot was cancelled.
        case cancelled
        /// ingot received this signal.
        case interrupted(Int32)
    }

    private let lock = NSLock()
    private var stored: Reason?
    private var actions: [@Sendable () -> Void] = []

    /// The reason, once set.
    var reason: Reason? {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }

    /// True once the run must stop.
    var isSet: Bool { reason != nil }

    /// Marks the run cancelled (from the task's cancellation handler).
    func set() { set(.cancelled) }

    /// Marks the run stopped for `reason` (the first reason wins) and runs the registered actions.
    func set(_ reason: Reason) {
        lock.lock()
        guard stored == nil else {
            lock.unlock()
            return
        }
        stored = reason
        let pending = actions
        actions.removeAll()
        lock.unlock()
        for action in pending { action() }
    }

    /// Runs `action` when the flag is set (at once if it already is).
    func whenSet(_ action: @escaping @Sendable () -> Void) {
        lock.lock()
        if stored != nil {
            lock.unlock()
            action()
            return
        }
        actions.append(action)
        lock.unlock()
    }

    /// Sets the flag on an interrupt to ingot until the returned token is removed from
    /// `InterruptStream.shared`; while registered, the interrupt does not end ingot — the run
    /// stops and reports it.
    /// A run started after an interrupt (a retry, the next matrix cell) stops at once.
    func listenForInterrupts() -> Int {
        let token = InterruptStream.shared.addHandler { [weak self] signal in self?.set(.interrupted(signal)) }
        if let signal = InterruptStream.shared.receivedSignal { set(.interrupted(signal)) }
        return token
    }
}
