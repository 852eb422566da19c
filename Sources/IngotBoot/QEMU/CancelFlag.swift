// Why a boot must stop early — the task was cancelled, or ingot was interrupted — set from other
// threads and polled by a backend's supervision loop, with actions that run at once when it is
// set (end QEMU's process group, destroy a domain still being created).

import Foundation
import IngotSystem
import Synchronization

/// The stop request of one run.
final class CancelFlag: Sendable {
    /// Why the run stops.
    enum Reason: Equatable, Sendable {
        /// The task running the boot was cancelled.
        case cancelled
        /// ingot received this signal.
        case interrupted(Int32)
    }

    private struct State {
        var reason: Reason?
        var actions: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())

    /// The reason, once set.
    var reason: Reason? { state.withLock { $0.reason } }

    /// True once the run must stop.
    var isSet: Bool { reason != nil }

    /// Marks the run cancelled (from the task's cancellation handler).
    func set() { set(.cancelled) }

    /// Marks the run stopped for `reason` (the first reason wins) and runs the registered actions.
    func set(_ reason: Reason) {
        // The actions run outside the lock: one may set or query this flag again.
        let pending: [@Sendable () -> Void] = state.withLock { state in
            guard state.reason == nil else { return [] }
            state.reason = reason
            defer { state.actions.removeAll() }
            return state.actions
        }
        for action in pending { action() }
    }

    /// Runs `action` when the flag is set (at once if it already is).
    func whenSet(_ action: @escaping @Sendable () -> Void) {
        let alreadySet = state.withLock { state in
            if state.reason != nil { return true }
            state.actions.append(action)
            return false
        }
        if alreadySet { action() }
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
