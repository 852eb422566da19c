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
        let result = try Command.ingot(args, cwd: cwd ?? root, prefix: prefix, environment: env)
        return Result(status: result.status, stdout: result.stdout, stderr: result.stderr)
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
