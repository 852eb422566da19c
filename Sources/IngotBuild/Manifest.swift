// manifest.json: every input with its sha256 and origin, every output with its sha256 and size,
// and (for disk images) every partition. Encoded with sorted keys and no timestamps, so two
// builds of the same inputs write the same manifest.

import Crypto
import Foundation
import IngotSources

public struct BuildManifest: Codable, Equatable, Sendable {
    public struct SpecRecord: Codable, Equatable, Sendable {
        public var path: String
        public var sha256: String
    }
    public struct KernelRecord: Codable, Equatable, Sendable {
        public var package: String
        public var version: String
        public var release: String
        public var modules: [String]
        public var dtbs: [String]
    }
    public struct OutputRecord: Codable, Equatable, Sendable {
        public var name: String
        public var role: String
        public var size: Int64
        public var sha256: String
    }
    public struct PartitionRecord: Codable, Equatable, Sendable {
        public var number: Int
        public var name: String
        public var role: String
        public var offset: Int64
        public var size: Int64
        public var type: String
        public var uuid: String
        public var filesystem: String?
        public var sha256: String?
    }

    public var ingot: String = IngotVersion.current
    public var name: String
    public var board: String
    public var arch: String
    public var formats: [String]
    public var sourceDateEpoch: Int64
    public var spec: SpecRecord
    public var kernel: KernelRecord?
    public var cmdline: String
    public var inputs: [InputRecord]
    public var outputs: [OutputRecord]
    public var partitions: [PartitionRecord]?
    /// Disk images: the GPT disk GUID or MBR signature, and the table kind.
    public var diskID: String?
    public var table: String?
    /// Every host file a `files: source` copied into the image, with its sha256, so a reviewer
    /// sees what went in from outside the image sources (nil when there were none).
    public var hostFiles: [HostFileRecord]? = nil

    /// One `files: source` host file.
    public struct HostFileRecord: Codable, Equatable, Sendable {
        /// The host path, absolute, as the spec names it.
        public var path: String
        /// Where `path` leads once symlinks are followed, when that is elsewhere.
        public var resolvedPath: String?
        /// Where it went in the image.
        public var target: String
        public var sha256: String
        public var size: Int64
        /// True when the source lies outside the spec's directory.
        public var outsideSpecDirectory: Bool
    }

    public func encoded() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var d = try enc.encode(self)
        d.append(0x0A)
        return d
    }

    public static func load(path: String) throws -> BuildManifest {
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            return try JSONDecoder().decode(BuildManifest.self, from: data)
        } catch {
            throw ComposeError(location: nil, message: "\(path): not a readable Ingot manifest (\(error)); rebuild the image")
        }
    }

    /// sha256 of a file, streamed.
    public static func sha256(ofFile path: String) throws -> String {
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw ComposeError(location: nil, message: "\(path): cannot open for hashing")
        }
        defer { try? h.close() }
        var hasher = SHA256()
        while true {
            let chunk = h.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// sha256 of the next `count` bytes of an open file.
    public static func sha256(reading h: FileHandle, count: Int64) throws -> String {
        var hasher = SHA256()
        var left = count
        while left > 0 {
            let chunk = h.readData(ofLength: Int(min(left, 4 << 20)))
            if chunk.isEmpty { break }
            hasher.update(data: chunk)
            left -= Int64(chunk.count)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Incremental sha256 with a hex result.
    struct Hasher {
        private var h = SHA256()
        mutating func update(_ bytes: [UInt8]) { h.update(data: bytes) }
        var hex: String { h.finalize().map { String(format: "%02x", $0) }.joined() }
    }

    public static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}

public enum IngotVersion {
    public static let current = "0.1.0"
}
