// Option groups shared by the subcommands, and the few helpers every command uses to find
// boards, the lock and the store, and to set up logging. Each group refuses nonsense in
// validate(), before any work (dry runs included).

import ArgumentParser
import Foundation
import IngotContract
import IngotSpec
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

public enum Flags {
    /// `--board` (repeatable; `all` for every board) and `--boards-dir`.
    public struct Boards: ParsableArguments {
        @Option(name: .long, help: "Board profile name (repeatable; 'all' for every board). See 'ingot boards'.")
        public var board: [String] = []

        @Option(
            name: .long, help: "Directory of board profiles (default: $INGOT_BOARDS, ./boards, or the installed ones).")
        public var boardsDir: String?

        public init() {}

        public func validate() throws {
            var seen: Set<String> = []
            for name in board where !seen.insert(name).inserted {
                throw ValidationError("--board \(name) is given twice; name each board once")
            }
            if board.contains("all"), board.count > 1 {
                throw ValidationError("--board all already names every board; drop the other --board options")
            }
        }

        public func catalog() throws -> BoardCatalog {
            guard let dir = boardsDir ?? BoardCatalog.locateDefaultDirectory() else {
                throw ValidationError("no boards directory found; pass --boards-dir or set INGOT_BOARDS")
            }
            return try BoardCatalog.load(directory: dir)
        }

        /// The selected boards, in the order given ('all' expands to every board).
        public func selected(required: Bool = true) throws -> [BoardProfile] {
            let catalog = try catalog()
            if board.isEmpty {
                if required {
                    throw ValidationError(
                        "name at least one --board (one of: \(catalog.boards.map(\.name).joined(separator: ", ")))")
                }
                return []
            }
            if board.contains("all") { return catalog.boards }
            return try board.map { try catalog.board(named: $0) }
        }
    }

    /// `--board` naming the one board of a build that is booted (`ingot test`, `ingot run`).
    public struct TargetBoard: ParsableArguments {
        @Option(
            name: .long, help: "Board profile name (default: the board in the build's manifest). See 'ingot boards'.")
        public var board: String?

        @Option(
            name: .long, help: "Directory of board profiles (default: $INGOT_BOARDS, ./boards, or the installed ones).")
        public var boardsDir: String?

        public init() {}

        public func validate() throws {
            if board == "all" {
                throw ValidationError(
                    "--board all: this command boots one build on one board; name that board, or drop --board to use the manifest's"
                )
            }
        }

        public func catalog() throws -> BoardCatalog {
            guard let dir = boardsDir ?? BoardCatalog.locateDefaultDirectory() else {
                throw ValidationError("no boards directory found; pass --boards-dir or set INGOT_BOARDS")
            }
            return try BoardCatalog.load(directory: dir)
        }
    }

    /// `-o/--output`.
    public struct Output: ParsableArguments {
        @Option(name: [.short, .customLong("output")], help: "Output directory.")
        public var output: String = "out"
        public init() {}

        public func validate() throws { try checkDirectoryOption(output, option: "-o") }
    }

    /// `--ready-timeout` and `--settle` (negative numbers are taken as values, then refused).
    public struct Readiness: ParsableArguments {
        @Option(
            name: .long, parsing: .unconditional,
            help: "Seconds from power-on by which readiness must be reached (default: the spec's readiness.timeout).")
        public var readyTimeout: Double?
        @Option(
            name: .long, parsing: .unconditional,
            help: "Seconds to watch for crash-looping services after the ready marker (default 0).")
        public var settle: Double = 0
        public init() {}

        public func validate() throws {
            if let readyTimeout, !(readyTimeout.isFinite && readyTimeout > 0) {
                throw ValidationError(
                    "--ready-timeout \(readyTimeout) is not a number of seconds; give a positive number such as 120")
            }
            if !(settle.isFinite && settle >= 0) {
                throw ValidationError(
                    "--settle \(settle) is not a number of seconds; give 0 or a positive number such as 5")
            }
        }
    }

