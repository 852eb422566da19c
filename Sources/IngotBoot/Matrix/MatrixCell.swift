// The matrix model: a cell is one board × format × (disk bus) × backend to boot; a job is a cell ready to run
// (its machine plan and watch rules) or a cell that cannot run (with the reason); a host is a
// backend value with its capacity. All plain values, so scheduling is testable without QEMU.

import Foundation
import IngotContract
import IngotSpec

/// How one matrix cell ended, from the release gate's point of view.
public enum CellStatus: String, Codable, Sendable, CaseIterable {
    /// The guest reached readiness.
    case passed
    /// The guest failed (a stage verdict): never retried; exit code 1.
    case failed
    /// The cell cannot exist here (format not possible for the board, machine not emulated by
    /// this QEMU, bus not on the board): printed with its reason; exit 1 under `--fail-on-skip`.
    case skipped
    /// Infrastructure failure (backend threw, emulator died before any stage, build failed):
    /// retried up to the limit; exit code 2 when it remains.
    case error
}

/// One board × format × (bus) × backend to boot.
public struct MatrixCell: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Board profile name.
    public var board: String
    /// The output format booted.
    public var format: OutputFormat
    /// The disk bus the image is attached to (disk formats only; nil for kernel+initrd and iso).
    public var bus: DiskBus?
    /// Backend kind; only hosts of this kind run the cell.
    public var backend: BootBackendKind

    /// Creates a cell.
    public init(board: String, format: OutputFormat, bus: DiskBus? = nil, backend: BootBackendKind) {
        self.board = board
        self.format = format
        self.bus = bus
        self.backend = backend
    }

    /// `format/bus` for disk cells, `format` otherwise: the column of the cell in reports.
    public var variant: String { bus.map { "\(format)/\($0)" } ?? format.rawValue }

    /// `board/format[/bus]/backend`, as in reports.
    public var description: String { "\(board)/\(variant)/\(backend)" }

    /// A file-name-safe form (`board-format[-bus]-backend`, `+` as `-`), for log directories.
    public var directoryName: String {
        "\(board)-\(variant)-\(backend)".replacingOccurrences(of: "/", with: "-").replacingOccurrences(
            of: "+", with: "-")
    }
}

/// A cell with what the scheduler needs to run it — or why it cannot run.
public struct MatrixJob: Sendable {
    /// What a runnable cell boots.
    public struct Runnable: Sendable {
        /// The machine plan (scratch files are recreated on every attempt).
        public var plan: MachinePlan
        /// The watch rules; a fresh watcher is made from them for every attempt.
        public var rules: WatchRules
        /// Guest memory the cell reserves on its host while it runs (MiB).
        public var memoryMiB: Int
        /// Directory for the cell's logs (`console.log`, `console.attempt-N.log`).
        public var logDirectory: String

        /// Creates a runnable job body.
        public init(plan: MachinePlan, rules: WatchRules, memoryMiB: Int, logDirectory: String) {
            self.plan = plan
            self.rules = rules
            self.memoryMiB = memoryMiB
            self.logDirectory = logDirectory
        }
    }

    /// The cell.
    public var cell: MatrixCell
    /// How the cell runs, or (`status`, `reason`) when it cannot.
    public var work: Result<Runnable, NotRunnable>
    /// Seconds the build of this cell's board took (reported as the `build` duration).
    public var buildSeconds: Double?

    /// Why a cell cannot run: `.skipped` or `.error` with a sentence.
    public struct NotRunnable: Swift.Error, Sendable, Equatable {
        /// `.skipped` or `.error`.
        public var status: CellStatus
        /// Why, naming the board and format and what to do.
        public var reason: String

        /// Creates a reason.
        public init(status: CellStatus, reason: String) {
            self.status = status
            self.reason = reason
        }
    }

    /// A runnable job.
    public init(cell: MatrixCell, runnable: Runnable, buildSeconds: Double? = nil) {
        self.cell = cell
        self.work = .success(runnable)
        self.buildSeconds = buildSeconds
    }

    /// A job that only reports why the cell cannot run.
    public init(cell: MatrixCell, notRunnable status: CellStatus, reason: String, buildSeconds: Double? = nil) {
        self.cell = cell
        self.work = .failure(NotRunnable(status: status, reason: reason))
        self.buildSeconds = buildSeconds
    }
}

/// One place cells run: a backend value and how much it may run at once.
public struct MatrixHost: Sendable {
    /// The backend (QEMU process, libvirt connection, or a fake in tests).
    public var backend: any BootBackend
    /// Cells this host runs at once.
    public var slots: Int
    /// Guest memory this host can give to cells running at once (MiB).
    public var memoryMiB: Int

    /// Creates a host.
    /// - Parameters:
    ///   - backend: where cells run.
    ///   - slots: concurrent cells (at least 1).
    ///   - memoryMiB: guest memory budget; the sum of running cells' memory stays within it.
    public init(backend: any BootBackend, slots: Int, memoryMiB: Int) {
        self.backend = backend
        self.slots = max(1, slots)
        self.memoryMiB = memoryMiB
    }

    /// A local QEMU host sized to this machine: one cell per core, memory from /proc/meminfo
    /// (`MemAvailable` less a 512 MiB reserve for the host and the tool itself).
    public static func local(backend: any BootBackend, slots: Int? = nil) -> MatrixHost {
        MatrixHost(
            backend: backend, slots: slots ?? ProcessInfo.processInfo.activeProcessorCount,
            memoryMiB: max(512, (availableMemoryMiB() ?? 2048) - 512))
    }

    /// `MemAvailable` from /proc/meminfo, in MiB.
    public static func availableMemoryMiB(meminfo: String? = nil) -> Int? {
        let text = meminfo ?? (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kib = Int(fields[1]) { return kib / 1024 }
        }
        return nil
    }
}

/// Exit codes of `ingot matrix`.
public enum MatrixExitCode: Int32, Sendable {
    /// Every cell that could run passed (skipped cells count only under `failOnSkip`).
    case passed = 0
    /// At least one guest failed a stage (or, under `failOnSkip`, a cell was skipped).
    case guestFailure = 1
    /// No guest failure, but at least one cell ended in an infrastructure error after its retries.
    case infrastructure = 2

    /// The exit code for a set of results. Guest failures take precedence: they are definite
    /// verdicts on the image, while an infrastructure error only says the run is incomplete.
    /// - Parameters:
    ///   - results: the cells.
    ///   - failOnSkip: a skipped cell counts as a failure (release gates: a cell that could not
    ///     run must not pass silently).
    public static func of(_ results: [CellResult], failOnSkip: Bool = false) -> MatrixExitCode {
        if results.contains(where: { $0.status == .failed || (failOnSkip && $0.status == .skipped) }) {
            return .guestFailure
        }
        if results.contains(where: { $0.status == .error }) { return .infrastructure }
        return .passed
    }
}

extension BootResult {
    /// True when the run says nothing about the guest: the emulator ended on its own with a
    /// non-zero exit before any stage was recognised (e.g. QEMU could not open a file or
    /// allocate memory). Such runs are infrastructure failures and may be retried.
    public var isInfrastructureFailure: Bool {
        guard !verdict.passed, verdict.reached == nil else { return false }
        if case .exited(let code) = exitStatus, code != 0 { return true }
        return false
    }
}
