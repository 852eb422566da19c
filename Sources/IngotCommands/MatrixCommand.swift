// `ingot matrix SPEC`: builds each board once with every requested format, boots every board ×
// format × backend cell on the hosts (within their slot and memory limits, infrastructure
// failures retried), writes JUnit/JSON/HTML reports and exits 0, 1 or 2 for the release gate.

import ArgumentParser
import Foundation
import IngotBoot
import IngotBuild
import IngotSpec
import Logging
import IngotContract

struct MatrixCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "matrix", abstract: "Build and boot-test every board × format × backend; gate on the verdicts.",
        discussion: """
            Each board is built once (into --output, default out/matrix) with every requested format, then every
            cell boots on a host of its backend: the least-loaded host with a free slot and enough free memory.
            Infrastructure failures (the backend threw, or the emulator exited non-zero before any boot stage)
            are retried up to --retries times, on another host when there is one; guest failures never are.
            A board × format that cannot exist here (format not produced by this build, machine not emulated by
            this QEMU) is reported as skipped with its reason.

            Exit codes:
              0  every cell that ran passed (skipped cells do not count)
              1  at least one guest failed a boot stage
              2  no guest failure, but infrastructure errors remain after retries (or a build failed)
            Usage errors exit 64 (ArgumentParser's validation code).
            """)

    @Argument(help: "The appliance spec (YAML).") var spec: String
    @OptionGroup var boards: Flags.Boards
    @OptionGroup var store: Flags.Store
    @OptionGroup var logs: Flags.Logs
    @Option(name: [.short, .customLong("output")], help: "Build and log directory.") var output = "out/matrix"
    @Option(name: .long, help: "Formats, comma-separated: raw, qcow2, iso, kernel+initrd (default kernel+initrd).")
    var format: String?
    @Option(name: .long, help: "Backends, comma-separated: qemu, libvirt (default qemu).") var backend: String?
    @Option(name: .long, help: "Host to run cells on (repeatable): 'local' for QEMU, a libvirt URI for libvirt.")
    var host: [String] = []
    @Option(name: .long, help: "Matrix file (YAML: boards, formats, backends, hosts, retries); flags override it.")
    var matrix: String?
    @Option(name: .long, help: "Cells at once per host (default: CPU cores for local QEMU, 2 for libvirt).") var jobs: Int?
    @Option(name: .long, help: "Retries after an infrastructure failure (default 1).") var retries: Int?
    @Option(name: .long, help: "Write the JUnit XML report here.") var junit: String?
    @Option(name: .long, help: "Write the JSON report here.") var json: String?
    @Option(name: .long, help: "Write the HTML report here.") var html: String?
    @Option(name: .long, help: "Seconds from power-on to readiness (default: the spec's readiness.timeout).")
    var readyTimeout: Double?
    @Option(name: .long, help: "Seconds to watch for crash-looping services after the ready marker (default 0).")
    var settle: Double = 0
    @Option(name: .long, help: "Accelerator for local QEMU: auto, tcg or kvm.") var accel = "auto"
    @Flag(name: .long, help: "Print the cells and each machine plan; build and boot nothing.") var dryRun = false

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if let retries, retries < 0 || retries > 10 { throw ValidationError("--retries must be from 0 to 10") }
        if AcceleratorChoice(rawValue: accel) == nil { throw ValidationError("--accel must be auto, tcg or kvm") }
    }

    func run() async throws {
        let logger = logs.logger()
        let file = try matrix.map { try MatrixFile.load(path: $0) }
        let appliance = try SpecLoader.load(path: spec)
        let catalog = try boards.catalog()

        // Flags win over the matrix file; the file wins over the defaults.
        let boardNames = boards.board.isEmpty ? (file?.boards ?? []) : boards.board
        guard !boardNames.isEmpty else {
            throw ValidationError("name at least one --board or 'all' (one of: \(catalog.boards.map(\.name).joined(separator: ", ")))")
        }
        let selected = boardNames.contains("all") ? catalog.boards : try boardNames.map { try catalog.board(named: $0) }
        let formats = try OutputFormat.parseList(format ?? file.map { $0.formats.joined(separator: ",") }.flatMap { $0.isEmpty ? nil : $0 } ?? "kernel+initrd")
        if let tar = formats.first(where: { $0 == .tar }) {
            throw ValidationError("format \(tar.rawValue) cannot be booted; use raw, qcow2, iso or kernel+initrd")
        }
        let backends = try backendList(file: file)
        let hostSpecs = hostList(file: file, backends: backends)
        let retryCount = retries ?? file?.retries ?? 1
        let directory = absolutePath(output)
        let accelerator = AcceleratorChoice(rawValue: accel) ?? .auto
        let readiness = appliance.readiness.pattern.map { [$0] } ?? []
        let readyTimeout = self.readyTimeout ?? appliance.readiness.timeoutSeconds

        // Build once per board (not in a dry run), then plan every cell.
        var jobs: [MatrixJob] = []
        let planHost: BootHost = dryRun ? DryRunBootHost(outputDirectory: directory) : SystemBootHost()
        for board in selected {
            let built: MatrixBoardBuild
            if dryRun {
                let prefix = directory + "/\(appliance.name)-\(board.name)"
                built = MatrixBoardBuild(board: board, outputs: Dictionary(uniqueKeysWithValues: formats.map { ($0.rawValue, .success(prefix)) }), seconds: 0)
            } else {
                if !logs.quiet { print("building \(appliance.name) for \(board.name): \(formats.map(\.rawValue).joined(separator: ", "))") }
                built = await MatrixBuild.build(
                    spec: appliance, board: board, formats: formats, directory: directory, store: store.cache,
                    lock: store.lockPath(boardsDirectory: catalog.directory), logger: logger)
            }
            for format in formats {
                for kind in backends {
                    let cell = MatrixCell(board: board.name, format: format.rawValue, backend: kind)
                    let cellDirectory = directory + "/cells/" + "\(board.name)-\(format.rawValue)-\(kind)".replacingOccurrences(of: "+", with: "-")
                    switch built.outputs[format.rawValue] ?? .failure(.init(status: .error, reason: "not built")) {
                    case .failure(let why):
                        jobs.append(MatrixJob(cell: cell, notRunnable: why.status, reason: why.reason, buildSeconds: built.seconds))
                    case .success(let prefix):
                        let artifacts = try MatrixBuild.artifacts(
                            format: format.rawValue, prefix: prefix, board: board, exists: { planHost.fileSize($0) != nil })
                        switch MatrixBuild.plan(board: board, artifacts: artifacts, runDirectory: cellDirectory + "/run", accelerator: accelerator, host: planHost) {
                        case .failure(let why):
                            jobs.append(MatrixJob(cell: cell, notRunnable: why.status, reason: why.reason, buildSeconds: built.seconds))
                        case .success(let plan):
                            let rules = WatchRules(
                                board: board, readiness: readiness, directKernelBoot: artifacts.isDirectKernelBoot,
                                readinessTimeout: readyTimeout, settle: settle)
                            jobs.append(
                                MatrixJob(
                                    cell: cell,
                                    runnable: .init(plan: plan, rules: rules, memoryMiB: board.emulation.memoryMiB, logDirectory: cellDirectory),
                                    buildSeconds: built.seconds))
                        }
                    }
                }
            }
        }

        let hosts = try hostSpecs.map { try makeHost($0, logger: logger) }
        if dryRun {
            printDryRun(jobs, hosts: hosts, retries: retryCount)
            return
        }
        let scheduler = try MatrixScheduler(hosts: hosts, retries: retryCount, logger: logger)
        let quiet = logs.quiet
        let results = await scheduler.run(jobs) { event in
            guard !quiet else { return }
            switch event.kind {
            case .started: print("start  \(event.cell) on \(event.host) (attempt \(event.attempt))")
            case .retrying: print("retry  \(event.cell): \(event.detail)")
            case .finished: print("done   \(event.cell): \(event.detail)")
            }
        }
        try writeReports(results)
        printSummary(results)
        let code = MatrixExitCode.of(results)
        if code != .passed { throw ExitCode(code.rawValue) }
    }

    // MARK: - Backends and hosts

    struct HostSpec {
        var kind: String
        var uri: String
        var jobs: Int?
        var memoryMiB: Int?
    }

    func backendList(file: MatrixFile?) throws -> [String] {
        let names = backend.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            ?? (file?.backends.isEmpty == false ? file?.backends ?? [] : ["qemu"])
        for name in names where !MatrixFile.backendNames.contains(name) {
            throw ValidationError("unknown backend '\(name)'; backends are qemu and libvirt")
        }
        return names
    }

    /// Hosts from --host (or the file): `local` is the QEMU backend, anything else a libvirt URI.
    /// A backend without any host gets its default: local QEMU, or libvirt at qemu:///system.
    func hostList(file: MatrixFile?, backends: [String]) -> [HostSpec] {
        var specs: [HostSpec] =
            host.isEmpty
            ? (file?.hosts ?? []).map { HostSpec(kind: $0.uri == "local" ? "qemu" : "libvirt", uri: $0.uri, jobs: $0.jobs, memoryMiB: $0.memoryMiB) }
            : host.map { HostSpec(kind: $0 == "local" ? "qemu" : "libvirt", uri: $0) }
        for kind in backends where !specs.contains(where: { $0.kind == kind }) {
            specs.append(HostSpec(kind: kind, uri: kind == "qemu" ? "local" : "qemu:///system"))
        }
        return specs.filter { backends.contains($0.kind) }
    }

    func makeHost(_ spec: HostSpec, logger: Logger) throws -> MatrixHost {
        let slots = jobs ?? spec.jobs
        switch spec.kind {
        case "qemu":
            var host = MatrixHost.local(backend: QEMUProcess(logger: logger), slots: slots)
            if let memory = spec.memoryMiB { host.memoryMiB = memory }
            return host
        default:
            let backend = LibvirtBackend(uri: spec.uri, logger: logger)
            return MatrixHost(
                backend: backend, slots: slots ?? 2,
                memoryMiB: spec.memoryMiB ?? (spec.uri.contains("+ssh") ? 4096 : max(512, (MatrixHost.availableMemoryMiB() ?? 2048) - 512)))
        }
    }

    // MARK: - Output

    func printDryRun(_ jobs: [MatrixJob], hosts: [MatrixHost], retries: Int) {
        print("hosts:")
        for host in hosts { print("  \(host.backend.kind) \(host.backend.host): \(host.slots) at once, \(host.memoryMiB) MiB guest memory") }
        print("retries after infrastructure failures: \(retries)")
        print("cells (\(jobs.count)):")
        for job in jobs {
            switch job.work {
            case .failure(let why): print("  \(job.cell): \(why.status.rawValue) — \(why.reason)")
            case .success(let runnable): print("  \(job.cell): runs (\(runnable.memoryMiB) MiB, logs in \(runnable.logDirectory))")
            }
        }
        for job in jobs {
            guard case .success(let runnable) = job.work else { continue }
            print("\n== \(job.cell)")
            print(runnable.plan, terminator: "")
        }
    }

    func writeReports(_ results: [CellResult]) throws {
        func write(_ data: Data, to path: String) throws {
            let url = URL(fileURLWithPath: absolutePath(path))
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            do {
                try data.write(to: url)
            } catch {
                throw CommandError("cannot write the report \(url.path): \(error.localizedDescription); check the directory")
            }
        }
        if let junit { try write(Data(JUnitReport.render(results, suiteName: "ingot-matrix").utf8), to: junit) }
        if let json { try write(try JSONReport.render(results), to: json) }
        if let html { try write(Data(HTMLReport.render(results, title: "Ingot boot matrix: \(spec)").utf8), to: html) }
    }

    func printSummary(_ results: [CellResult]) {
        guard !logs.quiet else { return }
        print("")
        printTable(
            header: ["CELL", "STATUS", "HOST", "TRIES", "DETAIL"],
            rows: results.map { r in
                [r.name, r.status.rawValue.uppercased(), r.host, String(r.attempts), String(r.summary.prefix(140))]
            })
        let counts = CellStatus.allCases.map { s in "\(results.filter { $0.status == s }.count) \(s.rawValue)" }
        print("matrix: \(counts.joined(separator: ", ")); exit \(MatrixExitCode.of(results).rawValue)")
    }
}