    /// `--debug` / `--quiet`.
    public struct Logs: ParsableArguments {
        @Flag(name: .long, help: "Print debug logs.")
        public var debug = false
        @Flag(name: [.short, .long], help: "Only print errors.")
        public var quiet = false
        public init() {}

        public func logger(_ label: String = "ingot") -> Logger {
            Ingot.bootstrapLogging()
            var l = Logger(label: label)
            l.logLevel = debug ? .debug : (quiet ? .error : .info)
            return l
        }
    }

    /// `--cache` and `--lock`.
    public struct Store: ParsableArguments {
        @Option(name: .long, help: "Content store directory (default: $INGOT_CACHE, ~/.cache/ingot).")
        public var cache: String?
        @Option(name: .long, help: "Lock file pinning Debian packages (default: firmware/lock.json beside the boards).")
        public var lock: String?
        public init() {}

        public func validate() throws {
            if let cache { try checkDirectoryOption(cache, option: "--cache") }
        }

        public func lockPath(boardsDirectory: String) -> String {
            lock
                ?? ((boardsDirectory as NSString).deletingLastPathComponent as NSString).appendingPathComponent(
                    "firmware/lock.json")
        }

        /// A lock named with `--lock` must exist (a typo must not build unpinned); the default
        /// one may be absent.
        public func requireNamedLock() throws {
            guard let lock else { return }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: lock, isDirectory: &isDirectory), !isDirectory.boolValue else {
                throw ValidationError(
                    "--lock \(lock): no such lock file; check the path, or run 'ingot lock --lock \(lock)' to write one"
                )
            }
        }
    }
}

extension Ingot {
    /// Whether swift-log is bootstrapped (it may be only once per process; commands run in parallel in tests).
    private static let loggingReady = Mutex(false)

    /// Logs go to stderr; user-facing output goes to stdout.
    static func bootstrapLogging() {
        loggingReady.withLock { ready in
            guard !ready else { return }
            ready = true
            LoggingSystem.bootstrap { label in
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = .info
                return h
            }
        }
    }
}

/// An error that prints exactly its message (ArgumentParser prefixes "Error: ").
struct CommandError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func absolutePath(_ p: String) -> String {
    p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
}

/// Refuses a directory option that cannot exist or be written: a path component that is a
/// regular file, or a nearest existing directory this user cannot write in (read-only file
/// system, permissions). Runs in validate(), before any work.
/// - Parameters:
///   - path: what the user gave.
///   - option: the option, named in the error (`-o`, `--cache`).
func checkDirectoryOption(_ path: String, option: String) throws {
    guard !path.isEmpty else { throw ValidationError("\(option) is empty; name a directory") }
    let full = absolutePath(path)
    var current = ""
    var existing = "/"
    for component in full.split(separator: "/") {
        current += "/" + component
        var info = stat()
        guard stat(current, &info) == 0 else {
            if errno == ENOENT { break }
            throw ValidationError(
                "\(option) \(path): cannot reach \(current) (\(String(cString: strerror(errno)))); choose another \(option)"
            )
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw ValidationError(
                "\(option) \(path): \(current) is a file, not a directory; choose another \(option) or move that file away"
            )
        }
        existing = current
    }
    guard access(existing, W_OK | X_OK) == 0 else {
        let reason = String(cString: strerror(errno))
        throw ValidationError("\(option) \(path): cannot write in \(existing) (\(reason)); choose a writable \(option)")
    }
}

/// Parses a comma list option into contract enum cases, as a usage error naming the option.
func parseOption<T: RawRepresentable & CaseIterable>(_ text: String, option: String, as type: T.Type) throws -> [T]
where T.RawValue == String {
    do {
        return try parseNameList(text, option: option, as: type)
    } catch let error as ListError {
        throw ValidationError(error.description)
    }
}
