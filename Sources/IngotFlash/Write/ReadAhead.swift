// Reading a target back while hashing what was read: one thread reads the ranges in order into a
// few aligned buffers (O_DIRECT when the handle has it) while the caller hashes the previous
// piece, so verification takes about as long as the slower of the two, not their sum.

import Foundation

/// Sequential reads of `ranges` from `handle`, delivered in order.
// @unchecked: every `var` is used only under `cond` (`next()`/`take()` wait on it; Mutex has no condition variable).
final class ReadAhead: @unchecked Sendable {
    struct Piece {
        var range: Int
        var offset: Int64
        var count: Int
        var buffer: AlignedBuffer
    }

    private let cond = NSCondition()
    private var ready: [Piece] = []
    private var free: [AlignedBuffer]
    private var failure: Swift.Error?
    private var finished = false
    private var stopped = false

    /// Starts reading.
    init(handle: TargetHandle, ranges: [ImageRange], bufferSize: Int, depth: Int = 3) {
        free = (0..<depth).map { _ in AlignedBuffer(capacity: bufferSize) }
        let thread = Thread { [self] in
            do {
                outer: for (i, r) in ranges.enumerated() {
                    var at = r.start
                    while at < r.end {
                        guard let buffer = take() else { break outer }
                        let n = Int(min(Int64(buffer.capacity), r.end - at))
                        do { try handle.read(into: buffer.pointer, count: n, at: at) } catch {
                            give(buffer)
                            throw error
                        }
                        push(Piece(range: i, offset: at, count: n, buffer: buffer))
                        at += Int64(n)
                    }
                }
                finish(nil)
            } catch {
                finish(error)
            }
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    private func take() -> AlignedBuffer? {
        cond.lock()
        defer { cond.unlock() }
        while free.isEmpty && !stopped { cond.wait() }
        return stopped ? nil : free.removeLast()
    }

    private func push(_ piece: Piece) {
        cond.lock()
        ready.append(piece)
        cond.broadcast()
        cond.unlock()
    }

    private func finish(_ error: Swift.Error?) {
        cond.lock()
        failure = error
        finished = true
        cond.broadcast()
        cond.unlock()
    }

    /// Returns a buffer after its piece was consumed.
    func give(_ buffer: AlignedBuffer) {
        cond.lock()
        free.append(buffer)
        cond.broadcast()
        cond.unlock()
    }

    /// The next piece in order; nil at the end. Throws the reader's error.
    func next() throws -> Piece? {
        cond.lock()
        defer { cond.unlock() }
        while ready.isEmpty && !finished { cond.wait() }
        if !ready.isEmpty { return ready.removeFirst() }
        if let failure { throw failure }
        return nil
    }

    /// Stops the reader (after a mismatch) and waits until it let go of the handle.
    func stop() {
        cond.lock()
        stopped = true
        cond.broadcast()
        while !finished { cond.wait() }
        cond.unlock()
    }
}
