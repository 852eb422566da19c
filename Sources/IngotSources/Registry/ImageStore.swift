// Pulled images inside the content store: every image/architecture pair is a small OCI layout
// under `images/<reference>/<arch>/` (oci-layout, index.json, last-used) whose `blobs` is a
// symlink to the store's own `blobs/`, so the OCI layout resolver reads pulled images unchanged
// and no blob is stored twice. Partial downloads wait in `partial/` for a resume.

import Foundation
import IngotRegistry
import IngotSpec

#if canImport(Glibc)
    import Glibc
#endif

/// The image layouts of one content store.
public struct ImageStore: Sendable {
    /// One pulled (or imported) image for one architecture.
    public struct Entry: Sendable, Hashable {
        /// The canonical reference (`docker.io/library/alpine:3.19`).
        public var reference: String
        /// The Debian architecture it was pulled for.
        public var arch: String
        /// The layout directory.
        public var directory: String
        /// The platform manifest's digest.
        public var manifestDigest: String
        /// The index digest the tag pointed at, when it pointed at an index.
        public var indexDigest: String?
        /// Every blob the image uses (manifest, index, config, layers).
        public var blobs: [String]
        /// When a build last used it.
        public var lastUsed: Date?
    }

    static let referenceAnnotation = "io.ingot.reference"
    static let indexAnnotation = "io.ingot.index-digest"
    static let tagAnnotation = "org.opencontainers.image.ref.name"

    public let store: ContentStore
    public var root: String { store.root + "/images" }
    var partialRoot: String { store.root + "/partial" }

    /// Opens the image layouts of `store`.
    public init(store: ContentStore) {
        self.store = store
    }

    /// The layout directory of `reference` for `arch`.
    public func directory(for reference: String, arch: String) -> String {
        "\(root)/\(Self.encode(reference))/\(arch)"
    }

    /// Moves a complete, verified download into the store's blobs.
    func adopt(partial: String, hex: String) throws {
        let dest = "\(store.root)/blobs/sha256/\(hex)"
        chmod(partial, 0o644)
        guard rename(partial, dest) == 0 else {
            // Another pull of the same blob finished first and moved it.
            if errno == ENOENT, access(dest, F_OK) == 0 { return }
            throw ContentStore.Error.io(path: dest, reason: String(cString: strerror(errno)))
        }
    }

    /// Writes (atomically replaces) the layout of one pulled image.
    func write(_ pulled: PulledManifest, reference: RegistryReference, arch: String) throws -> String {
        let dir = directory(for: reference.description, arch: arch)
        try ContentStore.makeDirectory(dir)
        var descriptor = pulled.descriptor
        var annotations = descriptor.annotations ?? [:]
        annotations[Self.referenceAnnotation] = reference.description
        if let tag = reference.tag { annotations[Self.tagAnnotation] = tag }
        if let index = pulled.index { annotations[Self.indexAnnotation] = index.digest }
        descriptor.annotations = annotations
        descriptor.mediaType = descriptor.mediaType ?? pulled.manifest.mediaType
        try writeLayout(dir, manifests: [descriptor])
        return dir
    }

