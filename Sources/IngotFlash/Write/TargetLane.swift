// One target's worker: a thread that writes the chunks the reader hands it (in order), zeroes
// unmapped ranges when asked, syncs every so often, and at the end syncs, asks the kernel to
// re-read the partition table, reads everything back and checks the table. A failure drops
// this target only: it releases its chunks and stops, and the reader carries on for the others.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A target being written.
// @unchecked: queue and status are used only under `cond`; `report` is written by this lane's one worker thread at a time (and under `cond` in `fail`), read once it has finished.
final class TargetLane: @unchecked Sendable {
    let target: FlashTarget
    let handle: TargetHandle
    private let cond = NSCondition()
    private var queue: [WorkItem] = []
    private var ended = false
    private var _failed = false
    private var _done: Int64 = 0
    private var _phase: FlashPhase = .write
    private var _phaseStart = Date()
    var report: TargetReport

    init(target: FlashTarget, handle: TargetHandle) {
        self.target = target
        self.handle = handle
        report = TargetReport(path: target.path)
    }

    // MARK: shared state

    var failed: Bool {
        cond.lock()
        defer { cond.unlock() }
        return _failed
    }

    /// Phase, bytes done and seconds since the phase began (for progress).
    var status: (phase: FlashPhase, done: Int64, elapsed: Double) {
        cond.lock()
        defer { cond.unlock() }
        return (_phase, _done, Date().timeIntervalSince(_phaseStart))
    }

    func setPhase(_ phase: FlashPhase) {
        cond.lock()
        _phase = phase
        _done = 0
        _phaseStart = Date()
        cond.unlock()
    }

    func add(_ n: Int64) {
        cond.lock()
        _done += n
        cond.unlock()
    }

    /// Marks the lane failed; returns false if it already was.
    @discardableResult
    func fail(_ error: Swift.Error, offset: Int64? = nil) -> Bool {
        cond.lock()
        defer { cond.unlock() }
        guard !_failed else { return false }
        _failed = true
        report.status = .failed
        report.error = "\(error)"
        if case FlashError.verifyMismatch(_, let bad, _, _) = error { report.firstBadOffset = bad }
        return true
    }

    // MARK: queue

    /// Queues an item (dropped, and its chunk released, when the lane has failed).
    func enqueue(_ item: WorkItem, pool: ChunkPool) {
        cond.lock()
        if _failed {
            cond.unlock()
            if case .data(let c) = item { pool.release(c) }
            return
        }
        queue.append(item)
        cond.signal()
        cond.unlock()
    }

    /// No more items.
    func end() {
        cond.lock()
        ended = true
        cond.signal()
        cond.unlock()
    }

    private func next() -> WorkItem? {
        cond.lock()
        defer { cond.unlock() }
        while queue.isEmpty && !ended { cond.wait() }
        return queue.isEmpty ? nil : queue.removeFirst()
    }

    // MARK: writing

    /// The writer loop: returns when the reader ended the queue. Errors mark the lane failed.
    func write(pool: ChunkPool, options: FlashOptions, onFailure: (Swift.Error) -> Void) {
        let start = Date()
        var sinceSync: Int64 = 0
        let scratch = AlignedBuffer(capacity: 1 << 20)
        while let item = next() {
            if failed {
                if case .data(let c) = item { pool.release(c) }
                continue
            }
            do {
                switch item {
                case .data(let c):
                    defer { pool.release(c) }
                    try handle.write(c.buffer.pointer, count: c.length, at: c.offset)
                    report.written += Int64(c.length)
                    sinceSync += Int64(c.length)
                    add(Int64(c.length))
                case .zero(let offset, let length):
                    let how = try handle.zero(offset: offset, length: length, scratch: scratch)
                    report.zeroed += length
                    handle.note("unmapped ranges zeroed with \(how)")
                }
                if sinceSync >= options.syncInterval {
                    try handle.sync()
                    sinceSync = 0
                }
            } catch {
                if fail(error) { onFailure(error) }
            }
        }
        guard !failed else { return }
        do {
            try handle.sync()
            if let note = handle.rereadPartitions() { handle.note(note) }
        } catch {
            if fail(error) { onFailure(error) }
        }
        report.writeSeconds = Date().timeIntervalSince(start)
    }
}
