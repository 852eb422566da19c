// Store maintenance behind `ingot cache`: sizes and last use of pulled images, `prune` (under the
// store's exclusive lease, so never beside a running build), and OCI archive import/export of the
// image layouts.

import Foundation
import IngotRegistry
import IngotSpec
import IngotTree

#if canImport(Glibc)
    import Glibc
#endif

extension ImageStore {
    /// Maintenance failures, naming the file or reference and what to do.
    public enum MaintenanceError: Swift.Error, CustomStringConvertible {
        case unknownReference(String, known: [String])
        case archiveWithoutReference(path: String)
        case notAnImage(path: String, reason: String)

        public var description: String {
            switch self {
            case .unknownReference(let ref, let known):
                return "no image \(ref) in the store; `ingot cache ls` lists them"
                    + (known.isEmpty ? " (the store holds none)" : " (e.g. \(known.prefix(3).joined(separator: ", ")))")
            case .archiveWithoutReference(let path):
                return "\(path) names no image reference (no io.containerd.image.name annotation); pass --ref NAME:TAG"
            case .notAnImage(let path, let reason):
                return
                    "\(path) is not an OCI image archive: \(reason). Create one with `skopeo copy docker://IMAGE oci-archive:FILE`"
            }
        }
    }

    /// The size of a blob in bytes (0 when missing).
    public func size(of digest: String) -> Int64 {
        guard let d = try? Digest(parsing: digest) else { return 0 }
        var st = stat()
        return stat(store.blobPath(d), &st) == 0 ? Int64(st.st_size) : 0
    }

    /// Bytes an image uses (each blob once).
    public func size(of entry: Entry) -> Int64 {
        Set(entry.blobs).reduce(Int64(0)) { $0 + size(of: $1) }
    }

    /// What `prune` removed.
    public struct PruneReport: Sendable {
        public var blobsRemoved: Int
        public var bytesFreed: Int64
        public var partialsRemoved: Int
        public var waitedForBuilds: Bool
    }

