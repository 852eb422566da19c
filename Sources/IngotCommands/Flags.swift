// Option groups shared by the subcommands, and the few helpers every command uses to find
// boards, the lock and the store, and to set up logging.

import ArgumentParser
import Foundation
import IngotSpec
import Logging

public enum Flags {
    /// `--board` (repeatable; `all` for every board) and `--boards-dir`.
    public struct Boards: ParsableArguments {
        @Option(name: .long, help: "Board profile name (repeatable; 'all' for every board). See 'ingot boards'.")
        public var board: [String] = []

        @Option(name: .long, help: "Directory of board profiles (default: $INGOT_BOARDS, ./boards, or the installed ones).")
        public var boardsDir: String?

        public init() {}

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
                if required { throw ValidationError("name at least one --board (one of: \(catalog.boards.map(\.name).joined(separator: ", ")))") }
                return []
            }
            if board.contains("all") { return catalog.boards }
            return try board.map { try catalog.board(named: $0) }
        }
    }

    /// `-o/--output`.
    public struct Output: ParsableArguments {
        @Option(name: [.short, .customLong("output")], help: "Output directory.")
        public var output: String = "out"
        public init() {}
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

        public func lockPath(boardsDirectory: String) -> String {
            lock ?? ((boardsDirectory as NSString).deletingLastPathComponent as NSString).appendingPathComponent("firmware/lock.json")
        }
    }
}

extension Ingot {
    nonisolated(unsafe) private static var loggingReady = false

    /// Logs go to stderr; user-facing output goes to stdout.
    static func bootstrapLogging() {
        guard !loggingReady else { return }
        loggingReady = true
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = .info
            return h
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
