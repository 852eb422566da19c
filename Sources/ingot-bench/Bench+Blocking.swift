// Running async work from the bench's synchronous commands: the work runs on a task while the
// calling thread waits on a semaphore; the result crosses threads through a Mutex.

import Dispatch
import Synchronization

/// Where the task leaves its result for the waiting thread.
private final class BlockingOutcome<Value: Sendable>: Sendable {
    let result = Mutex<Result<Value, any Error>?>(nil)
}

/// Runs `body` on a new task and blocks the calling thread until it has finished.
/// - Parameter body: the async work.
/// - Returns: what `body` returned; rethrows what it threw.
func runBlocking<Value: Sendable>(_ body: @escaping @Sendable () async throws -> Value) throws -> Value {
    let outcome = BlockingOutcome<Value>()
    let done = DispatchSemaphore(value: 0)
    Task {
        let result: Result<Value, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        outcome.result.withLock { $0 = result }
        done.signal()
    }
    done.wait()
    // The task stored a result before signalling, so it is there.
    guard let result = outcome.result.withLock({ $0 }) else {
        preconditionFailure("the task signalled without a result")
    }
    return try result.get()
}
