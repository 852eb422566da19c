// The build half of `ingot matrix`: each board is built once with every requested format; a
// format the build cannot produce becomes a skipped (or error) cell with the build's reason
// instead of ending the run. Then each board × format is turned into BootArtifacts and a
// machine plan, or into the reason it cannot be planned (e.g. this QEMU lacks the machine).

import Foundation
import IngotBoot
import IngotBuild
import IngotSpec
import Logging
import IngotContract

/// What the matrix build produced for one board: per format, a build prefix or why not.
struct MatrixBoardBuild {
    var board: BoardProfile
    /// Format → output prefix (e.g. out/matrix/hello-x86_64-efi) or the failure.
    var outputs: [String: Result<String, MatrixJob.NotRunnable>]
    var seconds: Double
}

enum MatrixBuild {
    /// Builds `board` with all `formats` at once; when that fails, builds each format on its own
    /// (into `DIR/<format>/`) so one unavailable format does not take the others down.
    static func build(
        spec: ApplianceSpec, board: BoardProfile, formats: [OutputFormat], directory: String, store: String?, lock: String?,
        logger: Logger?
    ) async -> MatrixBoardBuild {
        let started = Date()
        func options(_ dir: String, _ formats: [OutputFormat]) -> BuildOptions {
            BuildOptions(outputDirectory: dir, formats: formats, storeRoot: store, lockPath: lock)
        }
        var outputs: [String: Result<String, MatrixJob.NotRunnable>] = [:]
        do {
            let result = try await Builder(spec: spec, options: options(directory, formats), logger: logger).build(board: board)
            for format in formats { outputs[format.rawValue] = .success(result.prefix) }
        } catch {
            logger?.info("\(board.name): building \(formats.map(\.rawValue).joined(separator: ",")) together failed (\(error)); building each format alone")
            for format in formats {
                if formats.count == 1 {
                    outputs[format.rawValue] = .failure(classify(error, board: board.name, format: format.rawValue))
                    continue
                }
                let dir = directory + "/" + format.rawValue.replacingOccurrences(of: "+", with: "-")
                do {
                    let result = try await Builder(spec: spec, options: options(dir, [format]), logger: logger).build(board: board)
                    outputs[format.rawValue] = .success(result.prefix)
                } catch {
                    outputs[format.rawValue] = .failure(classify(error, board: board.name, format: format.rawValue))
                }
            }
        }
        return MatrixBoardBuild(board: board, outputs: outputs, seconds: Date().timeIntervalSince(started))
    }

    /// A format this build of Ingot (or this board) does not offer is skipped; anything else
    /// that stops a build (missing package, bad spec, full disk) is an error.
    static func classify(_ error: Swift.Error, board: String, format: String) -> MatrixJob.NotRunnable {
        let text = "\(error)"
        let unavailable = ["not available", "not supported", "unsupported"].contains { text.contains($0) }
        return MatrixJob.NotRunnable(
            status: unavailable ? .skipped : .error, reason: "build of \(format) for \(board) failed: \(text)")
    }

    /// The artifacts of `format` under `prefix`, from the file names the builder writes.
    static func artifacts(format: String, prefix: String, board: BoardProfile, exists: (String) -> Bool) throws -> BootArtifacts {
        let ubootKernel = ["-u-boot.bin", "-uboot.bin"].map { prefix + $0 }.first(where: exists)
        let boardDTB = board.emulation.dtb.map { prefix + "-" + ($0 as NSString).lastPathComponent }.flatMap { exists($0) ? $0 : nil }
        switch format {
        case "kernel+initrd":
            let cmdline = (try? String(contentsOfFile: prefix + "-cmdline", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? board.cmdline.joined(separator: " ")
            return BootArtifacts(
                kind: .kernelInitrd(kernel: prefix + "-kernel", initrd: prefix + "-initrd.img", cmdline: cmdline, dtb: boardDTB),
                ubootKernel: ubootKernel, dtb: boardDTB)
        case "raw":
            return BootArtifacts(kind: .disk(path: prefix + ".img", format: "raw"), ubootKernel: ubootKernel, dtb: boardDTB)
        case "qcow2":
            return BootArtifacts(kind: .disk(path: prefix + ".qcow2", format: "qcow2"), ubootKernel: ubootKernel, dtb: boardDTB)
        case "iso":
            return BootArtifacts(kind: .iso(path: prefix + ".iso"), ubootKernel: ubootKernel, dtb: boardDTB)
        default:
            throw CommandError("format \(format) cannot be booted; boot formats are raw, qcow2, iso, kernel+initrd")
        }
    }

    /// A machine plan for one cell, or why there is none. Planning errors that describe the host
    /// (QEMU too old for the machine, unsupported combination) skip the cell; a missing output
    /// or firmware file is an error.
    static func plan(
        board: BoardProfile, artifacts: BootArtifacts, runDirectory: String, accelerator: AcceleratorChoice, host: BootHost
    ) -> Result<MachinePlan, MatrixJob.NotRunnable> {
        do {
            // Raspberry Pi cells load the image's own u-boot.bin and DTB, as `ingot test` does.
            let artifacts = try BootTarget.preparedArtifacts(board: board, artifacts: artifacts, runDirectory: runDirectory)
            return .success(
                try MachinePlan(
                    board: board, artifacts: artifacts,
                    options: PlanOptions(runDirectory: runDirectory, serial: .pipe, accelerator: accelerator), host: host))
        } catch let error as MachinePlan.Error {
            switch error {
            case .qemuTooOld, .unsupported, .qemuMissing:
                return .failure(.init(status: .skipped, reason: "\(error)"))
            default:
                return .failure(.init(status: .error, reason: "\(error)"))
            }
        } catch {
            return .failure(.init(status: .error, reason: "\(error)"))
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
