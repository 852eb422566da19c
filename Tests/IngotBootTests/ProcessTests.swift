// The QEMU runner with real children: a shell "machine" that prints markers and then hangs, and
// a real QEMU smoke test. After every run the child's process group must be gone (/proc).

import Foundation
import IngotSpec
import IngotSystem
import IngotTestSupport
import Testing

@testable import IngotBoot

struct ProcessTests {
    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ingot-boot-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The pid the shell "machine" wrote, and whether any live process remains in its group.
    static func groupGone(pidFile: String) throws -> (pid: pid_t, gone: Bool) {
        let text = try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let pid = try #require(pid_t(text))
        let live = ProcessGroup.liveMembers(of: pid)
        let alive = FileManager.default.fileExists(atPath: "/proc/\(pid)") && !isZombie(pid)
        return (pid, live.isEmpty && !alive)
    }

    static func isZombie(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else {
            return true
        }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }

    static func shellPlan(_ script: String, directory: String) -> MachinePlan {
        MachinePlan(
            board: "shell", executable: "/bin/sh", arguments: ["-c", script], consoleLogPath: directory + "/console.log"
        )
    }

    static let rules = WatchRules(
        stages: [
            .kernel: StageRule(patterns: ["Linux version"], timeoutSeconds: 5),
            .`init`: StageRule(patterns: [], timeoutSeconds: 5),
            .ready: StageRule(patterns: [], timeoutSeconds: 5),
        ],
        notExpected: [.firmware, .bootloader])

    @Test func verdictEndsTheWholeGroup() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ready = IngotMarker(stage: "ready", seq: 1, fields: ["name": "demo"]).line
        // The shell forks a sleeping grandchild in the same group, then prints and hangs like a raspi.
        // It ignores SIGTERM before saying anything, so the harness must escalate to SIGKILL.
        let script =
            "trap '' TERM; echo $$ > \(directory)/pid; sleep 100 & echo 'Linux version 6.1'; echo '\(ready)'; sleep 100"
        let watcher = try StageWatcher(rules: Self.rules)
        let result = try await QEMUProcess(graceSeconds: 0.5).run(
            plan: Self.shellPlan(script, directory: directory), watcher: watcher, logPath: directory + "/console.log")
        #expect(result.verdict.passed)
        #expect(result.verdict.reached == .ready)
        // The shell ignores SIGTERM, so it must have been killed after the grace period.
        #expect(result.exitStatus == .signaled(SIGKILL))
        let log = try String(contentsOfFile: directory + "/console.log", encoding: .utf8)
        #expect(log.contains("Linux version 6.1\n"))
        #expect(log.contains(ready))
        #expect(try Self.groupGone(pidFile: directory + "/pid").gone)
    }

    @Test func stageTimeoutEndsTheGroup() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let rules = WatchRules(
            stages: [.kernel: StageRule(patterns: ["Linux version"], timeoutSeconds: 1)],
            notExpected: [.firmware, .bootloader])
        let script = "echo $$ > \(directory)/pid; echo 'booting...'; sleep 100"
        let result = try await QEMUProcess(graceSeconds: 0.5).run(
            plan: Self.shellPlan(script, directory: directory), watcher: try StageWatcher(rules: rules),
            logPath: directory + "/console.log")
        #expect(!result.verdict.passed)
        #expect(result.verdict.failedStage == .kernel)
        #expect(result.verdict.reason.contains("not reached within 1.0 s"))
        #expect(result.wallSeconds < 5)
        #expect(try Self.groupGone(pidFile: directory + "/pid").gone)
    }

    @Test func earlyExitReportsStderr() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script = "echo 'Linux version 6'; echo 'qemu: could not open disk image' >&2; exit 3"
        let result = try await QEMUProcess().run(
            plan: Self.shellPlan(script, directory: directory), watcher: try StageWatcher(rules: Self.rules),
            logPath: directory + "/console.log")
        #expect(!result.verdict.passed)
        #expect(result.exitStatus == .exited(3))
        #expect(result.verdict.reason.contains("could not open disk image"))
        #expect(result.verdict.failedStage == .`init`)
    }

    @Test func cancellationEndsTheGroup() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script = "echo $$ > \(directory)/pid; sleep 100"
        // Stage deadlines far away: on a loaded machine a 5 s deadline could decide before the cancel.
        let patient = WatchRules(
            stages: [
                .kernel: StageRule(patterns: ["Linux version"], timeoutSeconds: 600),
                .`init`: StageRule(patterns: [], timeoutSeconds: 600),
                .ready: StageRule(patterns: [], timeoutSeconds: 600),
            ],
            notExpected: [.firmware, .bootloader])
        let task = Task {
            try await QEMUProcess(graceSeconds: 0.5).run(
                plan: Self.shellPlan(script, directory: directory), watcher: try StageWatcher(rules: patient),
                logPath: directory + "/console.log")
        }
        // Cancel once the child runs (its pid file is written; bounded), so the group exists.
        for _ in 0..<600 where !FileManager.default.fileExists(atPath: directory + "/pid") {
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        try await Task.sleep(nanoseconds: 300_000_000)
        task.cancel()
        do {
            let result = try await task.value
            Issue.record("a cancelled run returned a verdict: \(result.verdict.reason)")
        } catch let error as QEMUProcess.Error {
            guard case .cancelled = error else {
                Issue.record("expected .cancelled, got \(error)")
                return
            }
        }
        #expect(try Self.groupGone(pidFile: directory + "/pid").gone)
    }

    @Test(.requires("qemu-system-x86_64")) func seabiosReachesFirmwareStage() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let image = directory + "/empty.raw"
        _ = FileManager.default.createFile(atPath: image, contents: Data(count: 1 << 20))
        let board = try PlanTests.board("x86_64-bios")
        let plan = try MachinePlan(
            board: board, artifacts: BootArtifacts(kind: .disk(path: image, format: "raw")),
            options: PlanOptions(runDirectory: directory, accelerator: .tcg))
        let rules = WatchRules(
            stages: [
                .firmware: StageRule(patterns: ["SeaBIOS \\(version"], timeoutSeconds: 20),
                .bootloader: StageRule(patterns: ["Booting from Hard Disk"], timeoutSeconds: 20),
            ],
            readinessPatterns: ["Booting from Hard Disk"])
        let result = try await QEMUProcess(graceSeconds: 1).run(
            plan: plan, watcher: try StageWatcher(rules: rules), logPath: directory + "/console.log")
        #expect(result.verdict.stageTimes[.firmware] != nil)
        #expect(result.verdict.passed)
        #expect(result.accelerator == "tcg")
    }
}
