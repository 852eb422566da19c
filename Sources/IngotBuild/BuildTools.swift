// Host tools the build runs (mke2fs, syslinux, qemu-img, xorriso), through IngotSystem's
// ChildProcess: each leads its own process group, stdout and stderr are captured together, and
// an interrupt to ingot ends the whole group before the build's staging is cleaned up.

import Foundation
import IngotSystem

/// Host tools the build runs: always waited for, output captured.
enum BuildTools {
    struct Result {
        var status: Int32
        var output: String
    }

    /// Runs `tool` (looked up in /usr/bin, /usr/sbin, /sbin, /bin) with `args`, blocking until it
    /// and its whole group have ended.
    /// - Throws: `ComposeError` when the tool is not installed or cannot start.
    static func run(_ tool: String, _ args: [String], environment: [String: String] = [:]) throws -> Result {
        let candidates = ["/usr/bin/", "/usr/sbin/", "/sbin/", "/bin/"].map { $0 + tool }
        guard let executable = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw ComposeError(
                location: nil,
                message: "\(tool) is not installed; run ci/bootstrap (or apt-get install the package that provides it)")
        }
        do {
            let end = try ChildProcess.runBlocking(
                .init(executable, args, environment: environment, standardError: .standardOutput))
            return Result(status: end.status.shellStatus, output: end.standardOutputText)
        } catch {
            throw ComposeError(location: nil, message: "cannot run \(executable): \(error)")
        }
    }
}