    /// Writes `oci-layout`, `index.json` and the `blobs` link of a layout directory.
    func writeLayout(_ dir: String, manifests: [RegistryDescriptor]) throws {
        struct Index: Encodable {
            var schemaVersion = 2
            var mediaType = RegistryMediaType.ociIndex
            var manifests: [RegistryDescriptor]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try replace("\(dir)/oci-layout", with: Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        let link = "\(dir)/blobs"
        var st = stat()
        if lstat(link, &st) != 0 {
            // images/<ref>/<arch>/blobs → ../../../blobs
            guard symlink("../../../blobs", link) == 0 || errno == EEXIST else {
                throw ContentStore.Error.io(path: link, reason: String(cString: strerror(errno)))
            }
        }
        try replace("\(dir)/index.json", with: try encoder.encode(Index(manifests: manifests)))
    }

    /// Marks an image as used now (for `ingot cache ls` and prune ordering).
    func touch(_ dir: String) {
        _ = try? replace("\(dir)/last-used", with: Data("\(Int(Date().timeIntervalSince1970))\n".utf8))
    }

    /// The entry at `dir`, when its layout is complete (index.json readable and every blob present).
    public func entry(at dir: String) -> Entry? {
        guard let data = FileManager.default.contents(atPath: dir + "/index.json"),
            let index = try? JSONDecoder().decode(LayoutIndex.self, from: data),
            let top = index.manifests.first,
            let manifestDigest = try? Digest(parsing: top.digest),
            let manifestData = try? store.bytes(of: manifestDigest),
            let manifest = try? JSONDecoder().decode(LayoutManifest.self, from: manifestData)
        else { return nil }
        var blobs = [top.digest, manifest.config.digest] + manifest.layers.map(\.digest)
        let indexDigest = top.annotations?[Self.indexAnnotation]
        if let indexDigest, let d = try? Digest(parsing: indexDigest), store.contains(d) { blobs.append(indexDigest) }
        for blob in blobs {
            guard let d = try? Digest(parsing: blob), store.contains(d) else { return nil }
        }
        let arch = (dir as NSString).lastPathComponent
        let reference =
            top.annotations?[Self.referenceAnnotation]
            ?? Self.decode((((dir as NSString).deletingLastPathComponent) as NSString).lastPathComponent)
        var lastUsed: Date?
        if let text = FileManager.default.contents(atPath: dir + "/last-used").flatMap({
            String(data: $0, encoding: .utf8)
        }),
            let seconds = TimeInterval(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            lastUsed = Date(timeIntervalSince1970: seconds)
        }
        return Entry(
            reference: reference, arch: arch, directory: dir, manifestDigest: top.digest, indexDigest: indexDigest,
            blobs: blobs, lastUsed: lastUsed)
    }

    /// Every image layout in the store (complete ones only), sorted by reference then arch.
    public func entries() -> [Entry] {
        let fm = FileManager.default
        var result: [Entry] = []
        for name in (try? fm.contentsOfDirectory(atPath: root)) ?? [] {
            for arch in (try? fm.contentsOfDirectory(atPath: "\(root)/\(name)")) ?? [] {
                if let e = entry(at: "\(root)/\(name)/\(arch)") { result.append(e) }
            }
        }
        return result.sorted { ($0.reference, $0.arch) < ($1.reference, $1.arch) }
    }

    /// Removes the layout directories of `reference` (all architectures); blobs stay until `prune`.
    /// - Returns: the entries removed.
    public func remove(reference: String) throws -> [Entry] {
        let matches = entries().filter { $0.reference == reference }
        for e in matches { try FileManager.default.removeItem(atPath: e.directory) }
        let parent = "\(root)/\(Self.encode(reference))"
        if (try? FileManager.default.contentsOfDirectory(atPath: parent))?.isEmpty == true {
            try? FileManager.default.removeItem(atPath: parent)
        }
        return matches
    }

    private func replace(_ path: String, with data: Data) throws {
        let tmp = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard FileManager.default.createFile(atPath: tmp, contents: data) else {
            throw ContentStore.Error.io(path: tmp, reason: "cannot write")
        }
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw ContentStore.Error.io(path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// References become one directory name: anything but `[A-Za-z0-9._-]` is percent-encoded.
    static func encode(_ reference: String) -> String {
        var out = ""
        for b in reference.utf8 {
            let c = Character(Unicode.Scalar(b))
            if c.isASCII && (c.isLetter || c.isNumber || "._-".contains(c)) && !(out.isEmpty && c == ".") {
                out.append(c)
            } else {
                out += String(format: "%%%02X", b)
            }
        }
        return out
    }

    static func decode(_ name: String) -> String {
        var bytes: [UInt8] = []
        var i = name.utf8.startIndex
        let u = name.utf8
        while i < u.endIndex {
            if u[i] == UInt8(ascii: "%"), let j = u.index(i, offsetBy: 3, limitedBy: u.endIndex),
                let b = UInt8(String(decoding: u[u.index(after: i)..<j], as: UTF8.self), radix: 16)
            {
                bytes.append(b)
                i = j
            } else {
                bytes.append(u[i])
                i = u.index(after: i)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    struct LayoutIndex: Decodable { var manifests: [RegistryDescriptor] }
    struct LayoutManifest: Decodable {
        var config: RegistryDescriptor
        var layers: [RegistryDescriptor]
    }
}
