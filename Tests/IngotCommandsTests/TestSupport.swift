// Helpers for end-to-end tests: run the built `ingot` binary as a user would, in temp dirs.
// Thin wrappers over IngotTestSupport (which runs everything through IngotSystem's ChildProcess).
import Foundation
import IngotTestSupport
import Testing

enum E2E {
    /// The package root (two levels above this file's folder).
    static let root: String = TestEnvironment.packageRoot

    /// The `ingot` executable built beside the test bundle.
    static var binary: String { TestEnvironment.ingotBinary }

    /// A shared content store so tests download each package once.
    static let cache = NSTemporaryDirectory() + "ingot-test-cache"

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var all: String { stdout + stderr }
    }

    /// Boots run one at a time: TCG guests on a shared 2-core machine must not starve each
    /// other past their stage timeouts.
    static let bootLock = NSLock()

    /// Runs `ingot ARGS` (optionally through `prefix`, e.g. setpriv) in `cwd`.
    @discardableResult
    static func ingot(_ args: [String], cwd: String? = nil, prefix: [String] = [], env: [String: String] = [:]) throws
        -> Result
    {
        let boots = args.first == "test" || args.first == "run" || args.first == "matrix"
        if boots { bootLock.lock() }
        defer { if boots { bootLock.unlock() } }
        let clock = Date()
        let result = try Command.ingot(args, cwd: cwd ?? root, prefix: prefix, environment: env)
        logTiming(args, seconds: Date().timeIntervalSince(clock))
        return Result(status: result.status, stdout: result.stdout, stderr: result.stderr)
    }

    /// With INGOT_TEST_TIMING=FILE, every `ingot` command's wall time is appended to FILE (how
    /// ci/test finds what to move to the full tier).
    static func logTiming(_ args: [String], seconds: Double) {
        guard let path = ProcessInfo.processInfo.environment["INGOT_TEST_TIMING"], !path.isEmpty,
            let handle = FileHandle(forWritingAtPath: path)
                ?? (FileManager.default.createFile(atPath: path, contents: nil)
                    ? FileHandle(forWritingAtPath: path) : nil)
        else { return }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(
            contentsOf: Data(String(format: "%7.1f s  ingot %@\n", seconds, args.prefix(6).joined(separator: " ")).utf8)
        )
    }

    /// A copy of the repository's boards in which `board` needs a QEMU newer than any that
    /// exists, so `ingot matrix` must skip it (the environment for `ingot` with INGOT_BOARDS).
    static func boardsNeedingFutureQEMU(_ board: String, in dir: String) throws -> [String: String] {
        let boards = dir + "/boards"
        try FileManager.default.copyItem(atPath: root + "/boards", toPath: boards)
        // The lock beside the boards (firmware/lock.json) stays the repository's.
        try FileManager.default.createSymbolicLink(atPath: dir + "/firmware", withDestinationPath: root + "/firmware")
        let path = "\(boards)/\(board).yml"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            line.trimmingCharacters(in: .whitespaces).hasPrefix("minimumQEMU:")
                ? line.prefix { $0 == " " } + "minimumQEMU: \"99.0\"" : String(line)
        }
        try #require(lines.contains { $0.contains("\"99.0\"") }, "\(path) has no minimumQEMU line to raise")
        try write(lines.joined(separator: "\n"), to: path)
        return ["INGOT_BOARDS": boards]
    }

    static func tempDir(_ tag: String) throws -> String {
        let d = NSTemporaryDirectory() + "ingot-e2e-\(tag)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        chmod(d, 0o777)
        return d
    }

    static func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
    }

    static func listing(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }
}
