// Blob transfer: streamed from the socket straight to a file while hashing (never held in memory),
// resumed with a Range request when an earlier attempt left part of it, restarted when the
// registry ignores the range, and refused (file removed) when size or sha256 disagree.

import AsyncHTTPClient
import Crypto
import Foundation
import IngotSpec
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

extension RegistryClient {
    /// Downloads one blob into `path`, resuming what an earlier attempt left there.
    ///
    /// On success `path` holds exactly the blob (verified size and sha256). When the transfer
    /// breaks, the bytes received stay in `path` for the next attempt; when the content is wrong,
    /// `path` is removed.
    /// - Parameters:
    ///   - descriptor: the blob's digest and size.
    ///   - reference: the image it belongs to (its repository is where the blob is asked for).
    ///   - path: the partial file.
    /// - Returns: the bytes received over the network in this call.
    @discardableResult
    public func download(_ descriptor: RegistryDescriptor, of reference: RegistryReference, to path: String)
        async throws -> Int64
    {
        if options.offline { throw RegistryError.offline(reference: reference.familiar) }
        let what = "blob \(descriptor.digest.prefix(19))… of \(reference.familiar)"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RegistryError.io(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        // Two builds pulling the same blob take turns; the second finds it complete.
        while flock(fd, LOCK_EX) != 0, errno == EINTR {}

        // What an earlier attempt left: hash it so the digest covers the whole blob.
        var hasher = SHA256()
        var have = try Self.hashExisting(fd: fd, into: &hasher, path: path)
        if have > descriptor.size {
            try Self.truncate(fd, path: path)
            hasher = SHA256()
            have = 0
        }
        if have == descriptor.size {
            try finish(hasher, descriptor: descriptor, what: what, path: path)
            return 0
        }

        var headers: [(String, String)] = []
        if have > 0 { headers.append(("Range", "bytes=\(have)-")) }
        let blobPath = "/v2/\(reference.repository)/blobs/\(descriptor.digest)"
        let (response, base) = try await get(blobPath, reference: reference, headers: headers)
        switch response.status.code {
        case 200:
            if have > 0 {
                // The registry ignored the range: start over.
                try Self.truncate(fd, path: path)
                hasher = SHA256()
                have = 0
            }
        case 206:
            let range = response.headers.first(name: "Content-Range") ?? ""
            guard range.hasPrefix("bytes \(have)-") else {
                _ = try? await response.body.collect(upTo: 0)
                try Self.truncate(fd, path: path)
                throw RegistryError.interrupted(
                    what: what, received: 0, expected: descriptor.size,
                    detail: "the registry answered the wrong range '\(range)'")
            }
        case 404:
            throw RegistryError.status(
                url: base + blobPath, code: 404, body: "the manifest names a blob the registry does not have")
        default:
            let body = (try? await collect(response, limit: 1 << 12, what: what)) ?? []
            throw RegistryError.status(
                url: base + blobPath, code: Int(response.status.code),
                body: String(decoding: body.prefix(300), as: UTF8.self))
        }
        guard lseek(fd, off_t(have), SEEK_SET) >= 0 else {
            throw RegistryError.io(path: path, reason: String(cString: strerror(errno)))
        }
        var received: Int64 = 0
        do {
            for try await buffer in response.body {
                try Task.checkCancellation()
                let count = Int64(buffer.readableBytes)
                if have + received + count > descriptor.size {
                    unlink(path)
                    throw RegistryError.sizeMismatch(
                        what: what, expected: descriptor.size, actual: have + received + count)
                }
                try buffer.withUnsafeReadableBytes { bytes in
                    hasher.update(bufferPointer: bytes)
                    try Self.writeAll(fd, bytes, path: path)
                }
                received += count
            }
        } catch let error as RegistryError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw RegistryError.interrupted(
                what: what, received: have + received, expected: descriptor.size, detail: Self.explain(error))
        }
        guard have + received == descriptor.size else {
            throw RegistryError.interrupted(
                what: what, received: have + received, expected: descriptor.size, detail: "the connection ended early")
        }
        guard fsync(fd) == 0 else { throw RegistryError.io(path: path, reason: String(cString: strerror(errno))) }
        try finish(hasher, descriptor: descriptor, what: what, path: path)
        return received
    }

    /// Downloads several blobs, at most `options.parallelDownloads` at a time.
    /// - Parameters:
    ///   - blobs: the descriptors.
    ///   - reference: the image.
    ///   - destination: the partial file for each blob.
    ///   - completed: called with each blob once its file is complete and verified.
    /// - Returns: bytes received over the network.
    @discardableResult
    public func download(
        _ blobs: [RegistryDescriptor], of reference: RegistryReference,
        destination: @escaping @Sendable (RegistryDescriptor) -> String,
        completed: @escaping @Sendable (RegistryDescriptor, String) throws -> Void
    ) async throws -> Int64 {
        let limit = options.parallelDownloads
        return try await withThrowingTaskGroup(of: Int64.self) { group in
            var pending = blobs[...]
            var total: Int64 = 0
            func startNext() {
                guard let next = pending.popFirst() else { return }
                group.addTask {
                    let path = destination(next)
                    let n = try await self.download(next, of: reference, to: path)
                    try completed(next, path)
                    return n
                }
            }
            for _ in 0..<limit { startNext() }
            while let n = try await group.next() {
                total += n
                startNext()
            }
            return total
        }
    }

    private func finish(_ hasher: SHA256, descriptor: RegistryDescriptor, what: String, path: String) throws {
        let actual = "sha256:" + hasher.finalize().map { String(format: "%02x", $0) }.joined()
        guard actual == descriptor.digest else {
            unlink(path)
            throw RegistryError.digestMismatch(what: what, expected: descriptor.digest, actual: actual)
        }
    }

    static func hashExisting(fd: Int32, into hasher: inout SHA256, path: String) throws -> Int64 {
        var buffer = [UInt8](repeating: 0, count: 1 << 18)
        var total: Int64 = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return total }
            if n < 0 {
                if errno == EINTR { continue }
                throw RegistryError.io(path: path, reason: String(cString: strerror(errno)))
            }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            total += Int64(n)
        }
    }

    static func truncate(_ fd: Int32, path: String) throws {
        guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
            throw RegistryError.io(path: path, reason: String(cString: strerror(errno)))
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw RegistryError.io(path: path, reason: String(cString: strerror(errno)))
            }
            offset += n
        }
    }
}
