// The matrix scheduler with fake backends (no QEMU): per-host slot and memory limits, spreading
// over hosts least-loaded first, retry rules (infrastructure only, on another host), results in
// job order, and the exit code. The fakes record concurrency instead of timing anything.

import Foundation
import Synchronization
import IngotSpec
import IngotContract
import Testing

@testable import IngotBoot

/// A backend that answers from a script per board and records how many runs overlap.
final class FakeBackend: BootBackend, Sendable {
    enum Behaviour: Sendable {
        case pass
        case guestFailure(BootStage)
        case throwing
        case emulatorDies
    }

    let kind: BootBackendKind
    let host: String
    private struct State {
        var script: [String: [Behaviour]]
        var running = 0
        var peak = 0
        var runs: [String] = []
        var peakMemory = 0
        var memory = 0
    }
    private let state: Mutex<State>
    let memoryOf: [String: Int]

    /// The most runs that overlapped.
    var peak: Int { state.withLock { $0.peak } }
    /// The boards run, in start order.
    var runs: [String] { state.withLock { $0.runs } }
    /// The most memory the overlapping runs held.
    var peakMemory: Int { state.withLock { $0.peakMemory } }

    init(
        kind: BootBackendKind = .qemu, host: String, script: [String: [Behaviour]] = [:], memoryOf: [String: Int] = [:]
    ) {
        self.kind = kind
        self.host = host
        self.state = Mutex(State(script: script))
        self.memoryOf = memoryOf
    }

    struct Thrown: Error, CustomStringConvertible {
        var description: String { "connection refused" }
    }

    func run(plan: MachinePlan, watcher: StageWatcher, logPath: String) async throws -> BootResult {
        let behaviour: Behaviour = state.withLock { state in
            state.running += 1
            state.peak = max(state.peak, state.running)
            state.memory += memoryOf[plan.board] ?? 0
            state.peakMemory = max(state.peakMemory, state.memory)
            state.runs.append(plan.board)
            var queue = state.script[plan.board] ?? []
            let next = queue.isEmpty ? Behaviour.pass : queue.removeFirst()
            state.script[plan.board] = queue
            return next
        }
        // Let other tasks start while this "machine" runs.
        for _ in 0..<20 { await Task.yield() }
        try await Task.sleep(nanoseconds: 20_000_000)
        state.withLock { state in
            state.running -= 1
            state.memory -= memoryOf[plan.board] ?? 0
        }
        var exit = IngotBoot.ExitStatus.signaled(15)
        switch behaviour {
        case .pass:
            watcher.feed(text: "Linux version 6.1\n" + IngotMarker(stage: "ready", seq: 1).line + "\n", at: 1)
        case .guestFailure(let stage):
            watcher.feed(text: "Linux version 6.1\n", at: 1)
            if stage == .kernel { watcher.feed(text: "Kernel panic - not syncing\n", at: 2) }
        case .throwing:
            throw Thrown()
        case .emulatorDies:
            exit = .exited(1)
        }
        let verdict = watcher.verdict ?? watcher.finish(at: 3, cause: "QEMU exited (\(exit))")
        return BootResult(
            verdict: verdict, wallSeconds: 3, accelerator: "tcg", exitStatus: exit, logPath: logPath,
            qemuStderr: exit == .exited(1) ? "qemu: cannot allocate memory" : "")
    }
}

struct MatrixSchedulerTests {
    static let logs = NSTemporaryDirectory() + "ingot-matrix-tests"

    static func job(
        _ board: String, format: OutputFormat = .kernelInitrd, backend: BootBackendKind = .qemu, memory: Int = 512
    ) -> MatrixJob {
        let plan = MachinePlan(board: board, executable: "/bin/false", arguments: [], directKernelBoot: true)
        let rules = WatchRules(
            stages: [.kernel: StageRule(patterns: ["Linux version"], timeoutSeconds: 10)],
            notExpected: [.firmware, .bootloader])
        return MatrixJob(
            cell: MatrixCell(board: board, format: format, backend: backend),
            runnable: .init(plan: plan, rules: rules, memoryMiB: memory, logDirectory: "\(logs)/\(board)-\(format)"))
    }

