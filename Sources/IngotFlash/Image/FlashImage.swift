// The image to flash: its compression (by magic bytes, never by name), its size, its bmap
// (given, found beside it, or none) and the digest a build manifest recorded for it. A
// compressed image without a bmap or manifest is sized by one decompressing pass before anything
// is written, so the size check never depends on a device running out of space.

import Foundation
import IngotContract
import IngotDisk
import IngotTree

#if canImport(Glibc)
    import Glibc
#endif

/// How the image file is compressed.
public enum ImageCompression: String, Codable, Sendable {
    case none, gzip, xz, zstd, bzip2

    /// By the file's first bytes.
    static func detect(_ head: [UInt8]) -> ImageCompression {
        func starts(_ magic: [UInt8]) -> Bool { head.count >= magic.count && Array(head.prefix(magic.count)) == magic }
        if starts([0x1f, 0x8b]) { return .gzip }
        if starts([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) { return .xz }
        if starts([0x28, 0xb5, 0x2f, 0xfd]) { return .zstd }
        if starts([0x42, 0x5a, 0x68]) { return .bzip2 }
        return .none
    }

    /// File name suffixes bmaptool strips when looking for a bmap beside a compressed image.
    static let suffixes = [".gz", ".xz", ".zst", ".zstd", ".bz2", ".tgz"]
}

/// An image and what is known about it before writing.
public struct FlashImage: Sendable, Codable {
    public enum Error: Swift.Error, CustomStringConvertible {
        case open(String, String)
        case empty(String)
        case bmapSize(image: String, bmap: String, imageSize: Int64, bmapSize: Int64)
        case bmap(String)
        case manifestSize(image: String, manifest: String, imageSize: Int64, recorded: Int64)
        case decompress(String, String)

        public var description: String {
            switch self {
            case .open(let p, let why): return "\(p): cannot read the image: \(why)"
            case .empty(let p): return "\(p): the image is empty; rebuild it"
            case .bmapSize(let i, let b, let s, let bs):
                return "\(b): describes a \(bs)-byte image but \(i) is \(s) bytes; use the bmap built with this image, "
                    + "or --no-bmap"
            case .bmap(let why): return why
            case .manifestSize(let i, let m, let s, let r):
                return "\(i): is \(s) bytes but \(m) recorded \(r); the image is not the one that build wrote"
            case .decompress(let p, let why):
                return "\(p): the compressed image is corrupt or truncated (\(why)); download or build it again"
            }
        }
    }

    /// The path given.
    public var path: String
    public var compression: ImageCompression
    /// Uncompressed size in bytes.
    public var size: Int64
    /// Where `size` came from (`file`, `bmap`, `manifest`, `decompressed`).
    public var sizeSource: String
    /// The bmap path, if one is used.
    public var bmapPath: String?
    /// The parsed bmap.
    public var bmap: BmapSummary?
    /// sha256 of the uncompressed image from the build manifest beside it.
    public var manifestDigest: String?
    public var manifestPath: String?

    enum CodingKeys: String, CodingKey {
        case path, compression, size, sizeSource, bmapPath, manifestDigest, manifestPath
    }

    /// Bytes that will be written (the mapped bytes with a bmap, else the whole image).
    public var writeBytes: Int64 {
        guard let bmap else { return size }
        return bmap.ranges.reduce(0) { $0 + rangeBytes($1, bmap: bmap) }
    }

    /// Byte length of a bmap range, clipped to the image.
    func rangeBytes(_ r: BmapRange, bmap: BmapSummary) -> Int64 {
        let bs = Int64(bmap.blockSize)
        return min((r.last + 1) * bs, size) - r.first * bs
    }

