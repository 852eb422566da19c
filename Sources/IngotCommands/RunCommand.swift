// `ingot run TARGET`: boots a build under QEMU with the console on this terminal.
// Ctrl-C (or the guest powering off) ends QEMU; no process is left behind.

import ArgumentParser
import Foundation
import IngotBoot
import IngotContract
import IngotSpec

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Boot a build under QEMU with its console on this terminal.")

    @Argument(help: "Build prefix (out/hello-x86_64-efi), manifest or image.") var target: String
    @OptionGroup var boards: Flags.TargetBoard
    @OptionGroup var logs: Flags.Logs
    @Option(name: .long, help: "Disk bus for a raw or qcow2 image (default: the board's first; see 'ingot boards').")
    var bus: String?
    @Flag(name: .long, help: "Print the QEMU command line and exit.") var dryRun = false
    @Option(name: .long, help: "Accelerator: auto, tcg or kvm.") var accel: String = "auto"
    @OptionGroup var machine: Flags.Machine

    func validate() throws {
        if let bus { _ = try BootBus.parse(bus) }
        if AcceleratorChoice(rawValue: accel) == nil { throw ValidationError("--accel must be auto, tcg or kvm") }
        if machine.lab != nil {
            throw ValidationError("--lab boots a real board under 'ingot test'; 'ingot run' runs QEMU only")
        }
    }

    func run() async throws {
        let logger = logs.logger()
        let t = try BootTarget.resolve(target, board: boards.board, catalog: try boards.catalog())
        let diskBus = try bus.map { try BootBus.check($0, target: t) }
        let runDir = NSTemporaryDirectory() + "ingot-run-\(getpid())"
        try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: runDir) }
        guard let accelerator = AcceleratorChoice(rawValue: accel) else {
            throw ValidationError("--accel must be auto, tcg or kvm")
        }
        let plan = try MachinePlan(
            board: t.board, artifacts: try t.preparedArtifacts(runDirectory: runDir),
            options: PlanOptions(
                runDirectory: runDir, serial: .stdio, accelerator: accelerator, bus: diskBus,
                diskSize: machine.diskSizeBytes))
        if dryRun {
            print(plan)
            return
        }
        let watcher = try StageWatcher(
            rules: WatchRules(board: t.board, directKernelBoot: t.artifacts.isDirectKernelBoot))
        let result = try await QEMUProcess(logger: logger).run(
            plan: plan, watcher: watcher, logPath: runDir + "/console.log")
        FileHandle.standardError.write(
            Data(
                "\ningot: QEMU ended (\(result.exitStatus)); reached \(result.verdict.reached?.rawValue ?? "nothing")\n"
                    .utf8))
    }
}
