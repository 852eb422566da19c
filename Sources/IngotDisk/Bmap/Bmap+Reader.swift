// bmap reader: parses a bmaptool 2.x bmap file, checks its BmapFileChecksum, and verifies an
// image (or a device written from it) against the range checksums. The flash code reuses it to
// know which blocks to copy and to verify the readback.

import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads and verifies bmap files.
public struct BmapReader {
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case read(String, String)
        case malformed(String, String)
        case unsupported(String, String)
        case fileChecksum(String, expected: String, actual: String)
        case imageSize(String, expected: Int64, actual: Int64)
        case rangeChecksum(String, first: Int64, last: Int64, expected: String, actual: String)

        public var description: String {
            switch self {
            case .read(let p, let why): return "\(p): cannot read bmap: \(why)"
            case .malformed(let p, let why): return "\(p): malformed bmap: \(why); regenerate it with `ingot build`"
            case .unsupported(let p, let why): return "\(p): unsupported bmap: \(why)"
            case .fileChecksum(let p, let e, let a):
                return "\(p): bmap file checksum mismatch (file says \(e), content hashes to \(a)); the bmap was "
                    + "edited or damaged — regenerate it"
            case .imageSize(let p, let e, let a):
                return "\(p): the bmap describes a \(e)-byte image but this one is \(a) bytes; use the matching image"
            case .rangeChecksum(let p, let f, let l, let e, let a):
                return "\(p): blocks \(f)-\(l) do not match the bmap (sha256 \(a), expected \(e)); the image or "
                    + "device content is corrupt — rebuild or rewrite it"
            }
        }
    }

    /// Parses the bmap at `path` and checks its own checksum.
    public static func read(contentsOf path: String) throws -> BmapSummary {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch { throw Error.read(path, "\(error)") }
        return try parse(text, path: path)
    }

    /// Parses bmap XML text (`path` is only used in errors).
    public static func parse(_ original: String, path: String = "<bmap>") throws -> BmapSummary {
        // Comments quote tag names (<MappedBlocksCount>), so elements are looked up without them;
        // the file checksum is still taken over the original text.
        let text = stripComments(original)
        guard let version = attribute("version", of: "bmap", in: text) else {
            throw Error.malformed(path, "no <bmap version=...> element")
        }
        guard version.hasPrefix("2.") else {
            throw Error.unsupported(path, "format version \(version); only 2.x is supported")
        }
        func value(_ tag: String) throws -> String {
            guard let v = element(tag, in: text) else { throw Error.malformed(path, "missing <\(tag)>") }
            return v
        }
        func int(_ tag: String) throws -> Int64 {
            guard let v = Int64(try value(tag)) else { throw Error.malformed(path, "<\(tag)> is not a number") }
            return v
        }
        let type = try value("ChecksumType").lowercased()
        guard type == "sha256" else { throw Error.unsupported(path, "checksum type \(type); only sha256 is supported") }
        let fileSum = try value("BmapFileChecksum").lowercased()
        guard fileSum.count == 64, let sumRange = original.range(of: fileSum) else {
            throw Error.malformed(path, "BmapFileChecksum is not a sha256")
        }
        let zeroed = original.replacingCharacters(in: sumRange, with: String(repeating: "0", count: 64))
        let actual = hex(SHA256.hash(data: Array(zeroed.utf8)))
        guard actual == fileSum else { throw Error.fileChecksum(path, expected: fileSum, actual: actual) }

        let blockSize = try int("BlockSize")
        guard blockSize > 0 else { throw Error.malformed(path, "BlockSize is \(blockSize)") }
        var ranges: [BmapRange] = []
        var rest = text[...]
        while let open = rest.range(of: "<Range") {
            guard let gt = rest[open.upperBound...].firstIndex(of: ">"),
                let close = rest[gt...].range(of: "</Range>")
            else { throw Error.malformed(path, "unterminated <Range>") }
            let attrs = String(rest[open.upperBound..<gt])
            let body = rest[rest.index(after: gt)..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            let parts = body.split(separator: "-").map { Int64($0.trimmingCharacters(in: .whitespaces)) }
            guard (1...2).contains(parts.count), let first = parts[0], let last = parts[parts.count - 1], first <= last
            else { throw Error.malformed(path, "bad range '\(body)'") }
            let sum = attribute("chksum", in: attrs)
            ranges.append(BmapRange(first: first, last: last, sha256: sum?.lowercased()))
            rest = rest[close.upperBound...]
        }
        let mapped = try int("MappedBlocksCount")
        let counted = ranges.reduce(Int64(0)) { $0 + $1.count }
        guard counted == mapped else {
            throw Error.malformed(path, "MappedBlocksCount says \(mapped) but the ranges hold \(counted) blocks")
        }
        return BmapSummary(
            imageSize: try int("ImageSize"), blockSize: Int(blockSize), blocksCount: try int("BlocksCount"),
            mappedBlocksCount: mapped, ranges: ranges, fileChecksum: fileSum)
    }

    /// Checks that `path` (an image, or a device written from it) holds the bmap's mapped data.
    /// - Parameter checkSize: require the file size to equal ImageSize (off for block devices,
    ///   which are usually larger than the image).
    public static func verify(_ bmap: BmapSummary, image path: String, checkSize: Bool = true) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Error.read(path, String(cString: strerror(errno))) }
        defer { close(fd) }
        if checkSize {
            var st = stat()
            if fstat(fd, &st) == 0, Int64(st.st_size) != bmap.imageSize {
                throw Error.imageSize(path, expected: bmap.imageSize, actual: Int64(st.st_size))
            }
        }
        let bs = Int64(bmap.blockSize)
        for r in bmap.ranges {
            guard let expected = r.sha256 else { continue }
            let actual: String
            do {
                actual = try BmapWriter.sha256(
                    fd: fd, path: path, from: r.first * bs, to: min((r.last + 1) * bs, bmap.imageSize))
            } catch { throw Error.read(path, "\(error)") }
            if actual != expected {
                throw Error.rangeChecksum(path, first: r.first, last: r.last, expected: expected, actual: actual)
            }
        }
    }

    static func hex<D: Sequence>(_ d: D) -> String where D.Element == UInt8 {
        d.map { String(format: "%02x", $0) }.joined()
    }

    static func stripComments(_ text: String) -> String {
        var out = ""
        var rest = text[...]
        while let open = rest.range(of: "<!--") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "-->") else { return out }
            rest = rest[close.upperBound...]
        }
        return out + rest
    }

    static func element(_ tag: String, in text: String) -> String? {
        guard let open = text.range(of: "<\(tag)>"),
            let close = text.range(of: "</\(tag)>", range: open.upperBound..<text.endIndex)
        else { return nil }
        return text[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func attribute(_ name: String, of tag: String, in text: String) -> String? {
        guard let open = text.range(of: "<\(tag) "), let gt = text[open.upperBound...].firstIndex(of: ">") else {
            return nil
        }
        return attribute(name, in: String(text[open.upperBound..<gt]))
    }

    static func attribute(_ name: String, in attrs: String) -> String? {
        guard let start = attrs.range(of: "\(name)=\"") else { return nil }
        guard let end = attrs[start.upperBound...].firstIndex(of: "\"") else { return nil }
        return String(attrs[start.upperBound..<end])
    }
}
