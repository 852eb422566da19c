// `Digest`: a sha256 content address ("sha256:<hex>") and the streaming hasher that produces it.
// Every blob in the store, every OCI descriptor and every lock entry is checked through here.

import Crypto
import Foundation
import IngotSystem

#if canImport(Glibc)
    import Glibc
#endif

/// A sha256 content digest, printed and encoded as `sha256:<64 lowercase hex>`.
public struct Digest: Hashable, Codable, CustomStringConvertible, Sendable {
    /// Why a string is not a digest.
    public enum Error: Swift.Error, CustomStringConvertible {
        case malformed(String)
        case unreadable(path: String, reason: String)

        public var description: String {
            switch self {
            case .malformed(let s):
                return "'\(s)' is not a sha256 digest: expected 'sha256:' followed by 64 hex digits"
            case .unreadable(let path, let reason):
                return "cannot read \(path) to hash it: \(reason); check that the file exists and is readable"
            }
        }
    }

    /// The 64 lowercase hex digits.
    public let hex: String

    /// Parses `sha256:<hex>` or a bare 64-digit hex string (as in the lock and apt metadata).
    public init(parsing string: String) throws {
        var s = string.trimmingCharacters(in: .whitespacesAndNewlines)
        if s.lowercased().hasPrefix("sha256:") { s = String(s.dropFirst(7)) }
        s = s.lowercased()
        guard s.utf8.count == 64, s.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw Error.malformed(string)
        }
        hex = s
    }

    init(sha256 digest: SHA256.Digest) {
        hex = SHA256Stream.hex(Array(digest))
    }

    init(sha256Bytes bytes: [UInt8]) {
        hex = SHA256Stream.hex(bytes)
    }

    public var description: String { "sha256:\(hex)" }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        try self.init(parsing: try c.decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    /// The digest of `bytes`.
    public static func of(_ bytes: some DataProtocol) -> Digest {
        Digest(sha256: SHA256.hash(data: bytes))
    }

    /// The digest of a file, read in blocks (IngotSystem's streaming sha256).
    public static func of(fileAt path: String) throws -> Digest {
        // Regular files only, opened without blocking: a FIFO would hang, a device never end.
        let fd: Int32
        do { fd = try RegularFile.open(path) } catch let error as RegularFile.Error {
            throw Error.unreadable(path: path, reason: error.reason)
        }
        defer { close(fd) }
        do {
            return try Digest(parsing: SHA256Stream.hex(descriptor: fd, offset: 0, length: .max, path: path))
        } catch let error as SystemCallError {
            throw Error.unreadable(path: path, reason: "\(error.errno)")
        }
    }
}

/// Incremental sha256 over a stream of blocks (IngotSystem's streaming sha256).
struct StreamingHasher {
    private var stream = SHA256Stream()
    var count: Int64 { stream.byteCount }

    mutating func update(_ bytes: UnsafeRawBufferPointer) { stream.update(bytes) }

    func finalize() -> Digest { Digest(sha256Bytes: stream.finalize()) }
}
