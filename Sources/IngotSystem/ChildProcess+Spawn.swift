// Starting a child: resolving the executable, wiring its three standard streams (pipes, files,
// /dev/null), its environment and working directory, and posix_spawn into a new process group
// with default signal dispositions and no descriptor of ours leaking into it.

import Foundation
import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

extension ChildProcess {
    /// Starts a child as described by `configuration`.
    /// - Throws: `ChildProcess.Error` when the executable is missing or cannot be started, or a
    ///   redirect file cannot be opened.
    public static func spawn(_ configuration: Configuration) throws -> ChildProcess {
        let path = try resolve(
            configuration.executable, extra: configuration.extraSearchDirectories,
            environment: configuration.environment)
        var setup = SpawnSetup()
        defer { setup.closeAll() }

        // Standard input.
        var inputWriteEnd: FileDescriptor?
        var inputBytes: [UInt8]?
        switch configuration.standardInput {
        case .inherit:
            break
        case .null:
            try setup.openForChild("/dev/null", .readOnly, options: [], target: 0, stream: "standard input")
        case .file(let file):
            try setup.openForChild(file, .readOnly, options: [], target: 0, stream: "standard input")
        case .bytes(let bytes):
            inputWriteEnd = try setup.pipeForChild(target: 0, parentReads: false)
            inputBytes = bytes
        case .pipe:
            inputWriteEnd = try setup.pipeForChild(target: 0, parentReads: false)
        }
        if inputWriteEnd != nil { _ = ignoreSIGPIPE }

        // Standard output, then standard error (which may follow it).
        var outputs: [Int32: (fd: FileDescriptor, mode: ReaderMode)] = [:]
        for (target, output) in [(Int32(1), configuration.standardOutput), (Int32(2), configuration.standardError)] {
            let stream = target == 1 ? "standard output" : "standard error"
            switch output {
            case .inherit:
                break
            case .null:
                try setup.openForChild("/dev/null", .writeOnly, options: [], target: target, stream: stream)
            case .file(let file, let append):
                try setup.openForChild(
                    file, .writeOnly, options: append ? [.create, .append] : [.create, .truncate], target: target,
                    stream: stream)
            case .capture(let limit):
                let fd = try setup.pipeForChild(target: target, parentReads: true)
                outputs[target] = (fd, .capture(limit: max(0, limit)))
            case .stream:
                let fd = try setup.pipeForChild(target: target, parentReads: true)
                outputs[target] = (fd, .stream(ChildOutput()))
            case .standardOutput:
                guard target == 2 else {
                    throw Error.system(
                        SystemCallError("dup2", path: "standard output onto itself", errno: .invalidArgument))
                }
                setup.dup(1, onto: 2)
            }
        }
        if let directory = configuration.workingDirectory { try setup.changeDirectory(directory) }
        setup.closeOthers()

        let wake = try makePipe(nonBlocking: true)
        let argv = [path] + configuration.arguments
        let environment = makeEnvironment(configuration)
        let started = monotonicNow()
        let pid = try setup.spawn(path: path, argv: argv, environment: environment, wake: wake)
        setup.closeChildEnds()

        for (_, output) in outputs {
            _ = fcntl(output.fd.rawValue, F_SETFL, fcntl(output.fd.rawValue, F_GETFL) | O_NONBLOCK)
        }
        var stdoutStream: ChildOutput?
        var stderrStream: ChildOutput?
        if case .stream(let stream)? = outputs[1]?.mode { stdoutStream = stream }
        if case .stream(let stream)? = outputs[2]?.mode { stderrStream = stream }
        let child = ChildProcess(
            configuration: configuration, executablePath: path, pid: pid, stdout: stdoutStream, stderr: stderrStream,
            wake: wake,
            input: inputBytes == nil ? inputWriteEnd : nil, started: started)
        child.interruptToken = InterruptStream.shared.track(child)
        if let inputBytes, let inputWriteEnd { writeInBackground(inputBytes, to: inputWriteEnd) }
        child.startReader(outputs: outputs.mapValues { ($0.fd, $0.mode) })
        return child
    }

