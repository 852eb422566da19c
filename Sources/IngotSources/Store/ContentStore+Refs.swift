// A small per-key index beside the blobs: `refs/<kind>/<key>` holds one digest, so a resolved
// package or an extracted data layer is found again without downloading or unpacking.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension ContentStore {
    /// Index keys are file names: anything but `[A-Za-z0-9._+-]` is percent-encoded.
    nonisolated func refPath(kind: String, key: String) -> String {
        var safe = ""
        for b in key.utf8 {
            let c = Character(Unicode.Scalar(b))
            if c.isASCII && (c.isLetter || c.isNumber || "._+-".contains(c)) && !(safe.isEmpty && c == ".") {
                safe.append(c)
            } else {
                safe += String(format: "%%%02X", b)
            }
        }
        return "\(root)/refs/\(kind)/\(safe)"
    }

    /// The digest recorded under `kind/key`, when present and its blob still exists.
    public nonisolated func ref(kind: String, key: String) -> Digest? {
        guard let data = FileManager.default.contents(atPath: refPath(kind: kind, key: key)),
            let text = String(data: data, encoding: .utf8),
            let digest = try? Digest(parsing: text),
            contains(digest)
        else { return nil }
        return digest
    }

    /// Records `digest` under `kind/key` (atomically replacing an older entry).
    public nonisolated func setRef(kind: String, key: String, to digest: Digest) throws {
        let path = refPath(kind: kind, key: key)
        try ContentStore.makeDirectory("\(root)/refs/\(kind)")
        let tmp = "\(root)/tmp/ref-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        guard FileManager.default.createFile(atPath: tmp, contents: Data((digest.description + "\n").utf8)) else {
            throw Error.io(path: tmp, reason: "cannot write")
        }
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw Error.io(path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// Stores a JSON value as a blob and records it under `kind/key`.
    nonisolated func putRecord<T: Encodable>(_ value: T, kind: String, key: String) throws -> Digest {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let data = try enc.encode(value)
        let digest = try put(bytes: Array(data))
        try setRef(kind: kind, key: key, to: digest)
        return digest
    }

    /// Reads a JSON record stored with `putRecord`; nil when absent or unreadable.
    nonisolated func record<T: Decodable>(_ type: T.Type, kind: String, key: String) -> T? {
        guard let digest = ref(kind: kind, key: key), let data = try? bytes(of: digest) else { return nil }
        return try? JSONDecoder().decode(T.self, from: data)
    }
}
