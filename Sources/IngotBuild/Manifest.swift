// manifest.json: every input with its sha256 and origin, every output with its sha256 and size,
// and (for disk images) every partition. Encoded with sorted keys and no timestamps, so two
// builds of the same inputs write the same manifest.

import Crypto
import Foundation
import IngotContract
import IngotDisk
import IngotSystem
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
    /// One output file: its name inside the manifest's directory, what it is, its size and digest.
    public struct OutputRecord: Codable, Equatable, Sendable {
        public var name: String
        public var role: ArtifactRole
        public var size: Int64
        public var sha256: String

        public init(name: String, role: ArtifactRole, size: Int64, sha256: String) {
            self.name = name
            self.role = role
            self.size = size
            self.sha256 = sha256
        }
    }
    public struct PartitionRecord: Codable, Equatable, Sendable {
        public var number: Int
        public var name: String
        public var role: PartitionRole
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
    public var formats: [OutputFormat]
    public var sourceDateEpoch: Int64
    public var spec: SpecRecord
    public var kernel: KernelRecord?
    public var cmdline: String
    public var inputs: [InputRecord]
    /// Every Debian package installed into the image (closures, kernel, bootloader, firmware):
    /// the appliance's package inventory, also written as the SPDX SBOM.
    public var packages: [InstalledPackage]? = nil
    public var outputs: [OutputRecord]
    public var partitions: [PartitionRecord]?
    /// Disk images: the GPT disk GUID or MBR signature, and the table kind.
    public var diskID: String?
    public var table: String?
    /// The spec's readiness rules (pattern, network probes, whether the ready marker is printed),
    /// read by `ingot test`. Absent in manifests written before network readiness existed.
    public var readiness: ReadinessRecord? = nil

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

    /// Why a manifest could not be read.
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        /// The file does not exist.
        case missing(path: String)
        /// The file exists but is not an Ingot manifest (or not one this version reads).
        case unreadable(path: String, detail: String)

        public var description: String {
            switch self {
            case .missing(let path):
                return "\(path): no such manifest; run 'ingot build' for this spec and board first"
            case .unreadable(let path, let detail):
                return "\(path): not a readable Ingot manifest (\(detail)); rebuild the image"
            }
        }
    }

    /// Reads a manifest.
    /// - Throws: `BuildManifest.Error`.
    public static func load(path: String) throws -> BuildManifest {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw FileManager.default.fileExists(atPath: path)
                ? Error.unreadable(path: path, detail: "cannot read it") : Error.missing(path: path)
        }
        do {
            return try JSONDecoder().decode(BuildManifest.self, from: data)
        } catch let error as DecodingError {
            throw Error.unreadable(path: path, detail: Self.explain(error))
        } catch {
            throw Error.unreadable(path: path, detail: "\(error)")
        }
    }

    /// A decoding error in words: the JSON path and what was wrong there.
    static func explain(_ error: DecodingError) -> String {
        func at(_ path: [CodingKey]) -> String {
            guard !path.isEmpty else { return "the top level" }
            return path.reduce("") { text, key in
                if let index = key.intValue { return text + "[\(index)]" }
                return text.isEmpty ? key.stringValue : text + "." + key.stringValue
            }
        }
        switch error {
        case .dataCorrupted(let c): return "not JSON or a bad value at \(at(c.codingPath)): \(c.debugDescription)"
        case .keyNotFound(let key, let c): return "'\(key.stringValue)' is missing at \(at(c.codingPath))"
        case .typeMismatch(_, let c), .valueNotFound(_, let c):
            return "unexpected value at \(at(c.codingPath)): \(c.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    /// The outputs with `role`, in the order the build wrote them.
    public func outputs(_ role: ArtifactRole) -> [OutputRecord] { outputs.filter { $0.role == role } }

    /// sha256 of a file, streamed (IngotSystem's streaming sha256).
    public static func sha256(ofFile path: String) throws -> String {
        do { return try SHA256Stream.hex(ofFile: path) } catch {
            throw ComposeError(location: nil, message: "\(path): cannot hash: \(error)")
        }
    }

    /// sha256 of the next `count` bytes of an open file.
    public static func sha256(reading h: FileHandle, count: Int64) throws -> String {
        try SHA256Stream.hex(reading: h, count: count)
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
