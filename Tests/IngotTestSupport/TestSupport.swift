// Shared test support for every test target: the package root and the built `ingot` binary,
// running `ingot` and host tools through IngotSystem's ChildProcess (own process group, both
// outputs captured, never left running), temporary directories, and tool checks for
// `.enabled(if:)` that turn into failures instead of skips when CI=true.

import Foundation
import IngotSystem
import Testing

/// Where things are, and whether this is CI.
public enum TestEnvironment {
    /// The package root (three levels above this file: Tests/IngotTestSupport/TestSupport.swift).
    public static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// True when CI=true: CI has every tool, so a missing one must fail the test, not skip it.
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// True under `ci/nightly` (INGOT_TEST_TIER=full): the whole board × bus × format matrix of
    /// boots runs. `ci/test` (the default tier) boots each board, each bus and each format once.
    public static var isFullTier: Bool { ProcessInfo.processInfo.environment["INGOT_TEST_TIER"] == "full" }

    /// `always` in every run, plus `nightly` under the full tier (for parameterized tests).
    public static func tiered<T>(_ always: [T], nightly: [T]) -> [T] { isFullTier ? always + nightly : always }

    /// True when running as root (loop devices, libvirt daemons).
    public static var isRoot: Bool { getuid() == 0 }

    /// The `ingot` executable built beside the test bundle.
    public static var ingotBinary: String {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("ingot").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        return packageRoot + "/.build/debug/ingot"
    }

    /// A shared content store so tests download each package once.
    public static var cache: String {
        ProcessInfo.processInfo.environment["INGOT_CACHE"] ?? NSTemporaryDirectory() + "ingot-test-cache"
    }
}

/// What a finished command left.
public struct CommandResult: Sendable {
    /// The exit code, or 128 + signal.
    public var status: Int32
    /// How it ended.
    public var exit: IngotSystem.ExitStatus
    /// Captured standard output.
    public var stdout: String
    /// Captured standard error (empty when merged into stdout).
    public var stderr: String
    /// Both outputs.
    public var all: String { stdout + stderr }
    /// Standard output without surrounding whitespace.
    public var trimmed: String { stdout.trimmingCharacters(in: .whitespacesAndNewlines) }

    init(_ termination: ChildProcess.Termination) {
        exit = termination.status
        status = termination.status.shellStatus
        stdout = termination.standardOutputText
        stderr = termination.standardErrorText
    }
}

/// Running commands the way the tests need them.
public enum Command {
    /// Runs `executable` (a path or a name in PATH/sbin) with `arguments`, blocking, capturing both
    /// outputs (or merging stderr into stdout).
    @discardableResult
    public static func run(
        _ executable: String, _ arguments: [String] = [], cwd: String? = nil, environment: [String: String] = [:],
        input: ChildProcess.Input = .null, mergeStandardError: Bool = false
    ) throws -> CommandResult {
        let configuration = ChildProcess.Configuration(
            executable, arguments, environment: environment, workingDirectory: cwd, standardInput: input,
            standardError: mergeStandardError ? .standardOutput : .capture)
        return CommandResult(try ChildProcess.runBlocking(configuration))
    }

    /// Runs a `/bin/sh -c` command line in `cwd` (default: the package root), stderr merged.
    @discardableResult
    public static func shell(_ command: String, cwd: String? = nil, environment: [String: String] = [:]) throws
        -> CommandResult
    {
        try run(
            "/bin/sh", ["-c", command], cwd: cwd ?? TestEnvironment.packageRoot, environment: environment,
            mergeStandardError: true)
    }

    /// Runs the built `ingot` with `arguments` in `cwd` (default: the package root), with the
    /// shared cache and the repository's boards. `prefix` runs it through another command
    /// (e.g. `setpriv`).
    @discardableResult
    public static func ingot(
        _ arguments: [String], cwd: String? = nil, prefix: [String] = [], environment: [String: String] = [:]
    ) throws -> CommandResult {
        let argv = prefix + [TestEnvironment.ingotBinary] + arguments
        return try run(
            argv[0], Array(argv.dropFirst()), cwd: cwd ?? TestEnvironment.packageRoot,
            environment: ingotEnvironment(environment))
    }

    /// Starts the built `ingot` without waiting (for interrupt tests); stdout/stderr go to the
    /// given files (or are captured).
    public static func startIngot(
        _ arguments: [String], cwd: String? = nil, environment: [String: String] = [:],
        stdout: ChildProcess.Output = .capture,
        stderr: ChildProcess.Output = .capture
    ) throws -> ChildProcess {
        try ChildProcess.spawn(
            ChildProcess.Configuration(
                TestEnvironment.ingotBinary, arguments, environment: ingotEnvironment(environment),
                workingDirectory: cwd ?? TestEnvironment.packageRoot, standardOutput: stdout, standardError: stderr))
    }

    /// The environment `ingot` runs with in tests: the shared cache and the repository's boards.
    public static func ingotEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        var environment = [
            "INGOT_CACHE": TestEnvironment.cache, "INGOT_BOARDS": TestEnvironment.packageRoot + "/boards",
        ]
        for (key, value) in extra { environment[key] = value }
        return environment
    }
}

/// A temporary directory, removed when dropped.
public final class TemporaryDirectory: Sendable {
    /// Its path.
    public let path: String

    /// Creates `$TMPDIR/<prefix>-<random>`.
    public init(_ prefix: String = "ingot-test") throws {
        path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A path inside the directory.
    public func file(_ name: String) -> String { path + "/" + name }
}

/// Host tools tests depend on.
public enum Tools {
    /// Whether every tool is installed (PATH, then sbin).
    public static func installed(_ tools: [String]) -> Bool { tools.allSatisfy { ChildProcess.isInstalled($0) } }

    /// The condition for `.enabled(if:)`: true when the tools are installed — and always under
    /// CI=true, so a tool CI should have makes the test fail rather than skip.
    public static func runnable(_ tools: String...) -> Bool { TestEnvironment.isCI || installed(tools) }

    /// The path of `tool`; throws (failing the test) when it is missing.
    public static func require(_ tool: String) throws -> String {
        do {
            return try ChildProcess.resolve(tool, extra: ChildProcess.Configuration(tool).extraSearchDirectories)
        } catch {
            throw MissingTool(tool: tool, reason: "\(error)")
        }
    }

    /// A required tool that is not installed.
    public struct MissingTool: Error, CustomStringConvertible {
        public var tool: String
        public var reason: String
        public var description: String { "\(tool) is required by this test: \(reason); run ci/bootstrap" }
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test when `tools` are installed; under CI=true it always runs (and fails if one
    /// is missing).
    public static func requires(_ tools: String...) -> Self {
        .enabled(
            if: TestEnvironment.isCI || Tools.installed(tools),
            "needs \(tools.joined(separator: ", ")) (run ci/bootstrap)")
    }

    /// Runs the test only in the full tier (`ci/nightly`, INGOT_TEST_TIER=full): a repeat of a
    /// boot `ci/test` already makes once on another board, bus or format.
    public static var nightly: Self {
        .enabled(
            if: TestEnvironment.isFullTier,
            "repeats a boot ci/test already covers; ci/nightly runs it (INGOT_TEST_TIER=full)")
    }

    /// Runs the test as root; under CI=true (which runs as root) it always runs.
    public static var requiresRoot: Self {
        .enabled(if: TestEnvironment.isCI || TestEnvironment.isRoot, "needs root")
    }
}
