// The buffers that carry image data from the one reader to every target: a fixed pool of aligned
// chunks, each shared by all live targets and returned when the last one has written it. The
// reader blocks when every chunk is in flight, so memory stays at pool size whatever the image.

import Foundation

/// A contiguous run of image bytes at `offset`, in an aligned buffer.
// @unchecked: the reader fills `offset`/`length`/bytes before handing the chunk out under a lock; `pending` is used only under the pool's `cond`.
final class Chunk: @unchecked Sendable {
    let buffer: AlignedBuffer
    var offset: Int64 = 0
    var length = 0
    /// Targets still to write it (guarded by the pool's lock).
    fileprivate var pending = 0

    init(capacity: Int) { buffer = AlignedBuffer(capacity: capacity) }
}

/// What a target's writer does next.
enum WorkItem {
    case data(Chunk)
    case zero(offset: Int64, length: Int64)
}

/// A fixed set of chunks.
// @unchecked: `free` and each chunk's `pending` are used only under `cond` (`take()` waits on it; Mutex has no condition variable).
final class ChunkPool: @unchecked Sendable {
    private let cond = NSCondition()
    private var free: [Chunk]
    let chunkSize: Int

    init(count: Int, chunkSize: Int) {
        self.chunkSize = chunkSize
        free = (0..<count).map { _ in Chunk(capacity: chunkSize) }
    }

    /// A free chunk (waits for one).
    func take() -> Chunk {
        cond.lock()
        defer { cond.unlock() }
        while free.isEmpty { cond.wait() }
        return free.removeLast()
    }

    /// Hands `chunk` to `count` targets (0 returns it at once).
    func share(_ chunk: Chunk, with count: Int) {
        cond.lock()
        chunk.pending = count
        if count == 0 {
            free.append(chunk)
            cond.signal()
        }
        cond.unlock()
    }

    /// One target is done with `chunk`.
    func release(_ chunk: Chunk) {
        cond.lock()
        chunk.pending -= 1
        if chunk.pending == 0 {
            free.append(chunk)
            cond.signal()
        }
        cond.unlock()
    }
}