    /// Opens the description of `path`.
    /// - Parameters:
    ///   - path: the image (raw, .gz, .xz, .zst).
    ///   - bmap: an explicit bmap path; nil looks beside the image.
    ///   - useBmap: false ignores every bmap (`--no-bmap`).
    public static func open(_ path: String, bmap explicit: String? = nil, useBmap: Bool = true) throws -> FlashImage {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Error.open(path, String(cString: strerror(errno))) }
        var st = stat()
        fstat(fd, &st)
        var head = [UInt8](repeating: 0, count: 8)
        let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 8, 0) }
        close(fd)
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw Error.open(path, "not a regular file") }
        guard st.st_size > 0 else { throw Error.empty(path) }
        let compression = ImageCompression.detect(Array(head.prefix(max(0, n))))

        var image = FlashImage(
            path: path, compression: compression, size: Int64(st.st_size), sizeSource: "file", bmapPath: nil,
            bmap: nil, manifestDigest: nil, manifestPath: nil)
        if useBmap, let bmapPath = explicit ?? findBmap(beside: path) {
            let summary: BmapSummary
            do { summary = try BmapReader.read(contentsOf: bmapPath) } catch { throw Error.bmap("\(error)") }
            image.bmapPath = bmapPath
            image.bmap = summary
            if compression == .none, summary.imageSize != image.size {
                throw Error.bmapSize(image: path, bmap: bmapPath, imageSize: image.size, bmapSize: summary.imageSize)
            }
            if compression != .none {
                image.size = summary.imageSize
                image.sizeSource = "bmap"
            }
        }
        if let (manifest, record) = ManifestRecord.find(beside: path) {
            image.manifestPath = manifest
            image.manifestDigest = record.sha256
            if compression == .none, record.size != image.size {
                throw Error.manifestSize(image: path, manifest: manifest, imageSize: image.size, recorded: record.size)
            }
            if compression != .none, image.sizeSource == "file" {
                image.size = record.size
                image.sizeSource = "manifest"
            }
        }
        if compression != .none, image.sizeSource == "file" {
            image.size = try decompressedSize(path)
            image.sizeSource = "decompressed"
        }
        return image
    }

    /// `IMG.bmap`, then (for `IMG.img.xz`) `IMG.img.bmap`, then `IMG.bmap` without `.img`.
    static func findBmap(beside path: String) -> String? {
        var candidates = [path + ".bmap"]
        var base = path
        for s in ImageCompression.suffixes where base.hasSuffix(s) {
            base.removeLast(s.count)
            candidates.append(base + ".bmap")
        }
        if base.hasSuffix(".img") { candidates.append(String(base.dropLast(4)) + ".bmap") }
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// Decompresses once, counting bytes (a compressed image with no bmap or manifest).
    static func decompressedSize(_ path: String) throws -> Int64 {
        var total: Int64 = 0
        do {
            let reader = try ArchiveReader(path: path, formats: .raw)
            guard try reader.next() != nil else { throw Error.decompress(path, "no data") }
            try reader.readData { total += Int64($0.count) }
        } catch let e as Error {
            throw e
        } catch {
            throw Error.decompress(path, Self.archiveMessage(error))
        }
        guard total > 0 else { throw Error.empty(path) }
        return total
    }

    /// libarchive's own message, without ArchiveError's advice about tar formats.
    static func archiveMessage(_ error: Swift.Error) -> String {
        if let e = error as? ArchiveError { return e.message }
        return "\(error)"
    }
}

/// The disk image's record in a build manifest (`NAME-BOARD.manifest.json` beside the image).
struct ManifestRecord: Decodable {
    var name: String
    var role: String
    var size: Int64
    var sha256: String

    private struct Manifest: Decodable { var outputs: [ManifestRecord] }

    /// The manifest beside `image` and its `disk-raw` output record, when both exist.
    static func find(beside image: String) -> (String, ManifestRecord)? {
        var base = image
        for s in ImageCompression.suffixes where base.hasSuffix(s) { base.removeLast(s.count) }
        guard base.hasSuffix(".img") else { return nil }
        let manifest = String(base.dropLast(4)) + ".manifest.json"
        guard let data = FileManager.default.contents(atPath: manifest),
            let decoded = try? JSONDecoder().decode(Manifest.self, from: data)
        else { return nil }
        let name = (base as NSString).lastPathComponent
        guard let record = decoded.outputs.first(where: { $0.role == ArtifactRole.diskRaw.rawValue && $0.name == name })
        else { return nil }
        return (manifest, record)
    }
}
