// The build half of `ingot matrix`: which board × format can exist is decided from the board
// profile first (an ISO for a Raspberry Pi is a skipped cell with its reason, nothing built);
// each board is then built once with every format it can have. A build that fails makes its
// cells errors — never skips: only `Builder.Error.formatUnavailable` is a skip, by case. Each
// cell's artifacts come from the build's manifest, and its machine plan (or why there is none)
// from the board.

import Foundation
import IngotBoot
import IngotBuild
import IngotContract
import IngotSpec
import Logging

/// What the matrix build produced for one board: per format, the outputs or why not.
struct MatrixBoardBuild {
    var board: BoardProfile
    /// Format → the build's outputs (read through its manifest), or why the cells of that format cannot run.
    var outputs: [OutputFormat: Result<BuildOutputs, MatrixJob.NotRunnable>]
    var seconds: Double
}

enum MatrixBuild {
    /// The formats `board` cannot have at all, with the reason (decided before any build).
    static func unavailable(_ formats: [OutputFormat], board: BoardProfile, spec: ApplianceSpec? = nil)
        -> [OutputFormat: MatrixJob.NotRunnable]
    {
        var out: [OutputFormat: MatrixJob.NotRunnable] = [:]
        for format in formats {
            let why =
                spec.map { Builder.unavailability(of: format, on: board, spec: $0) }
                ?? Builder.unavailability(of: format, on: board)
            if let reason = why {
                out[format] = .init(
                    status: .skipped, reason: "\(board.name) cannot have the \(format) format: \(reason)")
            }
        }
        return out
    }

    /// Builds `board` once with every format it can have.
    static func build(
        spec: ApplianceSpec, board: BoardProfile, formats: [OutputFormat], directory: String, store: String?,
        lock: String?,
        lockRequired: Bool, logger: Logger?
    ) async -> MatrixBoardBuild {
        let started = Date()
        var outputs = unavailable(formats, board: board, spec: spec).mapValues {
            Result<BuildOutputs, MatrixJob.NotRunnable>.failure($0)
        }
        let buildable = formats.filter { outputs[$0] == nil }
        if !buildable.isEmpty {
            let options = BuildOptions(
                outputDirectory: directory, formats: buildable, storeRoot: store, lockPath: lock,
                lockRequired: lockRequired)
            do {
                let result = try await Builder(spec: spec, options: options, logger: logger).build(board: board)
                for format in buildable { outputs[format] = .success(result.outputs) }
            } catch {
                let why = notRunnable(buildError: error, board: board, formats: buildable)
                for format in buildable { outputs[format] = .failure(why) }
            }
        }
        return MatrixBoardBuild(board: board, outputs: outputs, seconds: Date().timeIntervalSince(started))
    }

    /// How a failed build shows in its cells: skipped only when the format cannot exist for the
    /// board; every other failure (a spec mistake, a missing package or tool, a full disk) is an error.
    static func notRunnable(buildError error: Swift.Error, board: BoardProfile, formats: [OutputFormat])
        -> MatrixJob.NotRunnable
    {
        let what = formats.map(\.rawValue).joined(separator: ",")
        if let error = error as? Builder.Error, error.isUnavailableFormat {
            return .init(status: .skipped, reason: "\(error)")
        }
        return .init(status: .error, reason: "build of \(what) for \(board.name) failed: \(error)")
    }

    /// A machine plan for one cell, or why there is none. A board or combination this QEMU
    /// cannot emulate skips the cell; a missing QEMU, firmware or output is an error.
    static func plan(
        board: BoardProfile, artifacts: BootArtifacts, runDirectory: String, accelerator: AcceleratorChoice,
        bus: DiskBus?,
        host: BootHost, forwardPorts: [Int] = []
    ) -> Result<MachinePlan, MatrixJob.NotRunnable> {
        do {
            // Raspberry Pi cells load the image's own u-boot.bin and DTB, as `ingot test` does.
            let artifacts = try BootTarget.preparedArtifacts(
                board: board, artifacts: artifacts, runDirectory: runDirectory)
            var options = PlanOptions(runDirectory: runDirectory, serial: .pipe, accelerator: accelerator, bus: bus)
            options.forwardPorts = forwardPorts
            return .success(try MachinePlan(board: board, artifacts: artifacts, options: options, host: host))
        } catch let error as MachinePlan.Error {
            return .failure(.init(status: planStatus(error), reason: "\(error)"))
        } catch {
            return .failure(.init(status: .error, reason: "\(error)"))
        }
    }

    /// Skipped for what this QEMU cannot emulate (too old for the machine, a combination the
    /// board does not have); an error for anything missing on the host (QEMU itself, firmware,
    /// files) or broken.
    static func planStatus(_ error: MachinePlan.Error) -> CellStatus {
        switch error {
        case .qemuTooOld, .unsupported, .noNetwork: return .skipped
        default: return .error  // qemuMissing, missing files or firmware, KVM asked for but unusable, ...
        }
    }
}

/// For `--dry-run` before anything is built: the real host, except that the outputs the build
/// would write count as present, so the plan shows exactly what would run.
struct DryRunBootHost: BootHost {
    var real = SystemBootHost()
    var outputDirectory: String

    private func pending(_ path: String) -> Bool { path.hasPrefix(outputDirectory) && real.fileSize(path) == nil }

    func executable(_ name: String) -> String? { real.executable(name) }
    func fileSize(_ path: String) -> UInt64? { pending(path) ? 0 : real.fileSize(path) }
    func sha256(_ path: String) throws -> String { pending(path) ? "(not built yet)" : try real.sha256(path) }
    func prefix(_ path: String, count: Int) -> [UInt8]? { pending(path) ? nil : real.prefix(path, count: count) }
    func qemuVersion(_ binary: String) throws -> String { try real.qemuVersion(binary) }
    func firmwareDescriptors() -> [FirmwareDescriptor] { real.firmwareDescriptors() }
    func kvmWorks(binary: String, architecture: String) -> (usable: Bool, detail: String) {
        real.kvmWorks(binary: binary, architecture: architecture)
    }
    var hostArchitecture: String { real.hostArchitecture }
}