    /// Removes every blob no image layout, index record (`refs/`) or lock entry needs, and
    /// abandoned partial downloads. Waits (polling) while builds hold the store.
    /// - Parameters:
    ///   - lock: the firmware lock, whose pinned .debs are kept.
    ///   - dryRun: only count.
    public static func prune(root: String, lock: LockFile?, dryRun: Bool = false) async throws -> PruneReport {
        var waited = false
        var lease: StoreLease?
        while true {
            lease = try StoreLease.take(root: root, exclusive: true, wait: .fail)
            if lease != nil { break }
            waited = true
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        defer { withExtendedLifetime(lease) {} }
        let store = try ContentStore(root: root)
        let images = ImageStore(store: store)
        var keep = Set<String>()
        for entry in images.entries() { keep.formUnion(entry.blobs.map { String($0.dropFirst(7)) }) }
        // Incomplete layouts keep what they already have (a pull may complete them later).
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: images.root)) ?? [] {
            for arch in (try? fm.contentsOfDirectory(atPath: "\(images.root)/\(name)")) ?? [] {
                if let data = fm.contents(atPath: "\(images.root)/\(name)/\(arch)/index.json") {
                    keep.formUnion(hexDigests(in: data))
                }
            }
        }
        // Index records and the blobs their JSON names.
        let refs = root + "/refs"
        if let walker = fm.enumerator(atPath: refs) {
            for case let rel as String in walker {
                guard let data = fm.contents(atPath: "\(refs)/\(rel)") else { continue }
                for hex in hexDigests(in: data) where keep.insert(hex).inserted {
                    if images.size(of: "sha256:" + hex) < 1 << 20,
                        let record = fm.contents(atPath: "\(root)/blobs/sha256/\(hex)")
                    {
                        keep.formUnion(hexDigests(in: record))
                    }
                }
            }
        }
        for entry in lock?.packages ?? [] { keep.insert(entry.sha256.lowercased()) }
        // Manifests name their config and layers.
        for hex in keep {
            if images.size(of: "sha256:" + hex) < 4 << 20,
                let data = fm.contents(atPath: "\(root)/blobs/sha256/\(hex)"),
                data.first == UInt8(ascii: "{")
            {
                keep.formUnion(hexDigests(in: data))
            }
        }
        var report = PruneReport(blobsRemoved: 0, bytesFreed: 0, partialsRemoved: 0, waitedForBuilds: waited)
        for hex in (try? fm.contentsOfDirectory(atPath: root + "/blobs/sha256")) ?? [] where !keep.contains(hex) {
            report.blobsRemoved += 1
            report.bytesFreed += images.size(of: "sha256:" + hex)
            if !dryRun { unlink("\(root)/blobs/sha256/\(hex)") }
        }
        for dir in ["partial", "tmp"] {
            for name in (try? fm.contentsOfDirectory(atPath: "\(root)/\(dir)")) ?? [] {
                report.partialsRemoved += 1
                if !dryRun { try? fm.removeItem(atPath: "\(root)/\(dir)/\(name)") }
            }
        }
        return report
    }

    /// Every `sha256:<hex>` or bare 64-hex word in a JSON text.
    static func hexDigests(in data: Data) -> Set<String> {
        var found = Set<String>()
        var run: [UInt8] = []
        func flush() {
            if run.count == 64 { found.insert(String(decoding: run, as: UTF8.self)) }
            run.removeAll(keepingCapacity: true)
        }
        for b in data {
            if (48...57).contains(b) || (97...102).contains(b) {
                run.append(b)
            } else {
                flush()
            }
        }
        flush()
        return found
    }

    /// Writes the images of `reference` (every stored architecture) as an OCI archive.
    /// - Returns: the entries exported.
    public func export(reference: String, to path: String) throws -> [Entry] {
        let matches = entries().filter { $0.reference == reference || $0.reference == canonical(reference) }
        guard !matches.isEmpty else {
            throw MaintenanceError.unknownReference(reference, known: Array(Set(entries().map(\.reference))).sorted())
        }
        var descriptors: [RegistryDescriptor] = []
        var blobs: [String] = []
        for entry in matches {
            guard let data = FileManager.default.contents(atPath: entry.directory + "/index.json"),
                let index = try? JSONDecoder().decode(LayoutIndex.self, from: data), var top = index.manifests.first
            else { continue }
            var annotations = top.annotations ?? [:]
            annotations["io.containerd.image.name"] = entry.reference
            annotations[Self.indexAnnotation] = nil
            top.annotations = annotations
            if top.platform == nil {
                top.platform = .init(
                    architecture: RegistryPlatform.linux(debianArch: entry.arch).architecture, os: "linux", variant: nil
                )
            }
            descriptors.append(top)
            for blob in [entry.manifestDigest] + entry.blobs where !blobs.contains(blob) && blob != entry.indexDigest {
                blobs.append(blob)
            }
        }
        let tmp = path + ".tmp-\(getpid())"
        let writer = try ArchiveWriter(path: tmp, format: .paxRestricted, compression: .none)
        do {
            func file(_ name: String, _ bytes: [UInt8]) throws {
                try writer.writeHeader(path: name, mode: 0o100644, uid: 0, gid: 0, mtime: 0, size: Int64(bytes.count))
                try bytes.withUnsafeBytes { try writer.writeData($0) }
            }
            try file("oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
            struct Index: Encodable {
                var schemaVersion = 2
                var mediaType = RegistryMediaType.ociIndex
                var manifests: [RegistryDescriptor]
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            // One top-level entry (a nested index of every platform) so tools that want a single
            // image per archive (skopeo's oci-archive:) take it whole.
            let nested = Array(try encoder.encode(Index(manifests: descriptors)))
            let nestedDigest = Digest.of(nested)
            var top = RegistryDescriptor(
                mediaType: RegistryMediaType.ociIndex, digest: nestedDigest.description, size: Int64(nested.count))
            var annotations = ["io.containerd.image.name": matches[0].reference]
            if let tag = (try? RegistryReference.parse(matches[0].reference))?.tag {
                annotations[Self.tagAnnotation] = tag
            }
            top.annotations = annotations
            try file("index.json", Array(try encoder.encode(Index(manifests: [top]))))
            try writer.writeHeader(path: "blobs", mode: 0o040755, uid: 0, gid: 0, mtime: 0)
            try writer.writeHeader(path: "blobs/sha256", mode: 0o040755, uid: 0, gid: 0, mtime: 0)
            try file("blobs/sha256/\(nestedDigest.hex)", nested)
            for blob in blobs {
                let digest = try Digest(parsing: blob)
                let source = try store.path(for: digest)
                let size = self.size(of: blob)
                try writer.writeHeader(
                    path: "blobs/sha256/\(digest.hex)", mode: 0o100644, uid: 0, gid: 0, mtime: 0, size: size)
                let fd = open(source, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else {
                    throw ContentStore.Error.io(path: source, reason: String(cString: strerror(errno)))
                }
                defer { close(fd) }
                var buffer = [UInt8](repeating: 0, count: 1 << 18)
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n <= 0 { break }
                    try buffer.withUnsafeBytes { try writer.writeData(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                }
            }
            try writer.close()
        } catch {
            unlink(tmp)
            throw error
        }
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw ContentStore.Error.io(path: path, reason: String(cString: strerror(errno)))
        }
        return matches
    }

    /// Imports an OCI archive: stores its blobs (verified by name) and makes a layout for every
    /// linux platform manifest it holds.
    /// - Parameters:
    ///   - path: the archive (`skopeo copy … oci-archive:FILE`, `ingot cache export`).
    ///   - reference: the name to file it under; default the archive's `io.containerd.image.name`.
    /// - Returns: the entries created.
    public func importArchive(_ path: String, as reference: RegistryReference?) throws -> [Entry] {
        guard FileManager.default.fileExists(atPath: path) else {
            throw MaintenanceError.notAnImage(path: path, reason: "the file does not exist")
        }
        let reader: ArchiveReader
        do {
            reader = try ArchiveReader(path: path, formats: .tar)
        } catch {
            throw MaintenanceError.notAnImage(path: path, reason: "\(error)")
        }
        var indexData: Data?
        var stored = Set<String>()
        do {
            while let entry = try reader.next() {
                var name = entry.path
                while name.hasPrefix("./") { name.removeFirst(2) }
                if name == "index.json" {
                    indexData = Data(try reader.readAll(limit: 16 << 20))
                } else if name.hasPrefix("blobs/sha256/"), entry.kind == .file,
                    let expected = try? Digest(parsing: String(name.dropFirst(13)))
                {
                    if store.contains(expected) {
                        try reader.skipData()
                    } else {
                        try store.put(source: "\(path) (\(name))", expected: expected) { sink in
                            try reader.readData { try sink.write($0) }
                        }
                    }
                    stored.insert(expected.description)
                } else {
                    try reader.skipData()
                }
            }
        } catch let error as ContentStore.Error {
            throw error
        } catch {
            throw MaintenanceError.notAnImage(path: path, reason: "\(error)")
        }
        guard let indexData, let index = try? JSONDecoder().decode(LayoutIndex.self, from: indexData) else {
            throw MaintenanceError.notAnImage(path: path, reason: "no readable index.json")
        }
        var created: [Entry] = []
        func add(_ desc: RegistryDescriptor, named: RegistryReference, indexDigest: String?) throws {
            let type = desc.mediaType ?? RegistryMediaType.ociManifest
            if RegistryMediaType.indexes.contains(type) {
                let nested = try JSONDecoder().decode(
                    LayoutIndex.self, from: try store.bytes(of: try Digest(parsing: desc.digest)))
                for inner in nested.manifests { try add(inner, named: named, indexDigest: desc.digest) }
                return
            }
            guard RegistryMediaType.manifests.contains(type) else { return }
            let manifest = try JSONDecoder().decode(
                LayoutManifest.self, from: try store.bytes(of: try Digest(parsing: desc.digest)))
            var platform = desc.platform
            if platform == nil {
                let config = try? JSONDecoder().decode(
                    RegistryDescriptor.Platform.self,
                    from: try store.bytes(of: try Digest(parsing: manifest.config.digest)))
                platform = config
            }
            guard let platform, platform.os == "linux", let arch = Self.debianArch(platform) else { return }
            for blob in [desc.digest, manifest.config.digest] + manifest.layers.map(\.digest)
            where !stored.contains(blob) {
                guard let d = try? Digest(parsing: blob), store.contains(d) else {
                    throw MaintenanceError.notAnImage(path: path, reason: "blob \(blob) is missing")
                }
            }
            var entryDesc = desc
            entryDesc.platform = platform
            var annotations = desc.annotations ?? [:]
            annotations[Self.referenceAnnotation] = named.description
            if let tag = named.tag { annotations[Self.tagAnnotation] = tag }
            annotations["io.containerd.image.name"] = nil
            if let indexDigest { annotations[Self.indexAnnotation] = indexDigest }
            entryDesc.annotations = annotations
            let dir = directory(for: named.description, arch: arch)
            try ContentStore.makeDirectory(dir)
            try writeLayout(dir, manifests: [entryDesc])
            if let e = entry(at: dir) { created.append(e) }
        }
        for desc in index.manifests {
            let name =
                reference
                ?? (desc.annotations?["io.containerd.image.name"]).flatMap { try? RegistryReference.parse($0) }
            guard let name else { throw MaintenanceError.archiveWithoutReference(path: path) }
            try add(desc, named: name, indexDigest: nil)
        }
        guard !created.isEmpty else {
            throw MaintenanceError.notAnImage(path: path, reason: "it holds no linux image for amd64 or arm64")
        }
        return created
    }

    /// OCI platform → the Debian architecture boards use.
    static func debianArch(_ p: RegistryDescriptor.Platform) -> String? {
        switch p.architecture {
        case "amd64": return "amd64"
        case "arm64": return "arm64"
        case "arm": return p.variant == "v6" ? "armel" : "armhf"
        default: return nil
        }
    }

    /// `alpine:3.19` → `docker.io/library/alpine:3.19`; unparsable text stays as written.
    func canonical(_ text: String) -> String {
        (try? RegistryReference.parse(text).description) ?? text
    }
}