    @Test func slotLimitIsNeverExceeded() async throws {
        let backend = FakeBackend(host: "local")
        let scheduler = try MatrixScheduler(hosts: [MatrixHost(backend: backend, slots: 2, memoryMiB: 100_000)])
        let jobs = (0..<7).map { Self.job("b\($0)") }
        let results = await scheduler.run(jobs)
        #expect(results.map(\.board) == jobs.map(\.cell.board))  // job order, not finishing order
        #expect(results.allSatisfy { $0.status == .passed && $0.attempts == 1 })
        #expect(backend.peak == 2)
        #expect(backend.runs.count == 7)
        #expect(MatrixExitCode.of(results) == .passed)
    }

    @Test func memoryLimitHoldsBackBigGuests() async throws {
        // Four 1 GiB guests, 3 slots, but only 2 GiB of memory: at most two at once.
        let backend = FakeBackend(host: "local", memoryOf: ["a": 1024, "b": 1024, "c": 1024, "d": 1024])
        let scheduler = try MatrixScheduler(hosts: [MatrixHost(backend: backend, slots: 3, memoryMiB: 2048)])
        let results = await scheduler.run(["a", "b", "c", "d"].map { Self.job($0, memory: 1024) })
        #expect(results.allSatisfy { $0.status == .passed })
        #expect(backend.peakMemory <= 2048)
        #expect(backend.peak == 2)
    }

    @Test func guestTooBigForEveryHostIsAnError() async throws {
        let scheduler = try MatrixScheduler(hosts: [
            MatrixHost(backend: FakeBackend(host: "local"), slots: 2, memoryMiB: 512)
        ])
        let results = await scheduler.run([Self.job("rpi3", memory: 1024), Self.job("x", memory: 256)])
        #expect(results[0].status == .error)
        #expect(results[0].verdict.reason.contains("needs 1024 MiB") && results[0].verdict.reason.contains("512 MiB"))
        #expect(results[0].attempts == 0)
        #expect(results[1].status == .passed)
        #expect(MatrixExitCode.of(results) == .infrastructure)
    }

