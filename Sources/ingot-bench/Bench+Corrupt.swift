// A seeded mismatch, to show that the benchmarks' untimed checks decide the verdict: with
// `INGOT_BENCH_CORRUPT=compose,squashfs,image` (any subset) the Ingot side damages its own output
// on purpose (one file's bytes, one file's mode) and the benchmark must report MISSED and exit
// non-zero. Never set in normal runs; the benchmark prints a warning when it is.

import Foundation
import IngotTree

enum Corruption {
    /// The environment variable naming the outputs to damage.
    static let variable = "INGOT_BENCH_CORRUPT"

    /// Whether the Ingot output `what` ("compose", "squashfs", "image") is to be damaged.
    static func wanted(_ what: String) -> Bool {
        guard let value = ProcessInfo.processInfo.environment[variable] else { return false }
        return value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == what }
    }

    /// A line for the benchmark's header when a corruption is requested.
    static var warning: String? {
        guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else { return nil }
        return "WARNING: \(variable)=\(value): Ingot's output is damaged on purpose; the checks must fail"
    }

    /// Damages the tree the way a compose or writer bug would: the first regular file larger than
    /// the inline limit (in walk order) gets one byte flipped, and with `mode` its permissions
    /// change too.
    /// - Returns: the damaged path, or nil when the tree has no such file.
    @discardableResult
    static func damage(_ tree: FileTree, mode: Bool) throws -> String? {
        var victim: (String, Node)?
        tree.walk { path, node in
            if victim == nil, let content = node.content, content.size > Int64(ContentSpool.inlineLimit) {
                victim = (path, node)
            }
        }
        guard let (path, node) = victim, let content = node.content else { return nil }
        var bytes = try tree.bytes(of: content)
        bytes[bytes.count / 2] ^= 0x5A
        node.kind = .file(Content(bytes: bytes))
        if mode { node.permissions ^= 0o022 }
        FileHandle.standardError.write(Data("  (seeded damage: \(path))\n".utf8))
        return path
    }
}
