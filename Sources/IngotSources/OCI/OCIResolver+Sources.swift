// The three containers of OCI/docker images: an OCI layout directory, an OCI archive (a tar of
// a layout) and a `docker save` archive. Archives are streamed entry by entry into the store;
// blobs named by digest are verified on the way in.

import Foundation
import IngotSpec
import IngotTree

#if canImport(Glibc)
    import Glibc
#endif

extension OCIResolver {
    /// `oci-layout:PATH[:TAG]`.
    func layout(at path: String, tag: String?) throws -> ResolvedImage {
        let source = "oci-layout \(path)"
        let data: Data
        do {
            data = try RegularFile.contents(path + "/index.json", limit: 16 << 20)
        } catch let error as RegularFile.Error {
            if access(path + "/index.json", F_OK) != 0 { throw Error.missing(source: source, what: "index.json") }
            throw Error.notRegular(source: source, what: "index.json", reason: error.reason)
        }
        let index = try decode(OCI.Index.self, data, source: source, what: "index.json")
        let fetch: Fetch = { desc in
            let digest = try Digest(parsing: desc.digest)
            let file = "\(path)/blobs/sha256/\(digest.hex)"
            var st = stat()
            guard stat(file, &st) == 0 else { throw Error.missing(source: source, what: "blob \(desc.digest)") }
            guard st.st_mode & S_IFMT == S_IFREG else {
                throw Error.notRegular(
                    source: source, what: "blob \(desc.digest)", reason: RegularFile.kind(st.st_mode))
            }
            guard Int64(st.st_size) == desc.size else {
                throw Error.sizeMismatch(
                    source: source, digest: desc.digest, expected: desc.size, actual: Int64(st.st_size))
            }
            if store.contains(digest) {
                let actual = try Digest.of(fileAt: file)
                guard actual == digest else {
                    throw ContentStore.Error.mismatch(source: file, expected: digest, actual: actual)
                }
                return digest
            }
            return try store.put(fileAt: file, expected: digest)
        }
        return try resolve(
            index: index, tag: tag, fetch: fetch, source: source, name: (path as NSString).lastPathComponent)
    }

    /// `oci-archive:PATH`: a tar whose entries are an OCI layout.
    func ociArchive(at path: String) throws -> ResolvedImage {
        let source = "oci-archive \(path)"
        var index: Data?
        var stored: [Digest: Int64] = [:]
        try readArchive(path) { reader, entry, name in
            if name == "index.json" {
                index = Data(try reader.readAll(limit: 16 << 20))
            } else if name.hasPrefix("blobs/sha256/"), let expected = try? Digest(parsing: String(name.dropFirst(13))) {
                try store.put(source: "\(path) (\(name))", expected: expected) { sink in
                    try reader.readData { try sink.write($0) }
                }
                stored[expected] = entry.size
            } else {
                try reader.skipData()
            }
        }
        guard let index else { throw Error.missing(source: source, what: "index.json") }
        let parsed = try decode(OCI.Index.self, index, source: source, what: "index.json")
        let fetch: Fetch = { desc in
            let digest = try Digest(parsing: desc.digest)
            guard let size = stored[digest] else { throw Error.missing(source: source, what: "blob \(desc.digest)") }
            guard size == desc.size else {
                throw Error.sizeMismatch(source: source, digest: desc.digest, expected: desc.size, actual: size)
            }
            return digest
        }
        return try resolve(
            index: parsed, tag: nil, fetch: fetch, source: source, name: (path as NSString).lastPathComponent)
    }

