// `ingot test TARGET [--board B]`: boots one build and exits 0 only if it reaches readiness.

import ArgumentParser
import Foundation
import IngotBoot
import IngotSpec

struct TestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test", abstract: "Boot one build under QEMU and gate on the readiness verdict.")

    @Argument(help: "Build prefix (out/hello-x86_64-efi), manifest or image.") var target: String
    @OptionGroup var boards: Flags.Boards
    @OptionGroup var logs: Flags.Logs
    @OptionGroup var machine: Flags.Machine
    @Option(name: .long, help: "Extra readiness pattern (regular expression) that must appear on the console.")
    var ready: String?
    @Option(name: .long, help: "Keep the console log here.") var log: String?
    @Option(name: .long, help: "Write the verdict as JSON here.") var json: String?
    @Flag(name: .long, help: "Print the QEMU command line and exit.") var dryRun = false
    @Option(name: .long, help: "Seconds from power-on by which readiness must be reached (the spec's readiness.timeout).")
    var readyTimeout: Double?
    @Option(name: .long, help: "Seconds to watch for crash-looping services after the ready marker (default 0).")
    var settle: Double = 0

    func run() async throws {
        let logger = logs.logger()
        let t = try BootTarget.resolve(target, boards: boards)
        let runDir = NSTemporaryDirectory() + "ingot-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: runDir) }
        let plan = try machine.plan(target: t) {
            try MachinePlan(
                board: t.board, artifacts: try t.preparedArtifacts(runDirectory: runDir),
                options: PlanOptions(runDirectory: runDir, serial: .pipe, bus: try machine.diskBus(), diskSize: machine.diskSizeBytes))
        }
        if dryRun {
            print(plan)
            return
        }
        let watcher = try StageWatcher(
            rules: WatchRules(
                board: t.board, readiness: ready.map { [$0] } ?? [], directKernelBoot: t.artifacts.isDirectKernelBoot,
                readinessTimeout: readyTimeout, settle: settle))
        let logPath = log.map(absolutePath) ?? runDir + "/console.log"
        let result = try await machine.infrastructure {
            try await machine.backend(target: t, logger: logger).run(plan: plan, watcher: watcher, logPath: logPath)
        }
        let v = result.verdict
        if let json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(result).write(to: URL(fileURLWithPath: json))
        }
        let times = BootStage.allCases.compactMap { s in v.stageTimes[s].map { "\(s.rawValue) \(String(format: "%.1f", $0))s" } }
        if v.passed {
            print("PASS \(t.label) on \(t.board.name): ready in \(String(format: "%.1f", result.wallSeconds)) s (\(result.accelerator)); \(times.joined(separator: ", "))")
        } else {
            print("FAIL \(t.label) on \(t.board.name): \(v.failedStage.map { "stage \($0.rawValue)" } ?? "boot") — \(v.reason)")
            for line in v.lastLines.suffix(15) { print("  | \(line)") }
            throw ExitCode(1)
        }
    }
}
