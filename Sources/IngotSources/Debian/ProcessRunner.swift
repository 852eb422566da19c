// Runs host tools (apt-get, apt-cache) with captured output. The child is always waited for;
// on task cancellation it gets SIGTERM, then SIGKILL after a grace period.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

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
    static func run(
        _ tool: String, _ arguments: [String], directory: String? = nil, environment: [String: String] = [:]
    ) async throws -> ProcessResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var env = ProcessInfo.processInfo.environment
        env["LC_ALL"] = "C"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice

        let outReader = PipeDrain(out.fileHandleForReading)
        let errReader = PipeDrain(err.fileHandleForReading)
        do {
            try process.run()
        } catch {
            throw Error.cannotStart(tool: tool, reason: error.localizedDescription)
        }
        outReader.start()
        errReader.start()
        let pid = process.processIdentifier
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async {
                    process.waitUntilExit()
                    c.resume()
                }
            }
        } onCancel: {
            kill(pid, SIGTERM)
            DispatchQueue.global().asyncAfter(deadline: .now() + 5) { kill(pid, SIGKILL) }
        }
        return ProcessResult(
            status: process.terminationStatus, stdout: outReader.finish(), stderr: errReader.finish())
    }
}

/// Reads a pipe to its end on a background thread so a chatty child never blocks on a full pipe.
private final class PipeDrain: @unchecked Sendable {
    private let handle: FileHandle
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) { self.handle = handle }

    func start() {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func finish() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}