    /// Resolves `name` to an executable path: as given when it contains a slash, else the first
    /// match in PATH and then `extra`.
    public static func resolve(_ name: String, extra: [String] = [], environment: [String: String] = [:]) throws
        -> String
    {
        if name.contains("/") {
            guard access(name, X_OK) == 0 else {
                throw Error.cannotStart(executable: name, errno: Errno(rawValue: errno))
            }
            return name
        }
        let path = environment["PATH"] ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        var searched: [String] = []
        for directory in path.split(separator: ":").map(String.init) + extra
        where !directory.isEmpty && !searched.contains(directory) {
            searched.append(directory)
            let candidate = directory + "/" + name
            var info = stat()
            if stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        throw Error.notFound(executable: name, searched: searched)
    }

    /// Whether `name` can be found (PATH, then the sbin directories).
    public static func isInstalled(_ name: String) -> Bool {
        (try? resolve(name, extra: Configuration(name).extraSearchDirectories)) != nil
    }

    static func makeEnvironment(_ configuration: Configuration) -> [String] {
        var environment = configuration.inheritEnvironment ? ProcessInfo.processInfo.environment : [:]
        for (key, value) in configuration.environment { environment[key] = value }
        return environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }

    static func makePipe(nonBlocking: Bool) throws -> (read: FileDescriptor, write: FileDescriptor) {
        do throws(Errno) {
            // pipe2: both ends close-on-exec from the start (no window for a concurrent fork).
            let options: FileDescriptor.PipeOptions = nonBlocking ? [.closeOnExec, .nonBlocking] : [.closeOnExec]
            let ends = try FileDescriptor.pipe(options: options)
            return (ends.readEnd, ends.writeEnd)
        } catch {
            throw Error.system(SystemCallError("pipe2", errno: error))
        }
    }

    /// Writing to a pipe whose reader has gone must fail with EPIPE, not end ingot.
    private static let ignoreSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    private static func writeInBackground(_ bytes: [UInt8], to fd: FileDescriptor) {
        let thread = Thread {
            _ = try? bytes.withUnsafeBytes { try fd.writeAll($0) }
            try? fd.close()
        }
        thread.name = "ingot-child-stdin"
        thread.start()
    }
}

/// How the reader thread handles one output pipe.
enum ReaderMode {
    case capture(limit: Int)
    case stream(ChildOutput)
}

/// The file actions and descriptors of one spawn; every descriptor it opened is closed by
/// `closeAll` (child ends right after the spawn, everything on failure).
struct SpawnSetup {
    private(set) var actions = posix_spawn_file_actions_t()
    private var childEnds: [FileDescriptor] = []
    private var parentEnds: [FileDescriptor] = []
    private var spawned = false

    init() { posix_spawn_file_actions_init(&actions) }

    mutating func openForChild(
        _ path: String, _ mode: FileDescriptor.AccessMode, options: FileDescriptor.OpenOptions, target: Int32,
        stream: String
    ) throws {
        do {
            let fd = try FileDescriptor.open(
                path, mode, options: options.union(.closeOnExec),
                permissions: [.ownerReadWrite, .groupRead, .otherRead])
            childEnds.append(fd)
            posix_spawn_file_actions_adddup2(&actions, fd.rawValue, target)
        } catch let errno as Errno {
            throw ChildProcess.Error.redirect(stream: stream, path: path, errno: errno)
        }
    }

    /// A pipe whose other end becomes `target` in the child; returns the parent's end.
    mutating func pipeForChild(target: Int32, parentReads: Bool) throws -> FileDescriptor {
        let (read, write) = try ChildProcess.makePipe(nonBlocking: false)
        let (child, parent) = parentReads ? (write, read) : (read, write)
        childEnds.append(child)
        parentEnds.append(parent)
        posix_spawn_file_actions_adddup2(&actions, child.rawValue, target)
        return parent
    }

    mutating func dup(_ source: Int32, onto target: Int32) {
        posix_spawn_file_actions_adddup2(&actions, source, target)
    }

    mutating func changeDirectory(_ directory: String) throws {
        guard let addchdir = Self.addchdir else {
            throw ChildProcess.Error.system(
                SystemCallError("posix_spawn_file_actions_addchdir_np", path: directory, errno: .notSupported))
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ChildProcess.Error.system(SystemCallError("chdir", path: directory, errno: .noSuchFileOrDirectory))
        }
        _ = addchdir(&actions, directory)
    }

    /// Closes every descriptor above stderr in the child (glibc 2.34+), so nothing of ours —
    /// pipes of other children, sockets — leaks into it even without O_CLOEXEC.
    mutating func closeOthers() {
        if let addclosefrom = Self.addclosefrom { _ = addclosefrom(&actions, 3) }
    }

    mutating func spawn(
        path: String, argv: [String], environment: [String], wake: (read: FileDescriptor, write: FileDescriptor)
    ) throws
        -> pid_t
    {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        // ingot may ignore these (the interrupt stream, SIGPIPE); the child gets the defaults back.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGTTOU, SIGTTIN, SIGCHLD] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup($0) } + [nil]
        defer {
            cArgv.forEach { free($0) }
            cEnvironment.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, cArgv, cEnvironment)
        guard result == 0 else {
            try? wake.read.close()
            try? wake.write.close()
            throw ChildProcess.Error.cannotStart(executable: path, errno: Errno(rawValue: result))
        }
        spawned = true
        return pid
    }

    mutating func closeChildEnds() {
        for fd in childEnds { try? fd.close() }
        childEnds.removeAll()
    }

    /// After a successful spawn only the child ends are closed; on failure the parent ends too.
    mutating func closeAll() {
        closeChildEnds()
        if !spawned { for fd in parentEnds { try? fd.close() } }
        parentEnds.removeAll()
        posix_spawn_file_actions_destroy(&actions)
    }

    // glibc's _np file actions are not in Swift's Glibc module; look them up once.
    private typealias FileAction =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    private typealias FileActionFD = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addchdir: FileAction? = dlsym(nil, "posix_spawn_file_actions_addchdir_np").map {
        unsafeBitCast($0, to: FileAction.self)
    }
    private static let addclosefrom: FileActionFD? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map {
        unsafeBitCast($0, to: FileActionFD.self)
    }
}
