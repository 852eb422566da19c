// The content-addressed store: blobs under `blobs/sha256/<hex>`, written through a temp file and
// an atomic rename so separate processes can share one cache, and re-hashed on every read.

import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A content-addressed blob store shared by builds (and processes) on one machine.
///
/// Writes go to `tmp/` in the same directory tree and are renamed into place, so two builds
/// storing the same content both succeed and no reader ever sees a partial blob. Reads verify
/// the sha256 every time: a damaged blob is removed and reported instead of being used.
public actor ContentStore {
    /// Store failures; each says which blob or file, and what to do.
    public enum Error: Swift.Error, CustomStringConvertible {
        case cannotCreate(path: String, reason: String)
        case missing(Digest, path: String)
        case corrupt(path: String, expected: Digest, actual: Digest)
        case mismatch(source: String, expected: Digest, actual: Digest)
        case io(path: String, reason: String)
        case noSpace(path: String)

        public var description: String {
            switch self {
            case .cannotCreate(let path, let reason):
                return "cannot create the cache directory \(path): \(reason). "
                    + "Set INGOT_CACHE to a writable directory."
            case .missing(let d, let path):
                return "blob \(d) is not in the cache (\(path)); rerun the build to fetch it again"
            case .corrupt(let path, let expected, let actual):
                return "cached blob \(path) is corrupt: expected \(expected), found \(actual). "
                    + "It has been removed; rerun the build to fetch it again."
            case .mismatch(let source, let expected, let actual):
                return "\(source): content digest is \(actual) but \(expected) was expected. "
                    + "The source is corrupt or was modified; re-download or re-create it."
            case .io(let path, let reason):
                return "cache I/O failed on \(path): \(reason)"
            case .noSpace(let path):
                return "the cache is full: no space left on the filesystem holding \(path). Free space there, or point "
                    + "INGOT_CACHE (or --cache) at a filesystem with room; nothing was wrong with the download itself."
            }
        }
    }

    /// The store's root directory.
    public nonisolated let root: String
    private nonisolated let logger: Logger?
    /// Shared hold on the store for this value's lifetime (ContentStore+Lease.swift).
    private nonisolated let lease: StoreLease?

    /// Opens (creating if needed) a store.
    /// - Parameters:
    ///   - root: the directory; default `ContentStore.defaultRoot()`.
    ///   - logger: optional logger for debug messages.
    public init(root: String? = nil, logger: Logger? = nil) throws {
        let dir = root ?? ContentStore.defaultRoot()
        self.root = dir
        self.logger = logger
        for sub in ["blobs/sha256", "refs", "tmp"] {
            try ContentStore.makeDirectory(dir + "/" + sub)
        }
        self.lease = try StoreLease.take(root: dir, exclusive: false)
        // After the lease: a prune (exclusive) is over by now, and what remains in tmp/ with a dead
        // writer's PID is ours to clean.
        ContentStore.removeLeftovers(in: dir + "/tmp", logger: logger)
    }

    /// Removes what dead builds left in `tmp/`: every temporary name carries its writer's PID
    /// (`blob-PID-…`, `apt-PID-…`, `ref-PID-…`); an entry whose PID no longer runs is garbage. A
    /// name without a PID (older Ingot) is removed once it is a day old.
    static func removeLeftovers(in tmp: String, logger: Logger?) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: tmp) else { return }
        for name in names {
            let parts = name.split(separator: "-")
            let path = tmp + "/" + name
            if parts.count >= 3, let pid = Int32(parts[1]) {
                guard pid > 0, pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            } else {
                var st = stat()
                guard lstat(path, &st) == 0, time(nil) - st.st_mtim.tv_sec > 86_400 else { continue }
            }
            if (try? FileManager.default.removeItem(atPath: path)) != nil {
                logger?.debug("removed \(path), left by a build that no longer runs")
            }
        }
    }

    /// `.noSpace` when the filesystem holding `path` (or its parent) has less than 1 MiB free:
    /// how a failed download into the cache is told apart from a network failure.
    nonisolated static func spaceError(_ path: String) -> Error? {
        var fs = statvfs()
        var probe = path
        while statvfs(probe, &fs) != 0 {
            let parent = (probe as NSString).deletingLastPathComponent
            guard parent != probe, !parent.isEmpty else { return nil }
            probe = parent
        }
        let free = UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
        return free < 1 << 20 ? .noSpace(path: path) : nil
    }

    /// An I/O error on `path`, or `.noSpace` when the filesystem is full (errno ENOSPC/EDQUOT).
    nonisolated static func ioError(_ path: String, errno code: Int32) -> Error {
        if code == ENOSPC || code == EDQUOT { return .noSpace(path: path) }
        return .io(path: path, reason: String(cString: strerror(code)))
    }

    /// `$INGOT_CACHE`, else `$XDG_CACHE_HOME/ingot`, else `~/.cache/ingot`; when that cannot be
    /// created (an unprivileged user with an unwritable or missing HOME) `$TMPDIR/ingot-cache-UID`.
    public static func defaultRoot(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        var candidates: [String] = []
        if let c = environment["INGOT_CACHE"], !c.isEmpty { return c }
        if let x = environment["XDG_CACHE_HOME"], !x.isEmpty { candidates.append(x + "/ingot") }
        if let h = environment["HOME"], !h.isEmpty { candidates.append(h + "/.cache/ingot") }
        for c in candidates {
            if (try? makeDirectory(c)) != nil, access(c, W_OK) == 0 { return c }
        }
        let tmp = environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return "\(tmp)/ingot-cache-\(getuid())"
    }

    static func makeDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw Error.cannotCreate(path: path, reason: error.localizedDescription)
        }
    }

    nonisolated func blobPath(_ digest: Digest) -> String { "\(root)/blobs/sha256/\(digest.hex)" }

    /// Whether the blob is present (not verified; `path(for:)` verifies).
    public nonisolated func contains(_ digest: Digest) -> Bool {
        access(blobPath(digest), F_OK) == 0
    }

    /// The path of a stored blob, after verifying its sha256. A mismatching blob is removed.
    public nonisolated func path(for digest: Digest) throws -> String {
        let path = blobPath(digest)
        guard access(path, F_OK) == 0 else { throw Error.missing(digest, path: path) }
        let actual = try Digest.of(fileAt: path)
        guard actual == digest else {
            unlink(path)
            logger?.warning("removed corrupt blob \(path): expected \(digest), found \(actual)")
            throw Error.corrupt(path: path, expected: digest, actual: actual)
        }
        return path
    }

    /// Reads a (small) blob into memory after verifying it.
    public nonisolated func bytes(of digest: Digest) throws -> Data {
        let path = try path(for: digest)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Error.io(path: path, reason: "cannot read")
        }
        return data
    }

    /// Copies a file into the store, hashing while copying.
    /// - Parameters:
    ///   - path: the file to store.
    ///   - expected: when given, the content must have this digest or nothing is stored.
    /// - Returns: the content's digest.
    @discardableResult
    public nonisolated func put(fileAt path: String, expected: Digest? = nil) throws -> Digest {
        // Regular files only, opened without blocking: a FIFO would hang, a device never end.
        let fd = try RegularFile.open(path)
        defer { close(fd) }
        return try put(source: path, expected: expected) { sink in
            var buf = [UInt8](repeating: 0, count: 1 << 18)
            while true {
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n == 0 { return }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Error.io(path: path, reason: String(cString: strerror(errno)))
                }
                try buf.withUnsafeBytes { try sink.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
        }
    }

    /// Stores in-memory bytes.
    @discardableResult
    public nonisolated func put(bytes: [UInt8], expected: Digest? = nil) throws -> Digest {
        try put(source: "in-memory data", expected: expected) { sink in
            try bytes.withUnsafeBytes { try sink.write($0) }
        }
    }

    /// Stores a stream: `body` writes blocks to the sink; they are hashed as they are written.
    /// - Parameters:
    ///   - source: names the origin in errors (a file path, an archive entry).
    ///   - expected: when given, the content must have this digest or nothing is stored.
    ///   - body: produces the content.
    @discardableResult
    public nonisolated func put(
        source: String, expected: Digest? = nil, _ body: (BlobSink) throws -> Void
    ) throws -> Digest {
        // The PID in the name lets the next run remove this file if the process dies first.
        var template = Array("\(root)/tmp/blob-\(getpid())-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw ContentStore.ioError(root + "/tmp", errno: errno) }
        let tmp = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var renamed = false
        defer {
            if !renamed { unlink(tmp) }
        }
        let sink = BlobSink(fd: fd, path: tmp)
        do {
            try body(sink)
            guard fsync(fd) == 0 else { throw ContentStore.ioError(tmp, errno: errno) }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        let digest = sink.hasher.finalize()
        if let expected, expected != digest {
            throw Error.mismatch(source: source, expected: expected, actual: digest)
        }
        fchmodat(AT_FDCWD, tmp, 0o644, 0)
        let dest = blobPath(digest)
        guard rename(tmp, dest) == 0 else { throw Error.io(path: dest, reason: String(cString: strerror(errno))) }
        renamed = true
        logger?.debug("stored \(digest) from \(source) (\(sink.hasher.count) bytes)")
        return digest
    }
}

/// Receives a blob's content block by block inside `ContentStore.put(source:expected:_:)`.
public final class BlobSink {
    fileprivate let fd: Int32
    fileprivate let path: String
    fileprivate var hasher = StreamingHasher()

    fileprivate init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    /// Appends bytes to the blob.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        hasher.update(bytes)
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw ContentStore.ioError(path, errno: errno)
            }
            off += n
        }
    }
}
