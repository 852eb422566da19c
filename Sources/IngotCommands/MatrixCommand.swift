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
        commandName: "matrix",
        abstract: "Build and boot-test every board × format × bus × backend; gate on the verdicts.",
        discussion: """
            Each board is built once (into --output, default out/matrix) with every
            requested format, then every cell boots on a host of its backend: the
            least-loaded host with a free slot and enough free memory. Disk formats
            (raw, qcow2) also vary by disk bus (--bus; default: each board's first).
            Infrastructure failures (the backend threw, or the emulator exited non-zero
            before any boot stage) are retried up to --retries times, on another host
            when there is one; guest failures never are.

            A cell that cannot exist here (a format the board cannot have, a machine
            this QEMU does not emulate, a bus the board does not have) is skipped: it
            is printed with its reason, and --fail-on-skip fails the run on it. A
            missing QEMU or firmware, or a failed build, is an error, never a skip.

            Exit codes:
              0  every cell that ran passed (skips are printed; see --fail-on-skip)
              1  at least one guest failed a boot stage, or a cell was skipped
                 under --fail-on-skip
              2  no guest failure, but infrastructure errors remain after retries
                 (or a build failed)
            Usage errors exit 64 (ArgumentParser's validation code).
            """)

    @Argument(help: "The appliance spec (YAML).") var spec: String
    @OptionGroup var boards: Flags.Boards
    @OptionGroup var store: Flags.Store
    @OptionGroup var logs: Flags.Logs
    @Option(name: [.short, .customLong("output")], help: "Build and log directory.") var output = "out/matrix"
    @Option(name: .long, help: "Formats, comma-separated: raw, qcow2, iso, kernel+initrd (default kernel+initrd).")
    var format: String?
    @Option(
        name: .long,
        help:
            "Disk buses for raw and qcow2 cells, comma-separated, or 'all' for each board's buses (default: each board's first)."
    )
    var bus: String?
    @Option(name: .long, help: "Backends, comma-separated: qemu, libvirt (default qemu).") var backend: String?
    @Option(name: .long, help: "Host to run cells on (repeatable): 'local' for QEMU, a libvirt URI for libvirt.")
    var host: [String] = []
    @Option(
        name: .long,
        help: "Matrix file (YAML: boards, formats, buses, backends, hosts, retries, exclude); flags override it.")
    var matrix: String?
    @Option(name: .long, help: "Cells at once per host (default: CPU cores for local QEMU, 2 for libvirt).") var jobs:
        Int?
    @Option(name: .long, help: "Retries after an infrastructure failure (default 1).") var retries: Int?
    @Option(
        name: .long,
        help:
            "Leave out cells matching BOARD/FORMAT[/BUS] (each part a name or *; repeatable), e.g. rpi3/iso. Excluded cells are not built or reported; skipped cells are."
    ) var exclude: [String] = []
    @Option(name: .long, help: "Write the JUnit XML report here.") var junit: String?
    @Option(name: .long, help: "Write the JSON report here.") var json: String?
    @Option(name: .long, help: "Write the HTML report here.") var html: String?
    @OptionGroup var readiness: Flags.Readiness
    @Option(name: .long, help: "Accelerator for local QEMU: auto, tcg or kvm.") var accel = "auto"
    @Flag(name: .long, help: "Exit 1 when any cell was skipped (release gates: nothing may pass by not running).")
    var failOnSkip = false
    @Flag(name: .long, help: "Print the cells and each machine plan; build and boot nothing.") var dryRun = false

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if let retries, retries < 0 || retries > 10 { throw ValidationError("--retries must be from 0 to 10") }
        if AcceleratorChoice(rawValue: accel) == nil { throw ValidationError("--accel must be auto, tcg or kvm") }
        if let format { _ = try Self.bootFormats(format) }
        if let bus { _ = try BusSelection.parse(bus) }
        if let backend { _ = try Self.backendKinds(backend) }
        let hosts = try host.map(HostSpec.parse)
        if let backend {
            let kinds = try Self.backendKinds(backend)
            for spec in hosts where !kinds.contains(spec.kind) {
                throw ValidationError(
                    "--host \(spec.uri) is a \(spec.kind) host, but --backend is \(backend); add \(spec.kind) to --backend or drop the host"
                )
            }
        }
        try directoryCheck()
        try store.requireNamedLock()
    }

    private func directoryCheck() throws { try checkDirectoryOption(output, option: "-o") }

    /// `--format`: bootable formats only.
    static func bootFormats(_ text: String) throws -> [OutputFormat] {
        let formats = try parseOption(text, option: "--format", as: OutputFormat.self)
        if let unbootable = formats.first(where: { !$0.isBootable }) {
            throw ValidationError("--format: \(unbootable) cannot be booted; use raw, qcow2, iso or kernel+initrd")
        }
        return formats
    }

    /// `--backend`: the kinds a matrix host can be.
    static func backendKinds(_ text: String) throws -> [BootBackendKind] {
        let kinds = try parseOption(text, option: "--backend", as: BootBackendKind.self)
        if let other = kinds.first(where: { !MatrixFile.backendNames.contains($0.rawValue) }) {
            throw ValidationError("--backend: the \(other) backend cannot run matrix cells; use qemu or libvirt")
        }
        return kinds
    }

    func run() async throws {
        let logger = logs.logger()
        let file = try matrix.map { try MatrixFile.load(path: $0) }
        let appliance = try SpecLoader.load(path: spec)
        let catalog = try boards.catalog()

        // Flags win over the matrix file; the file wins over the defaults.
        let boardNames = boards.board.isEmpty ? (file?.boards ?? []) : boards.board
        guard !boardNames.isEmpty else {
            throw ValidationError(
                "name at least one --board or 'all' (one of: \(catalog.boards.map(\.name).joined(separator: ", ")))")
        }
        let selected = boardNames.contains("all") ? catalog.boards : try boardNames.map { try catalog.board(named: $0) }
        let formats =
            try format.map(Self.bootFormats) ?? file.flatMap { $0.formats.isEmpty ? nil : $0.formats } ?? [
                .kernelInitrd
            ]
        let buses = try bus.map(BusSelection.parse) ?? file?.buses ?? .boardDefault
        let backends =
            try backend.map(Self.backendKinds) ?? file.flatMap { $0.backends.isEmpty ? nil : $0.backends } ?? [.qemu]
        let hostSpecs = try hostList(file: file, backends: backends)
        let retryCount = retries ?? file?.retries ?? 1
        let directory = absolutePath(output)
        let accelerator = AcceleratorChoice(rawValue: accel) ?? .auto
        let readinessPatterns = appliance.readiness.pattern.map { [$0] } ?? []
        let readyTimeout = readiness.readyTimeout ?? appliance.readiness.timeoutSeconds
        let lock = store.lockPath(boardsDirectory: catalog.directory)
        let exclusions = try exclusionList(file: file, boardNames: catalog.boards.map(\.name))
        var excluded: [MatrixCell] = []

        // Build once per board (not in a dry run), then plan every cell.
        var jobs: [MatrixJob] = []
        let planHost: BootHost = dryRun ? DryRunBootHost(outputDirectory: directory) : SystemBootHost()
        for board in selected {
            // The cells of this board that are not excluded, and the formats they need built.
            var cells: [(cell: MatrixCell, missingBus: String?)] = []
            for format in formats {
                let cellBuses: [(bus: DiskBus?, missing: String?)] =
                    format.isDisk ? buses.buses(for: board).map { ($0.bus, $0.missing) } : [(nil, nil)]
                for (cellBus, missing) in cellBuses {
                    for kind in backends {
                        let cell = MatrixCell(board: board.name, format: format, bus: cellBus, backend: kind)
                        if exclusions.contains(where: { $0.matches(cell) }) {
                            excluded.append(cell)
                        } else {
                            cells.append((cell, missing))
                        }
                    }
                }
            }
            let boardFormats = formats.filter { format in cells.contains { $0.cell.format == format } }
            guard !boardFormats.isEmpty else { continue }
            let built: MatrixBoardBuild
            if dryRun {
                let layout = ArtifactLayout(directory: directory, name: appliance.name, board: board.name)
                var outputs = MatrixBuild.unavailable(boardFormats, board: board, spec: appliance).mapValues {
                    Result<BuildOutputs, MatrixJob.NotRunnable>.failure($0)
                }
                let buildable = boardFormats.filter { outputs[$0] == nil }
                let planned = BuildOutputs.planned(layout: layout, formats: buildable, dtbs: board.dtbs)
                for format in buildable { outputs[format] = .success(planned) }
                built = MatrixBoardBuild(board: board, outputs: outputs, seconds: 0)
            } else {
                if !logs.quiet {
                    print(
                        "building \(appliance.name) for \(board.name): \(boardFormats.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                built = await MatrixBuild.build(
                    spec: appliance, board: board, formats: boardFormats, directory: directory, store: store.cache,
                    lock: lock, lockRequired: store.lock != nil, logger: logger)
            }
            for (cell, missing) in cells {
                jobs.append(
                    job(
                        cell, board: board, built: built, missingBus: missing, directory: directory, host: planHost,
                        accelerator: accelerator, patterns: readinessPatterns, readyTimeout: readyTimeout,
                        appliance: appliance))
            }
        }
        if !excluded.isEmpty && !logs.quiet {
            print("excluded (\(excluded.count)): \(excluded.map(\.description).joined(separator: ", "))")
        }
        guard !jobs.isEmpty else {
            throw ValidationError(
                "every cell is excluded (\(exclusions.map(\.description).joined(separator: ", "))); nothing would run")
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
        let code = MatrixExitCode.of(results, failOnSkip: failOnSkip)
        if code != .passed { throw ExitCode(code.rawValue) }
    }

    /// `--exclude` patterns (they replace the matrix file's `exclude:`), checked against the boards.
    func exclusionList(file: MatrixFile?, boardNames: [String]) throws -> [MatrixExclusion] {
        if !exclude.isEmpty {
            return try exclude.map { text in
                do { return try MatrixExclusion.parse(text, boards: boardNames) } catch let problem
                    as MatrixExclusion.Problem
                {
                    throw ValidationError("--exclude: \(problem)")
                }
            }
        }
        return try (file?.exclude ?? []).map { entry in
            do { return try MatrixExclusion.parse(entry.text, boards: boardNames) } catch let problem
                as MatrixExclusion.Problem
            {
                throw SpecError(entry.at, problem.description, hint: "fix or remove the exclude entry")
            }
        }
    }

    /// One cell: runnable with its plan and watch rules, or skipped/error with the reason.
    func job(
        _ cell: MatrixCell, board: BoardProfile, built: MatrixBoardBuild, missingBus: String?, directory: String,
        host: BootHost,
        accelerator: AcceleratorChoice, patterns: [String], readyTimeout: Double?, appliance: ApplianceSpec
    ) -> MatrixJob {
        func notRunnable(_ why: MatrixJob.NotRunnable) -> MatrixJob {
            MatrixJob(cell: cell, notRunnable: why.status, reason: why.reason, buildSeconds: built.seconds)
        }
        let cellDirectory = directory + "/cells/" + cell.directoryName
        let outputs: BuildOutputs
        switch built.outputs[cell.format] ?? .failure(.init(status: .error, reason: "\(cell.format) was not built")) {
        case .failure(let why): return notRunnable(why)
        case .success(let o): outputs = o
        }
        if let missingBus { return notRunnable(.init(status: .skipped, reason: missingBus)) }
        let artifacts: BootArtifacts
        do {
            if !dryRun { try outputs.verify(cell.format) }
            artifacts = try BootArtifacts(outputs: outputs, format: cell.format, board: board)
        } catch {
            return notRunnable(.init(status: .error, reason: "\(error)"))
        }
        // The build's readiness record (the spec's, before a dry run has built anything).
        let record = outputs.manifest?.readiness ?? ReadinessRecord(spec: appliance, marker: appliance.boot == nil)
        switch MatrixBuild.plan(
            board: board, artifacts: artifacts, runDirectory: cellDirectory + "/run", accelerator: accelerator,
            bus: cell.bus, host: host, forwardPorts: record.guestPorts)
        {
        case .failure(let why):
            return notRunnable(why)
        case .success(let plan):
            var rules = WatchRules(
                board: board, readiness: patterns, directKernelBoot: artifacts.isDirectKernelBoot,
                readinessTimeout: readyTimeout,
                settle: readiness.settle)
            record.apply(to: &rules, withPattern: false)
            return MatrixJob(
                cell: cell,
                runnable: .init(
                    plan: plan, rules: rules, memoryMiB: board.emulation.memoryMiB, logDirectory: cellDirectory),
                buildSeconds: built.seconds)
        }
    }

    // MARK: - Backends and hosts

    /// Hosts from --host (or the file): `local` is the QEMU backend, anything else a libvirt URI.
    /// A backend without any host gets its default: local QEMU, or libvirt at qemu:///system.
    func hostList(file: MatrixFile?, backends: [BootBackendKind]) throws -> [HostSpec] {
        var specs: [HostSpec]
        if host.isEmpty {
            specs = (file?.hosts ?? []).compactMap { h in
                HostSpec.kind(of: h.uri).map { HostSpec(kind: $0, uri: h.uri, jobs: h.jobs, memoryMiB: h.memoryMiB) }
            }
        } else {
            specs = try host.map(HostSpec.parse)
            for spec in specs where !backends.contains(spec.kind) {
                throw CommandError(
                    "--host \(spec.uri) is a \(spec.kind) host, but the backends are \(backends.map(\.rawValue).joined(separator: ", ")); add --backend \(spec.kind) or drop the host"
                )
            }
        }
        for kind in backends where !specs.contains(where: { $0.kind == kind }) {
            specs.append(HostSpec(kind: kind, uri: kind == .qemu ? "local" : "qemu:///system"))
        }
        return specs.filter { backends.contains($0.kind) }
    }

    func makeHost(_ spec: HostSpec, logger: Logger) throws -> MatrixHost {
        let slots = jobs ?? spec.jobs
        switch spec.kind {
        case .qemu:
            var host = MatrixHost.local(backend: QEMUProcess(logger: logger), slots: slots)
            if let memory = spec.memoryMiB { host.memoryMiB = memory }
            return host
        case .libvirt, .lab:
            let backend = LibvirtBackend(uri: spec.uri, logger: logger)
            return MatrixHost(
                backend: backend, slots: slots ?? 2,
                memoryMiB: spec.memoryMiB
                    ?? (spec.uri.contains("+ssh") ? 4096 : max(512, (MatrixHost.availableMemoryMiB() ?? 2048) - 512)))
        }
    }

    // MARK: - Output

    func printDryRun(_ jobs: [MatrixJob], hosts: [MatrixHost], retries: Int) {
        print("hosts:")
        for host in hosts {
            print(
                "  \(host.backend.kind) \(host.backend.host): \(host.slots) at once, \(host.memoryMiB) MiB guest memory"
            )
        }
        print("retries after infrastructure failures: \(retries)")
        print("cells (\(jobs.count)):")
        for job in jobs {
            switch job.work {
            case .failure(let why): print("  \(job.cell): \(why.status.rawValue) — \(why.reason)")
            case .success(let runnable):
                print("  \(job.cell): runs (\(runnable.memoryMiB) MiB, logs in \(runnable.logDirectory))")
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
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            do {
                try data.write(to: url)
            } catch {
                throw CommandError(
                    "cannot write the report \(url.path): \(error.localizedDescription); check the directory")
            }
        }
        if let junit { try write(Data(JUnitReport.render(results, suiteName: "ingot-matrix").utf8), to: junit) }
        if let json { try write(try JSONReport.render(results), to: json) }
        if let html { try write(Data(HTMLReport.render(results, title: "Ingot boot matrix: \(spec)").utf8), to: html) }
    }

    func printSummary(_ results: [CellResult]) {
        let skipped = results.filter { $0.status == .skipped }
        let code = MatrixExitCode.of(results, failOnSkip: failOnSkip)
        if logs.quiet {
            // Skips never pass silently, even with --quiet.
            for r in skipped {
                FileHandle.standardError.write(Data("ingot matrix: skipped \(r.name): \(r.verdict.reason)\n".utf8))
            }
            return
        }
        print("")
        printTable(
            header: ["CELL", "STATUS", "HOST", "TRIES", "DETAIL"],
            rows: results.map { r in
                [r.name, r.status.rawValue.uppercased(), r.host, String(r.attempts), String(r.summary.prefix(140))]
            })
        for r in skipped { print("skipped \(r.name): \(r.verdict.reason)") }
        let counts = CellStatus.allCases.map { s in "\(results.filter { $0.status == s }.count) \(s.rawValue)" }
        var line = "matrix: \(counts.joined(separator: ", ")); exit \(code.rawValue)"
        if !skipped.isEmpty {
            line +=
                failOnSkip
                ? " (skipped cells fail the gate: --fail-on-skip)"
                : " (skipped cells do not fail the gate; add --fail-on-skip to make them)"
        }
        print(line)
    }
}
