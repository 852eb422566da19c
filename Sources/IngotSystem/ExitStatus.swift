// How a child process ended, decoded from a wait status; and the typed errno error every system
// call in this module throws (swift-system's `Errno`, so callers can match `.noSuchFileOrDirectory`).

import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// How a child process ended.
public enum ExitStatus: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Exited normally with a status code.
    case exited(Int32)
    /// Ended by a signal.
    case signaled(Int32)

    /// Decodes a raw `wait(2)` status.
    public init(waitStatus: Int32) {
        let signal = waitStatus & 0x7F
        self = signal == 0 ? .exited((waitStatus >> 8) & 0xFF) : .signaled(signal)
    }

    /// True for `exited(0)`.
    public var succeeded: Bool { self == .exited(0) }

    /// The status a shell would report: the exit code, or 128 + the signal number.
    public var shellStatus: Int32 {
        switch self {
        case .exited(let code): return code
        case .signaled(let signal): return 128 + signal
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exit status \(code)"
        case .signaled(let signal): return "signal \(signal)"
        }
    }
}

/// A failed system call: which call, on which path (if any), and the typed errno.
public struct SystemCallError: Swift.Error, Equatable, Sendable, CustomStringConvertible {
    /// The call that failed (`open`, `pipe`, `posix_spawn`, `read`, ...).
    public var call: String
    /// The file it was about, when there is one.
    public var path: String?
    /// The error number, typed.
    public var errno: Errno

    /// Creates an error for `call` failing with `errno` (about `path`, if given).
    public init(_ call: String, path: String? = nil, errno: Errno) {
        self.call = call
        self.path = path
        self.errno = errno
    }

    /// An error for `call` from the calling thread's current `errno`.
    public static func current(_ call: String, path: String? = nil) -> SystemCallError {
        SystemCallError(call, path: path, errno: Errno(rawValue: Glibc.errno))
    }

    public var description: String {
        if let path { return "\(call) \(path): \(errno)" }
        return "\(call) failed: \(errno)"
    }
}
