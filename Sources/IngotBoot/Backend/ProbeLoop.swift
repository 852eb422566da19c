// Drives the readiness probes of one run for a backend's supervision loop: while the watcher
// waits for them (after the ready marker), a round of attempts runs on its own thread — the
// loop keeps reading the console meanwhile — and its results are handed to the watcher on the
// loop's thread at the next poll. Rounds start a second apart until every probe has answered or
// the watcher gives up. Probes go only to the plan's forwarded ports on 127.0.0.1.

import Foundation
import Synchronization

/// The probe rounds of one run.
final class ProbeLoop: Sendable {
    private let network: GuestNetwork?
    private let start: Date
    private let interval: Double

    /// What the probe thread and the supervision loop share.
    private struct State {
        var running = false
        var results: [(index: Int, endpoint: String, outcome: ProbeOutcome, time: Double)] = []
        var nextRound = 0.0
    }
    private let state = Mutex(State())

    /// - Parameters:
    ///   - network: the plan's forwards (nil: the machine has no network; every probe fails so).
    ///   - start: when the run started (times are seconds since then, as the watcher's).
    ///   - interval: seconds between the end of one round and the start of the next.
    init(network: GuestNetwork?, start: Date, interval: Double = 1) {
        self.network = network
        self.start = start
        self.interval = interval
    }

    /// Hands finished attempts to `watcher` and starts the next round when one is due. Call it
    /// from the supervision loop's thread on every iteration.
    func poll(_ watcher: StageWatcher, at time: Double) -> BootVerdict? {
        let (finished, busy, notBefore) = state.withLock { state in
            defer { state.results.removeAll() }
            return (state.results, state.running, state.nextRound)
        }
        for result in finished {
            if let verdict = watcher.probeAttempted(
                result.index, endpoint: result.endpoint, outcome: result.outcome, at: result.time)
            {
                return verdict
            }
        }
        let due = watcher.probesDue
        guard !due.isEmpty, !busy, time >= notBefore else { return nil }
        let targets = due.map { index -> (Int, ReadinessProbe, Int?) in
            let probe = watcher.rules.probes[index]
            return (index, probe, network?.hostPort(forGuest: probe.guestPort))
        }
        state.withLock { $0.running = true }
        let address = network?.hostAddress ?? "127.0.0.1"
        let thread = Thread { [self] in
            var round: [(index: Int, endpoint: String, outcome: ProbeOutcome, time: Double)] = []
            for (index, probe, hostPort) in targets {
                guard let hostPort else {
                    let outcome = ProbeOutcome(
                        result: .error,
                        detail:
                            "the machine forwards no host port to guest port \(probe.guestPort), so the host cannot reach it"
                    )
                    round.append((index, "-", outcome, Date().timeIntervalSince(start)))
                    continue
                }
                let outcome = ProbeClient.attempt(probe, address: address, port: hostPort)
                round.append((index, "\(address):\(hostPort)", outcome, Date().timeIntervalSince(start)))
            }
            let next = Date().timeIntervalSince(start) + interval
            state.withLock { state in
                state.results += round
                state.running = false
                state.nextRound = next
            }
        }
        thread.name = "ingot-probe"
        thread.start()
        return nil
    }
}
