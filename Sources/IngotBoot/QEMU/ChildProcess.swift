// A child process spawned with posix_spawn in its own process group, and the one way it ends:
// SIGTERM to the whole group, a grace period, SIGKILL to the group, then waitpid — no orphans.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// How a child process ended.
public enum ExitStatus: Codable, Equatable, Sendable, CustomStringConvertible {
    /// Exited normally with a status code.
    case exited(Int32)
    /// Ended by a signal.
    case signaled(Int32)

    init(waitStatus: Int32) {
        let signal = waitStatus & 0x7F
        self = signal == 0 ? .exited((waitStatus >> 8) & 0xFF) : .signaled(signal)
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exit status \(code)"
        case .signaled(let signal): return "signal \(signal)"
        }
    }
}

/// A spawned child that leads its own process group.
public final class ChildProcess: @unchecked Sendable {
    /// Errors spawning or controlling a child.
    public enum Error: Swift.Error, CustomStringConvertible {
        /// posix_spawn failed.
        case spawnFailed(executable: String, errno: Int32)
        /// A pipe or file could not be created.
        case systemCall(String, errno: Int32)

        public var description: String {
            switch self {
            case .spawnFailed(let executable, let code):
                return "cannot start \(executable): \(String(cString: strerror(code))); check that it is installed and executable"
            case .systemCall(let call, let code):
                return "\(call) failed: \(String(cString: strerror(code)))"
            }
        }
    }

    /// Where a standard stream of the child goes.
    public enum Stream {
        /// The parent's own stream.
        case inherit
        /// A new pipe; the parent's end is returned in `ChildProcess.pipes`.
        case pipe
        /// /dev/null.
        case null
    }

    /// The child's pid (also its process-group id).
    public let pid: pid_t
    /// Parent ends of the pipes requested: index 1 = stdout, 2 = stderr (read ends), 0 = stdin (write end).
    public private(set) var pipes: [Int32: Int32]
    private let lock = NSLock()
    private var status: ExitStatus?

    private init(pid: pid_t, pipes: [Int32: Int32]) {
        self.pid = pid
        self.pipes = pipes
    }

    deinit {
        for fd in pipes.values { close(fd) }
    }

    /// Spawns `executable` with `arguments` in a new process group.
    /// - Parameters:
    ///   - executable: absolute path of the program.
    ///   - arguments: arguments after argv[0].
    ///   - stdin/stdout/stderr: where each standard stream goes.
    ///   - newProcessGroup: put the child in its own group (default), so it can be ended as a whole.
    public static func spawn(
        executable: String, arguments: [String], stdin: Stream = .null, stdout: Stream = .pipe,
        stderr: Stream = .pipe, newProcessGroup: Bool = true
    ) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        var parentEnds: [Int32: Int32] = [:]
        var childEnds: [Int32] = []
        func cleanup() {
            for fd in parentEnds.values { close(fd) }
            for fd in childEnds { close(fd) }
        }
        for (target, stream) in [(Int32(0), stdin), (Int32(1), stdout), (Int32(2), stderr)] {
            switch stream {
            case .inherit:
                continue
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case .pipe:
                var fds: [Int32] = [-1, -1]
                guard pipe(&fds) == 0 else {
                    let code = errno
                    cleanup()
                    throw Error.systemCall("pipe", errno: code)
                }
                // Neither end may leak into other children spawned concurrently.
                _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
                _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
                let (childEnd, parentEnd) = target == 0 ? (fds[0], fds[1]) : (fds[1], fds[0])
                parentEnds[target] = parentEnd
                childEnds.append(childEnd)
                posix_spawn_file_actions_adddup2(&actions, childEnd, target)
            }
        }

        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        // The parent may ignore these (signal sources); the child gets the defaults back.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGTTOU, SIGTTIN] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let argv = ([executable] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var cArgv: [UnsafeMutablePointer<CChar>?] = argv + [nil]
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, &cArgv, environ)
        for fd in childEnds { close(fd) }
        childEnds.removeAll()
        guard result == 0 else {
            cleanup()
            throw Error.spawnFailed(executable: executable, errno: result)
        }
        return ChildProcess(pid: pid, pipes: parentEnds)
    }

    /// Closes the parent's end of one pipe (e.g. after EOF).
    public func closePipe(_ target: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if let fd = pipes.removeValue(forKey: target) { close(fd) }
    }

    /// The exit status if the child has ended (reaps it without blocking).
    public func poll() -> ExitStatus? {
        lock.lock()
        defer { lock.unlock() }
        if let status { return status }
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG)
        if result == pid {
            status = ExitStatus(waitStatus: raw)
        } else if result < 0 && errno == ECHILD {
            status = .exited(-1)
        }
        return status
    }

    /// True while any live (non-zombie) process remains in the child's process group.
    public var groupAlive: Bool { !Self.liveMembers(ofGroup: pid).isEmpty }

    /// Sends `signal` to the child's whole process group.
    public func signalGroup(_ signal: Int32) {
        _ = kill(-pid, signal)
    }

    /// Ends the child and its whole group: SIGTERM, up to `grace` seconds, SIGKILL, then reaps.
    /// Safe to call more than once and after the child already exited.
    /// - Returns: the child's exit status.
    @discardableResult
    public func terminate(grace: Double = 2) -> ExitStatus {
        if poll() == nil || groupAlive {
            signalGroup(SIGTERM)
            let deadline = Date().addingTimeInterval(grace)
            while Date() < deadline {
                if poll() != nil && !groupAlive { break }
                usleep(20_000)
            }
            if poll() == nil || groupAlive { signalGroup(SIGKILL) }
        }
        lock.lock()
        defer { lock.unlock() }
        if let status { return status }
        var raw: Int32 = 0
        while true {
            let result = waitpid(pid, &raw, 0)
            if result == pid {
                status = ExitStatus(waitStatus: raw)
                break
            }
            if result < 0 && errno != EINTR {
                status = .exited(-1)
                break
            }
        }
        return status ?? .exited(-1)
    }

    /// Pids of live (non-zombie) processes whose process group is `group`, read from /proc.
    public static func liveMembers(ofGroup group: pid_t) -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var members: [pid_t] = []
        for entry in entries {
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // Fields after the command name: state ppid pgrp ...
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, let pgrp = pid_t(fields[2]) else { continue }
            if pgrp == group && fields[0] != "Z" && fields[0] != "X" { members.append(pid) }
        }
        return members
    }
}