    @Test func cellsSpreadOverHostsLeastLoadedFirst() async throws {
        let one = FakeBackend(kind: .libvirt, host: "qemu+ssh://one/system")
        let two = FakeBackend(kind: .libvirt, host: "qemu+ssh://two/system")
        let scheduler = try MatrixScheduler(hosts: [
            MatrixHost(backend: one, slots: 2, memoryMiB: 8192), MatrixHost(backend: two, slots: 2, memoryMiB: 8192),
        ])
        let results = await scheduler.run((0..<4).map { Self.job("b\($0)", backend: .libvirt) })
        // Least-loaded first: the four cells alternate one, two, one, two.
        #expect(
            results.map(\.host) == [
                "qemu+ssh://one/system", "qemu+ssh://two/system", "qemu+ssh://one/system", "qemu+ssh://two/system",
            ])
        #expect(one.peak == 2 && two.peak == 2)
    }

    @Test func cellsOnlyRunOnHostsOfTheirBackend() async throws {
        let local = FakeBackend(kind: .qemu, host: "local")
        let scheduler = try MatrixScheduler(hosts: [MatrixHost(backend: local, slots: 1, memoryMiB: 4096)])
        let results = await scheduler.run([Self.job("a"), Self.job("a", backend: .libvirt)])
        #expect(results[0].status == .passed && results[0].host == "local")
        #expect(results[1].status == .error && results[1].verdict.reason.contains("no libvirt host"))
        #expect(local.runs == ["a"])
    }

    @Test func infrastructureFailuresAreRetriedOnAnotherHost() async throws {
        let flaky = FakeBackend(host: "flaky", script: ["a": [.throwing]])
        let good = FakeBackend(host: "good")
        // The first host is preferred on a tie, so the first attempt lands on the flaky one.
        let scheduler = try MatrixScheduler(
            hosts: [
                MatrixHost(backend: flaky, slots: 1, memoryMiB: 4096),
                MatrixHost(backend: good, slots: 1, memoryMiB: 4096),
            ], retries: 1)
        let results = await scheduler.run([Self.job("a")])
        let cell = try #require(results.first)
        #expect(cell.status == .passed)
        #expect(cell.attempts == 2)
        #expect(cell.host == "good")
        #expect(
            cell.retryReasons.count == 1 && cell.retryReasons[0].contains("flaky")
                && cell.retryReasons[0].contains("connection refused"))
        #expect(flaky.runs == ["a"] && good.runs == ["a"])
    }

    @Test func emulatorDyingBeforeAnyStageIsInfrastructureAndRetriesRunOut() async throws {
        let backend = FakeBackend(host: "local", script: ["a": [.emulatorDies, .emulatorDies, .emulatorDies]])
        let scheduler = try MatrixScheduler(
            hosts: [MatrixHost(backend: backend, slots: 1, memoryMiB: 4096)], retries: 2)
        final class Events: Sendable {
            let kinds = Mutex<[String]>([])
        }
        let events = Events()
        let results = await scheduler.run([Self.job("a")]) { event in
            events.kinds.withLock { $0.append(event.kind.rawValue) }
        }
        let cell = try #require(results.first)
        #expect(cell.status == .error)
        #expect(cell.attempts == 3)
        #expect(backend.runs.count == 3)
        #expect(
            cell.verdict.reason.contains("after 3 attempt(s)") && cell.verdict.reason.contains("cannot allocate memory")
        )
        #expect(cell.retryReasons.count == 2)
        #expect(events.kinds.withLock { $0 } == ["started", "retrying", "started", "retrying", "started", "finished"])
        #expect(MatrixExitCode.of(results) == .infrastructure)
    }

    @Test func guestFailuresAreNeverRetried() async throws {
        let backend = FakeBackend(
            host: "local", script: ["a": [.guestFailure(.kernel)], "b": [.guestFailure(.`init`)]])
        let scheduler = try MatrixScheduler(
            hosts: [MatrixHost(backend: backend, slots: 2, memoryMiB: 4096)], retries: 3)
        let results = await scheduler.run([Self.job("a"), Self.job("b"), Self.job("c")])
        #expect(results.map(\.status) == [.failed, .failed, .passed])
        #expect(results[0].verdict.failedStage == .kernel && results[0].verdict.reason.contains("Kernel panic"))
        #expect(results[1].verdict.reached == .kernel)  // timed out or ended awaiting init
        #expect(results.map(\.attempts) == [1, 1, 1])
        #expect(backend.runs.sorted() == ["a", "b", "c"])
    }

    @Test func exitCodePrecedence() throws {
        func cell(_ status: CellStatus) -> CellResult {
            CellResult(
                board: "b", format: .raw, backend: .qemu, host: "local",
                verdict: BootVerdict(passed: status == .passed, reached: nil, failedStage: nil, reason: "r"),
                logPath: "",
                status: status)
        }
        #expect(MatrixExitCode.of([]) == .passed)
        #expect(MatrixExitCode.of([cell(.passed), cell(.skipped)]) == .passed)
        #expect(MatrixExitCode.of([cell(.passed), cell(.error)]) == .infrastructure)
        #expect(MatrixExitCode.of([cell(.error), cell(.failed)]) == .guestFailure)
        #expect(MatrixExitCode.of([cell(.failed)]).rawValue == 1)
    }

    @Test func notRunnableCellsKeepTheirReason() async throws {
        let scheduler = try MatrixScheduler(hosts: [
            MatrixHost(backend: FakeBackend(host: "local"), slots: 1, memoryMiB: 4096)
        ])
        let skipped = MatrixJob(
            cell: MatrixCell(board: "rpi4", format: .raw, backend: .qemu), notRunnable: .skipped,
            reason: "board rpi4 needs QEMU ≥ 9.0", buildSeconds: 12)
        let results = await scheduler.run([skipped, Self.job("a")])
        #expect(results[0].status == .skipped && results[0].attempts == 0 && results[0].durations["build"] == 12)
        #expect(results[0].summary == "skipped: board rpi4 needs QEMU ≥ 9.0")
        #expect(MatrixExitCode.of(results) == .passed)
        #expect(throws: MatrixScheduler.Error.self) { try MatrixScheduler(hosts: []) }
    }

    @Test func meminfoParsing() {
        #expect(MatrixHost.availableMemoryMiB(meminfo: "MemTotal: 24000000 kB\nMemAvailable:   2097152 kB\n") == 2048)
        #expect(MatrixHost.availableMemoryMiB(meminfo: "MemTotal: 1 kB\n") == nil)
    }
}
