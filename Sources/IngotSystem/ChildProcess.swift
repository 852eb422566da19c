// The one child-process type: spawned with posix_spawn as the leader of its own process group, its
// streams captured (bounded), streamed or redirected, and one way to end it — SIGTERM to the whole
// group, a grace period, SIGKILL to the group. The leader is reaped only once no live member of its
// group remains, so the group id cannot be reused while we may still signal it. Interrupts to
// ingot (see `InterruptStream`) end every live child the same way.

import Foundation
import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A spawned child that leads its own process group.
// @unchecked: each `var` is used only under `condition` (`interruptToken`: set before the reader thread starts); `waitBlocking()` needs a condition variable, which Mutex lacks.
public final class ChildProcess: @unchecked Sendable {
    /// Errors starting or waiting for a child.
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        /// No executable of that name in PATH (or the extra directories searched).
        case notFound(executable: String, searched: [String])
        /// posix_spawn failed.
        case cannotStart(executable: String, errno: Errno)
        /// A file for a redirected stream could not be opened.
        case redirect(stream: String, path: String, errno: Errno)
        /// Another system call failed while setting the child up.
        case system(SystemCallError)

        public var description: String {
            switch self {
            case .notFound(let executable, let searched):
                return
                    "cannot run \(executable): not found in \(searched.joined(separator: ":")); install it (ci/bootstrap) or check PATH"
            case .cannotStart(let executable, let errno):
                return "cannot start \(executable): \(errno); check that it is installed and executable"
            case .redirect(let stream, let path, let errno):
                return "cannot open \(path) for the child's \(stream): \(errno)"
            case .system(let error):
                return "cannot set up a child process: \(error)"
            }
        }
    }

    /// Where the child's standard input comes from.
    public enum Input: Sendable {
        /// /dev/null.
        case null
        /// ingot's own standard input.
        case inherit
        /// A file, opened for reading.
        case file(String)
        /// These bytes, written by a background thread; then end of file.
        case bytes([UInt8])
        /// A pipe the caller writes with `writeInput(_:)` and ends with `closeInput()`.
        case pipe
    }

    /// Where one of the child's output streams goes.
    public enum Output: Sendable {
        /// /dev/null.
        case null
        /// ingot's own stream.
        case inherit
        /// A file, created or truncated (or appended to).
        case file(String, append: Bool = false)
        /// Kept in memory, at most `limit` bytes (the last ones: errors come at the end).
        case capture(limit: Int)
        /// Delivered in chunks as written (`standardOutputStream` / `standardErrorStream`).
        case stream
        /// Standard error only: into the same place as standard output.
        case standardOutput

        /// Captured with the default limit (64 MiB).
        public static var capture: Output { .capture(limit: 64 << 20) }
    }

    /// What to run and how.
    public struct Configuration: Sendable {
        /// An absolute path, or a name looked up in PATH and then `extraSearchDirectories`.
        public var executable: String
        /// Arguments after argv[0].
        public var arguments: [String]
        /// Variables set (or replaced) on top of the inherited environment.
        public var environment: [String: String]
        /// Start from ingot's environment (true) or from `environment` alone (false).
        public var inheritEnvironment: Bool
        /// The child's working directory (nil: ingot's).
        public var workingDirectory: String?
        /// Standard input.
        public var standardInput: Input
        /// Standard output.
        public var standardOutput: Output
        /// Standard error.
        public var standardError: Output
        /// Seconds between SIGTERM and SIGKILL when the child is ended.
        public var graceSeconds: Double
        /// Directories searched after PATH (system tools such as mke2fs live in sbin).
        public var extraSearchDirectories: [String]

        /// Creates a configuration; by default stdin is /dev/null and both outputs are captured.
        public init(
            _ executable: String, _ arguments: [String] = [], environment: [String: String] = [:],
            inheritEnvironment: Bool = true, workingDirectory: String? = nil, standardInput: Input = .null,
            standardOutput: Output = .capture, standardError: Output = .capture, graceSeconds: Double = 2,
            extraSearchDirectories: [String] = ["/usr/local/sbin", "/usr/sbin", "/sbin"]
        ) {
            self.executable = executable
            self.arguments = arguments
            self.environment = environment
            self.inheritEnvironment = inheritEnvironment
            self.workingDirectory = workingDirectory
            self.standardInput = standardInput
            self.standardOutput = standardOutput
            self.standardError = standardError
            self.graceSeconds = graceSeconds
            self.extraSearchDirectories = extraSearchDirectories
        }
    }

    /// How a child ended and what it left.
    public struct Termination: Sendable {
        /// Exit code or signal of the group leader.
        public var status: ExitStatus
        /// Captured standard output (empty unless `.capture`).
        public var standardOutput: [UInt8]
        /// Captured standard error (empty unless `.capture`).
        public var standardError: [UInt8]
        /// Bytes of captured output dropped at the front because of the limit.
        public var droppedBytes: Int
        /// Seconds from spawn to reaping.
        public var wallSeconds: Double
        /// Peak resident set size of the leader and the descendants it waited for, bytes.
        public var peakResidentBytes: Int64
        /// User + system CPU seconds of the same.
        public var cpuSeconds: Double
        /// True when the child was ended by `terminate`, cancellation or an interrupt.
        public var wasTerminated: Bool

        /// Captured standard output as text.
        public var standardOutputText: String { String(decoding: standardOutput, as: UTF8.self) }
        /// Captured standard error as text.
        public var standardErrorText: String { String(decoding: standardError, as: UTF8.self) }
    }

    /// The configuration the child was started with.
    public let configuration: Configuration
    /// The resolved executable path.
    public let executablePath: String
    /// The child's pid, which is also its process-group id.
    public let pid: pid_t
    /// Chunks of standard output, when it is `.stream`.
    public let standardOutputStream: ChildOutput?
    /// Chunks of standard error, when it is `.stream`.
    public let standardErrorStream: ChildOutput?

    let condition = NSCondition()
    var termination: Termination?
    var terminateRequested = false
    var killAt: Double = 0
    var killed = false
    var waiters: [CheckedContinuation<Termination, Never>] = []
    var inputFD: FileDescriptor?
    let wake: (read: FileDescriptor, write: FileDescriptor)
    let started: Double
    var interruptToken: Int?

    init(
        configuration: Configuration, executablePath: String, pid: pid_t, stdout: ChildOutput?, stderr: ChildOutput?,
        wake: (read: FileDescriptor, write: FileDescriptor), input: FileDescriptor?, started: Double
    ) {
        self.configuration = configuration
        self.executablePath = executablePath
        self.pid = pid
        self.standardOutputStream = stdout
        self.standardErrorStream = stderr
        self.wake = wake
        self.inputFD = input
        self.started = started
    }

    deinit {
        try? wake.read.close()
        try? wake.write.close()
        try? inputFD?.close()
    }

    // MARK: Control

    /// Whether the child has been reaped (its whole group ended).
    public var hasEnded: Bool {
        condition.lock()
        defer { condition.unlock() }
        return termination != nil
    }

    /// Starts ending the child: SIGTERM to its whole group now, SIGKILL to the group after the
    /// grace period if any member is still alive. Returns at once; `wait()` for the end.
    /// Safe to call more than once and after the child has ended.
    /// - Parameter grace: seconds before SIGKILL (default: the configuration's).
    public func terminate(grace: Double? = nil) {
        if beginTermination(grace: grace) { poke() }
    }

    /// SIGTERM to the group and the SIGKILL deadline, once; true if this call started it.
    @discardableResult
    func beginTermination(grace: Double?) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard termination == nil && !terminateRequested else { return false }
        terminateRequested = true
        killAt = monotonicNow() + max(0, grace ?? configuration.graceSeconds)
        _ = Glibc.kill(-pid, SIGTERM)
        _ = Glibc.kill(-pid, SIGCONT)  // a stopped member must run to see SIGTERM
        return true
    }

    /// Sends SIGKILL to the whole group now (no grace).
    public func kill() {
        condition.lock()
        if termination == nil {
            terminateRequested = true
            killAt = 0
            killed = true
            _ = Glibc.kill(-pid, SIGKILL)
        }
        condition.unlock()
        poke()
    }

    /// Sends `signal` to the whole group, if it has not ended.
    public func signalGroup(_ signal: Int32) {
        condition.lock()
        if termination == nil { _ = Glibc.kill(-pid, signal) }
        condition.unlock()
    }

    /// Writes to the child's standard input (`.pipe` only); fails once the child stopped reading.
    public func writeInput(_ bytes: [UInt8]) throws {
        condition.lock()
        let fd = inputFD
        condition.unlock()
        guard let fd else {
            throw SystemCallError("write", path: "standard input of \(executablePath)", errno: .badFileDescriptor)
        }
        do {
            _ = try bytes.withUnsafeBytes { try fd.writeAll($0) }
        } catch let errno as Errno {
            throw SystemCallError("write", path: "standard input of \(executablePath)", errno: errno)
        }
    }

    /// Closes the child's standard input (`.pipe`), so it sees end of file.
    public func closeInput() {
        condition.lock()
        let fd = inputFD
        inputFD = nil
        condition.unlock()
        try? fd?.close()
    }

    // MARK: Waiting

    /// Waits until the child and its whole group have ended. If the calling task is cancelled,
    /// the child is ended (SIGTERM → grace → SIGKILL) and `CancellationError` is thrown once it
    /// is gone.
    public func wait() async throws -> Termination {
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Termination, Never>) in
                condition.lock()
                if let termination {
                    condition.unlock()
                    continuation.resume(returning: termination)
                } else {
                    waiters.append(continuation)
                    condition.unlock()
                }
            }
        } onCancel: {
            terminate()
        }
        if Task.isCancelled { throw CancellationError() }
        return result
    }

    /// Blocks the calling thread until the child and its whole group have ended.
    public func waitBlocking() -> Termination {
        condition.lock()
        defer { condition.unlock() }
        while termination == nil { condition.wait() }
        return termination!  // the loop above ends only once it is set
    }

    /// Waits up to `seconds` for the end; nil if the child is still running.
    public func waitBlocking(seconds: Double) -> Termination? {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock()
        defer { condition.unlock() }
        while termination == nil && condition.wait(until: deadline) {}
        return termination
    }

    /// Wakes the reader thread (a termination request, a closed input).
    func poke() {
        var byte: UInt8 = 1
        _ = withUnsafeBytes(of: &byte) { try? wake.write.write($0) }
    }
}

/// Seconds on the monotonic clock.
func monotonicNow() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
