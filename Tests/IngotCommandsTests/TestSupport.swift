// Helpers for end-to-end tests: run the built `ingot` binary as a user would, in temp dirs.
import Foundation
import Testing

enum E2E {
    /// The package root (two levels above this file's folder).
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The `ingot` executable built beside the test bundle.
    static var binary: String {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = testBinary.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("ingot").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        return root + "/.build/debug/ingot"
    }

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
        let p = Process()
        let argv = prefix + [binary] + args
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        p.currentDirectoryURL = URL(fileURLWithPath: cwd ?? root)
        var environment = ProcessInfo.processInfo.environment
        environment["INGOT_CACHE"] = environment["INGOT_CACHE"] ?? cache
        environment["INGOT_BOARDS"] = root + "/boards"
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Read both pipes concurrently so neither fills up.
        var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        return Result(
            status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
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
