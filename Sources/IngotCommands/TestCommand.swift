// `ingot test TARGET [--board B] [--bus BUS]`: boots one build and exits 0 only if it reaches readiness.

import ArgumentParser
import Foundation
import IngotBoot
import IngotContract
import IngotSpec

struct TestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test", abstract: "Boot one build under QEMU and gate on the readiness verdict.")

    @Argument(help: "Build prefix (out/hello-x86_64-efi), manifest or image.") var target: String
    @OptionGroup var boards: Flags.TargetBoard
    @OptionGroup var logs: Flags.Logs
    @Option(name: .long, help: "Disk bus for a raw or qcow2 image (default: the board's first; see 'ingot boards').")
    var bus: String?
    @Option(name: .long, help: "Extra readiness pattern (regular expression) that must appear on the console.")
    var ready: String?
    @Option(name: .long, help: "Keep the console log here.") var log: String?
    @Option(name: .long, help: "Write the verdict as JSON here.") var json: String?
    @Flag(name: .long, help: "Print the QEMU command line and exit.") var dryRun = false
    @OptionGroup var readiness: Flags.Readiness
    @OptionGroup var machine: Flags.Machine

    func validate() throws {
        if let bus { _ = try BootBus.parse(bus) }
        if let ready {
            do {
                _ = try NSRegularExpression(pattern: ready)
            } catch {
                throw ValidationError(
                    "--ready '\(ready)' is not a valid regular expression; check its brackets and escapes")
            }
        }
    }

    func run() async throws {
        let logger = logs.logger()
        let t = try BootTarget.resolve(target, board: boards.board, catalog: try boards.catalog())
        let diskBus = try bus.map { try BootBus.check($0, target: t) }
        let runDir = NSTemporaryDirectory() + "ingot-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: runDir) }
        // The build's readiness rules: its console pattern and network probes (forwarded ports).
        let record = t.outputs?.manifest?.readiness
        var options = PlanOptions(runDirectory: runDir, serial: .pipe, bus: diskBus, diskSize: machine.diskSizeBytes)
        options.forwardPorts = record?.guestPorts ?? []
        let plan = try machine.plan(target: t) {
            try MachinePlan(board: t.board, artifacts: try t.preparedArtifacts(runDirectory: runDir), options: options)
        }
        if dryRun {
            print(plan)
            return
        }
        var rules = WatchRules(
            board: t.board, readiness: ready.map { [$0] } ?? [], directKernelBoot: t.artifacts.isDirectKernelBoot,
            readinessTimeout: readiness.readyTimeout, settle: readiness.settle)
        record?.apply(to: &rules, withPattern: true)
        let watcher = try StageWatcher(rules: rules)
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
        let times = BootStage.allCases.compactMap { s in
            v.stageTimes[s].map { "\(s.rawValue) \(String(format: "%.1f", $0))s" }
        }
        if v.passed {
            print(
                "PASS \(t.label) on \(t.board.name): ready in \(String(format: "%.1f", result.wallSeconds)) s (\(result.accelerator)); \(times.joined(separator: ", "))"
            )
            for probe in v.probes ?? [] { print("  probe: \(probe.summary)") }
        } else {
            print(
                "FAIL \(t.label) on \(t.board.name): \(v.failedStage.map { "stage \($0.rawValue)" } ?? "boot") — \(v.reason)"
            )
            for probe in v.probes ?? [] { print("  probe: \(probe.summary)") }
            for line in v.lastLines.suffix(15) { print("  | \(line)") }
            throw ExitCode(1)
        }
    }
}

/// `--bus` of `ingot test` / `ingot run`: only disk images have one, and only the buses the board lists.
enum BootBus {
    /// One bus name (a list is refused: one boot uses one bus).
    static func parse(_ text: String) throws -> DiskBus {
        let buses = try parseOption(text, option: "--bus", as: DiskBus.self)
        guard buses.count == 1 else {
            throw ValidationError("--bus takes one bus, not '\(text)'; 'ingot matrix --bus' boots several")
        }
        return buses[0]
    }

    /// The bus for `target`, refused when the target is not a disk or its board lacks the bus.
    static func check(_ text: String, target: BootTarget) throws -> DiskBus {
        let bus = try parse(text)
        guard target.format.isDisk else {
            throw CommandError("--bus applies to disk images (raw, qcow2); \(target.label) boots as \(target.format)")
        }
        let buses = target.board.emulation.buses
        guard buses.contains(bus) else {
            throw CommandError(
                "--bus \(bus): board \(target.board.name) has no \(bus) bus; its buses are \(buses.map(\.rawValue).joined(separator: ", "))"
            )
        }
        return bus
    }
}
