// The store's lease: every open store holds a shared flock on `<root>/lock` for its lifetime (a
// build holds it from start to end); `ingot cache prune` takes it exclusively, so a prune never
// deletes a blob a running build has resolved or is about to, and a build waits for a prune.

import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A shared or exclusive hold on a store; released when the value is freed.
public final class StoreLease: Sendable {
    private let fd: Int32

    /// Whether another process holds the lease the other way.
    public enum Wait: Sendable { case block, fail }

    /// Takes the lease.
    /// - Parameters:
    ///   - root: the store directory.
    ///   - exclusive: true for prune, false for users of the store.
    ///   - wait: block until free, or fail at once when held.
    /// - Returns: nil when `wait` is `.fail` and the lease is held elsewhere.
    public static func take(root: String, exclusive: Bool, wait: Wait = .block) throws -> StoreLease? {
        let path = root + "/lock"
        // A prune in this process already excludes every other user; its own store handles need no lease.
        if !exclusive, heldExclusively.withLock({ $0.contains(path) }) { return nil }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ContentStore.Error.io(path: path, reason: String(cString: strerror(errno))) }
        var operation = exclusive ? LOCK_EX : LOCK_SH
        if wait == .fail { operation |= LOCK_NB }
        while flock(fd, operation) != 0 {
            if errno == EINTR { continue }
            let reason = String(cString: strerror(errno))
            close(fd)
            if errno == EWOULDBLOCK { return nil }
            throw ContentStore.Error.io(path: path, reason: reason)
        }
        if exclusive { heldExclusively.withLock { _ = $0.insert(path) } }
        return StoreLease(fd: fd, exclusivePath: exclusive ? path : nil)
    }

    private let exclusivePath: String?
    /// The lock paths of the exclusive leases this process holds.
    private static let heldExclusively = Mutex<Set<String>>([])

    private init(fd: Int32, exclusivePath: String?) {
        self.fd = fd
        self.exclusivePath = exclusivePath
    }

    deinit {
        if let exclusivePath { Self.heldExclusively.withLock { _ = $0.remove(exclusivePath) } }
        close(fd)
    }
}
