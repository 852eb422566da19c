// Helpers for IngotSources tests: temporary directories (removed afterwards) and running host
// tools synchronously with captured output.

import Foundation
import IngotTestSupport
import IngotTree
import Testing

@testable import IngotSources

/// A temporary directory removed when the value is dropped via `cleanup()`.
struct TempDir {
    let path: String

    init(_ label: String = "ingot-sources-test") throws {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        path = "\(base)/\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }

    func write(_ rel: String, _ text: String) throws {
        try write(rel, Data(text.utf8))
    }

    func write(_ rel: String, _ data: Data) throws {
        let full = path + "/" + rel
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: full))
    }
}

/// Runs a command and returns (status, stdout+stderr).
@discardableResult
func sh(_ args: [String], cwd: String? = nil, env: [String: String] = [:]) throws -> (Int32, String) {
    let result = try Command.run(args[0], Array(args.dropFirst()), cwd: cwd, environment: env, mergeStandardError: true)
    return (result.status, result.stdout)
}

/// Lists the entry paths of an archive with the project's own reader.
func archiveListing(_ path: String) throws -> [String] {
    let reader = try ArchiveReader(path: path, formats: .all)
    var out: [String] = []
    while let e = try reader.next() {
        out.append(e.path)
        try reader.skipData()
    }
    return out
}

/// A store in a fresh temporary directory.
func makeStore(_ dir: TempDir) throws -> ContentStore {
    try ContentStore(root: dir.path + "/cache")
}

/// Whether apt can reach arm64 package lists (skips network tests on hosts without them).
let aptHasArm64: Bool = {
    guard let r = try? sh(["apt-cache", "show", "--no-all-versions", "busybox-static:arm64"]) else { return false }
    return r.0 == 0 && r.1.contains("Architecture: arm64")
}()
