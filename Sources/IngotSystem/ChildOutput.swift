// One standard stream of a running child, delivered in chunks as the child writes them: read as an
// async sequence of byte chunks, as text lines (`lines`), or with a blocking `take(waiting:)` from
// a supervision thread. The child's reader thread never blocks on it, so a slow consumer cannot
// stall the child; chunks queue until taken.

import Foundation

/// A streamed standard output (or error) of a `ChildProcess`. Single consumer.
// @unchecked: every `var` is read and written only under `condition` (the blocking `take` needs a condition variable, which Mutex lacks).
public final class ChildOutput: @unchecked Sendable, AsyncSequence {
    public typealias Element = [UInt8]

    private let condition = NSCondition()
    private var pending: [[UInt8]] = []
    private var finished = false
    private var waiter: CheckedContinuation<[UInt8]?, Never>?

    init() {}

    // MARK: Producer (the child's reader thread)

    func append(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        condition.lock()
        if let waiter {
            self.waiter = nil
            condition.unlock()
            waiter.resume(returning: bytes)
            return
        }
        pending.append(bytes)
        condition.broadcast()
        condition.unlock()
    }

    func finish() {
        condition.lock()
        finished = true
        let waiter = self.waiter
        self.waiter = nil
        condition.broadcast()
        condition.unlock()
        waiter?.resume(returning: nil)
    }

    // MARK: Consumers

    /// The chunks written so far, waiting up to `seconds` for the first one; `finished` is true
    /// once the stream has ended and nothing is left.
    public func take(waiting seconds: Double) -> (chunks: [[UInt8]], finished: Bool) {
        condition.lock()
        defer { condition.unlock() }
        if pending.isEmpty && !finished && seconds > 0 {
            _ = condition.wait(until: Date().addingTimeInterval(seconds))
        }
        let chunks = pending
        pending.removeAll()
        return (chunks, finished && chunks.isEmpty)
    }

    /// The next chunk, or nil at the end of the stream (or when the calling task is cancelled).
    public func next() async -> [UInt8]? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[UInt8]?, Never>) in
                condition.lock()
                if !pending.isEmpty {
                    let chunk = pending.removeFirst()
                    condition.unlock()
                    continuation.resume(returning: chunk)
                } else if finished || Task.isCancelled {
                    condition.unlock()
                    continuation.resume(returning: nil)
                } else {
                    waiter = continuation
                    condition.unlock()
                }
            }
        } onCancel: {
            condition.lock()
            let waiter = self.waiter
            self.waiter = nil
            condition.unlock()
            waiter?.resume(returning: nil)
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let output: ChildOutput
        public mutating func next() async -> [UInt8]? { await output.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(output: self) }

    /// The stream as text lines (without the newline; a final unterminated line is delivered at
    /// the end; a trailing carriage return is dropped).
    public var lines: Lines { Lines(output: self) }

    /// Text lines of a `ChildOutput`.
    public struct Lines: AsyncSequence, Sendable {
        public typealias Element = String
        let output: ChildOutput

        public struct AsyncIterator: AsyncIteratorProtocol {
            let output: ChildOutput
            var buffer: [UInt8] = []
            var done = false

            public mutating func next() async -> String? {
                while true {
                    if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                        var line = Array(buffer[..<newline])
                        buffer.removeSubrange(...newline)
                        if line.last == UInt8(ascii: "\r") { line.removeLast() }
                        return String(decoding: line, as: UTF8.self)
                    }
                    if done {
                        guard !buffer.isEmpty else { return nil }
                        defer { buffer.removeAll() }
                        return String(decoding: buffer, as: UTF8.self)
                    }
                    if let chunk = await output.next() { buffer.append(contentsOf: chunk) } else { done = true }
                }
            }
        }

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(output: output) }
    }
}
