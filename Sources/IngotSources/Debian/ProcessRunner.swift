// Runs host tools (apt-get, apt-cache) with captured output, through IngotSystem's ChildProcess:
// the tool leads its own process group; task cancellation (or an interrupt to ingot) ends the
// whole group — SIGTERM, a grace period, SIGKILL — and the run throws CancellationError.

import Foundation
import IngotSystem

/// The outcome of one finished child process.
struct ProcessResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
    var succeeded: Bool { status == 0 }
}

enum ProcessRunner {
    /// Why a tool could not be run at all (as opposed to running and failing).
    enum Error: Swift.Error, CustomStringConvertible {
        case cannotStart(tool: String, reason: String)

        var description: String {
            switch self {
            case .cannotStart(let tool, let reason):
                return "cannot run \(tool): \(reason). Install it (ci/bootstrap) or check PATH."
            }
        }
    }

    /// Runs `tool` (looked up in PATH) with `arguments` in `directory`, capturing both streams.
    /// - Throws: `Error.cannotStart` when the tool is missing; `CancellationError` when the task
    ///   is cancelled (the tool's whole group has ended by then).
    static func run(
        _ tool: String, _ arguments: [String], directory: String? = nil, environment: [String: String] = [:]
    ) async throws -> ProcessResult {
        var variables = ["LC_ALL": "C"]
        for (key, value) in environment { variables[key] = value }
        let child: ChildProcess
        do {
            child = try ChildProcess.spawn(.init(tool, arguments, environment: variables, workingDirectory: directory))
        } catch let error as ChildProcess.Error {
            throw Error.cannotStart(tool: tool, reason: "\(error)")
        }
        let end = try await child.wait()
        return ProcessResult(
            status: end.status.shellStatus, stdout: end.standardOutputText, stderr: end.standardErrorText)
    }
}