    /// `docker-archive:PATH`: `docker save` output (manifest.json + config + layer tars).
    func dockerArchive(at path: String) throws -> ResolvedImage {
        let source = "docker-archive \(path)"
        var files: [String: Digest] = [:]
        var manifestData: Data?
        try readArchive(path) { reader, entry, name in
            guard entry.kind == .file else { return try reader.skipData() }
            if name == "manifest.json" {
                manifestData = Data(try reader.readAll(limit: 16 << 20))
                return
            }
            // Newer docker writes blobs/sha256/<hex>; older writes <hex>.json configs.
            var expected: Digest?
            if name.hasPrefix("blobs/sha256/") { expected = try? Digest(parsing: String(name.dropFirst(13))) }
            if name.hasSuffix(".json"), !name.contains("/") {
                expected = try? Digest(parsing: String(name.dropLast(5)))
            }
            files[name] = try store.put(source: "\(path) (\(name))", expected: expected) { sink in
                try reader.readData { try sink.write($0) }
            }
        }
        guard let manifestData else { throw Error.missing(source: source, what: "manifest.json") }
        let entries = try decode([OCI.DockerManifestEntry].self, manifestData, source: source, what: "manifest.json")
        var seen: [String] = []
        for image in entries {
            guard let configDigest = files[clean(image.config)] else {
                throw Error.missing(source: source, what: "config \(image.config)")
            }
            let config = try decode(
                OCI.ImageConfigFile.self, try store.bytes(of: configDigest), source: source, what: image.config)
            seen.append("\(config.os ?? "?")/\(config.architecture ?? "?")")
            guard config.architecture == nil || config.architecture == arch.debian else { continue }
            var layers: [Layer] = []
            let diffIDs = config.rootfs?.diffIDs ?? []
            for (i, name) in image.layers.enumerated() {
                guard let digest = files[clean(name)] else {
                    throw Error.missing(source: source, what: "layer \(name)")
                }
                let blob = try store.path(for: digest)
                // An uncompressed layer's digest is its diff_id; a mismatch means a damaged layer.
                if i < diffIDs.count, !isCompressed(blob), let diffID = try? Digest(parsing: diffIDs[i]),
                    diffID != digest
                {
                    throw ContentStore.Error.mismatch(source: "\(path) (\(name))", expected: diffID, actual: digest)
                }
                layers.append(
                    Layer(
                        source: .archive(path: blob, digest: digest),
                        origin: "\(source) layer \(i + 1)/\(image.layers.count) \(digest.hex.prefix(12))"))
            }
            let tag = image.repoTags?.first
            return ResolvedImage(
                layers: layers, config: config.imageConfig,
                inputs: [
                    InputRecord(
                        name: tag ?? (path as NSString).lastPathComponent, version: nil,
                        arch: config.architecture ?? arch.debian, sha256: configDigest.hex, origin: source)
                ])
        }
        throw Error.noManifest(source: source, arch: arch.debian, tag: nil, available: seen)
    }

    private func clean(_ name: String) -> String {
        var n = name
        while n.hasPrefix("./") { n.removeFirst(2) }
        while n.hasPrefix("/") { n.removeFirst() }
        return n
    }

    private func isCompressed(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        let magic = [UInt8](h.readData(ofLength: 4))
        return magic.starts(with: [0x1f, 0x8b]) || magic.starts(with: [0x28, 0xb5, 0x2f, 0xfd])
            || magic.starts(with: [0xfd, 0x37, 0x7a, 0x58]) || magic.starts(with: [0x42, 0x5a, 0x68])
    }

    /// Streams every entry of a tar; ArchiveErrors keep the user's file name.
    private func readArchive(_ path: String, _ body: (ArchiveReader, ArchiveEntry, String) throws -> Void) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw SourceResolver.SourceError.notFound(kind: "archive", path: path)
        }
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw SourceResolver.SourceError.unreadableArchive(
                path: path,
                detail: "it is \(RegularFile.kind(st.st_mode)), not a regular file; name the archive file itself")
        }
        try ArchiveProbe.check(path, as: .tar)
        let reader = try ArchiveReader(path: path, formats: .tar)
        var count = 0
        while let entry = try reader.next() {
            count += 1
            try body(reader, entry, clean(entry.path))
        }
        if count == 0 {
            throw SourceResolver.SourceError.unreadableArchive(
                path: path, detail: "the archive has no entries; it is empty or truncated. Re-create it.")
        }
    }
}
