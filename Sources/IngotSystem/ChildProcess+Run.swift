// One-call helpers on top of `ChildProcess`: run a tool to its end and get its status and
// captured output, asynchronously (cancellation ends the whole group) or blocking the thread.

import Foundation

extension ChildProcess {
    /// Runs `configuration` to its end.
    /// - Throws: `ChildProcess.Error` when it cannot start; `CancellationError` when the task
    ///   was cancelled (the child's group has ended by then).
    public static func run(_ configuration: Configuration) async throws -> Termination {
        let child = try spawn(configuration)
        return try await child.wait()
    }

    /// Runs `executable` with `arguments`, capturing both outputs.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        workingDirectory: String? = nil,
        input: Input = .null
    ) async throws -> Termination {
        try await run(
            Configuration(
                executable, arguments, environment: environment, workingDirectory: workingDirectory,
                standardInput: input))
    }

    /// Runs `configuration` to its end, blocking the calling thread (for synchronous callers).
    public static func runBlocking(_ configuration: Configuration) throws -> Termination {
        try spawn(configuration).waitBlocking()
    }

    /// Runs `executable` with `arguments` blocking the calling thread, capturing both outputs.
    public static func runBlocking(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        workingDirectory: String? = nil,
        input: Input = .null
    ) throws -> Termination {
        try runBlocking(
            Configuration(
                executable, arguments, environment: environment, workingDirectory: workingDirectory,
                standardInput: input))
    }
}
