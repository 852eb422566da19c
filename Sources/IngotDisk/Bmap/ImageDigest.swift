// SHA-256 of byte ranges of a sparse image (the whole disk, each partition) for the manifest.
// A 20 GiB data partition is almost all hole: reading holes through the kernel cost more than a
// minute per pass, so holes (found with SEEK_DATA/SEEK_HOLE, which only ever reports bytes that
// read as zeros) are fed to the hasher from a zero buffer without a read. The digests are those
// of the bytes, whatever the host filesystem allocated. Ranges are hashed on up to two threads,
// largest first, and progress is reported for long passes.

import Crypto
import Foundation
import Synchronization
import IngotFilesystems

#if canImport(Glibc)
    import Glibc
#endif

/// Digests of parts of an image file.
public enum ImageDigest {
    /// The hex SHA-256 of each of `ranges` of the file at `path`, in order.
    /// - Parameters:
    ///   - path: the image.
    ///   - ranges: byte ranges to hash independently (e.g. the whole image and each partition).
    ///   - progress: called from a worker thread with (bytes hashed, bytes in all) at most every
    ///     few seconds during long passes.
    public static func sha256(
        path: String, ranges: [ByteRange], progress: (@Sendable (Int64, Int64) -> Void)? = nil
    ) throws -> [String] {
        let total = ranges.reduce(Int64(0)) { $0 + max(0, $1.size) }
        let order = ranges.indices.sorted { ranges[$0].size > ranges[$1].size }
        let state = SharedState(count: ranges.count)
        let workers = min(2, ranges.count)
        guard workers > 0 else { return [] }
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let index = state.nextJob(order) {
                do {
                    let digest = try hash(path: path, range: ranges[index]) { done in
                        if let report = state.advance(by: done, every: 3), let progress { progress(report, total) }
                    }
                    state.finish(index, .success(digest))
                } catch {
                    state.finish(index, .failure(error))
                }
            }
        }
        return try state.results()
    }

    /// One range, reading only the data regions.
    static func hash(path: String, range: ByteRange, advance: (Int64) -> Void) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ImageFile.Error.open(path, String(cString: strerror(errno))) }
        defer { close(fd) }
        var hasher = SHA256()
        let chunk = 1 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        let zeros = [UInt8](repeating: 0, count: chunk)
        var position = range.offset
        let end = range.end
        func feedZeros(_ count: Int64) {
            var left = count
            while left > 0 {
                let n = Int(min(Int64(chunk), left))
                zeros.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                left -= Int64(n)
                advance(Int64(n))
            }
        }
        while position < end {
            var data = Int64(lseek(fd, off_t(position), 3))  // SEEK_DATA
            if data < 0 {
                guard errno == ENXIO else { throw ImageFile.Error.io(path, String(cString: strerror(errno))) }
                data = end  // nothing but hole (or EOF, which reads as nothing: the range is inside the file)
            }
            data = min(data, end)
            if data > position {
                feedZeros(data - position)
                position = data
            }
            guard position < end else { break }
            var hole = Int64(lseek(fd, off_t(position), 4))  // SEEK_HOLE
            if hole < 0 { hole = end }
            hole = min(max(hole, position + 1), end)
            while position < hole {
                let want = Int(min(Int64(chunk), hole - position))
                let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(position)) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ImageFile.Error.io(path, String(cString: strerror(errno)))
                }
                if n == 0 {
                    // Past the end of the file: the rest reads as zeros.
                    feedZeros(end - position)
                    position = end
                    break
                }
                buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                position += Int64(n)
                advance(Int64(n))
            }
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Job queue, results and the progress counter shared by the workers.
    private final class SharedState: Sendable {
        private struct State {
            var next = 0
            var outcomes: [Result<String, Swift.Error>?]
            var done: Int64 = 0
            var lastReport = Date()
        }
        private let state: Mutex<State>

        init(count: Int) { state = Mutex(State(outcomes: Array(repeating: nil, count: count))) }

        func nextJob(_ order: [Int]) -> Int? {
            state.withLock { state in
                guard state.next < order.count else { return nil }
                state.next += 1
                return order[state.next - 1]
            }
        }

        func finish(_ index: Int, _ outcome: Result<String, Swift.Error>) {
            state.withLock { $0.outcomes[index] = outcome }
        }

        /// Adds `bytes`; returns the running total when a report is due (every `seconds`).
        func advance(by bytes: Int64, every seconds: Double) -> Int64? {
            state.withLock { state in
                state.done += bytes
                guard Date().timeIntervalSince(state.lastReport) >= seconds else { return nil }
                state.lastReport = Date()
                return state.done
            }
        }

        func results() throws -> [String] {
            try state.withLock { $0.outcomes }.map { outcome in
                guard let outcome else { throw ImageFile.Error.io("image", "a digest was not computed") }
                return try outcome.get()
            }
        }
    }
}
