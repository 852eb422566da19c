// One build at a time per output prefix: an exclusive flock on `DIR/.ingot-lock-NAME-BOARD`. The
// second build of the same prefix waits (saying whose build it waits for) instead of racing the
// first one's commit. The lock file exists only while a build holds it: the holder unlinks it
// before unlocking, and a waiter that locked a file someone unlinked meanwhile starts over.

import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// An exclusive lock on one output prefix.
public final class OutputLock: Sendable {
    /// The lock file.
    public let path: String
    /// The open lock file; -1 once released (the build and the interrupt cleanup may both release).
    private let fd: Mutex<Int32>

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = Mutex(fd)
    }

    /// The lock file of `base` (`NAME-BOARD`) in `directory`.
    public static func path(directory: String, base: String) -> String { directory + "/.ingot-lock-" + base }

    /// What trying once found.
    enum Attempt {
        case acquired(OutputLock)
        /// Another process holds it; its PID when it wrote one.
        case busy(holder: Int32?)
    }

    /// Tries to take the lock once without waiting.
    /// - Throws: `Errno` when the lock file cannot be opened (`ENOENT`: the directory vanished).
    static func attempt(path: String) throws -> Attempt {
        while true {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw Errno(errno) }
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let code = errno
                let holder = Self.holder(fd: fd)
                close(fd)
                if code == EWOULDBLOCK { return .busy(holder: holder) }
                throw Errno(code)
            }
            // The previous holder may have unlinked the file between our open and our flock: then
            // we hold a lock nobody else can see, so start over on the file the path names now.
            var mine = stat()
            var named = stat()
            guard fstat(fd, &mine) == 0, stat(path, &named) == 0, mine.st_ino == named.st_ino,
                mine.st_dev == named.st_dev
            else {
                close(fd)
                continue
            }
            let pid = Array("\(getpid())\n".utf8)
            _ = ftruncate(fd, 0)
            _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            return .acquired(OutputLock(path: path, fd: fd))
        }
    }

    /// Takes the lock, waiting while another build holds it.
    /// - Parameters:
    ///   - path: the lock file.
    ///   - poll: how long to sleep between attempts.
    ///   - onWait: called once, with a sentence, when the lock is busy.
    ///   - ensureDirectory: re-creates the directory if a failing build removed it meanwhile.
    static func acquire(
        path: String, poll: Duration = .milliseconds(200), onWait: (String) -> Void, ensureDirectory: () throws -> Void
    ) async throws -> OutputLock {
        var announced = false
        while true {
            do {
                switch try attempt(path: path) {
                case .acquired(let lock): return lock
                case .busy(let holder):
                    if !announced {
                        announced = true
                        let who = holder.map { "process \($0)" } ?? "another process"
                        onWait("waiting for \(who) to finish its build into the same output (\(path) is locked)")
                    }
                    try await Task.sleep(for: poll)
                }
            } catch let error as Errno where error.code == ENOENT {
                try ensureDirectory()
            }
        }
    }

    /// True when some process holds the lock file at `path` (a stale file nobody holds is false).
    static func isHeld(path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return true
    }

    /// Removes a lock file nobody holds (left by a killed build). Safe against a waiter that
    /// opened it meanwhile: that waiter notices the file is gone and starts over.
    static func removeIfStale(path: String) {
        guard case .acquired(let lock)? = try? attempt(path: path) else { return }
        lock.release()
    }

    private static func holder(fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Unlinks the lock file (when the path still names it), then unlocks it. Idempotent.
    public func release() {
        fd.withLock { fd in
            guard fd >= 0 else { return }
            var mine = stat()
            var named = stat()
            if fstat(fd, &mine) == 0, stat(path, &named) == 0, mine.st_ino == named.st_ino, mine.st_dev == named.st_dev
            {
                unlink(path)
            }
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    deinit { release() }
}

/// A POSIX error number, for the few places that decide on it.
struct Errno: Swift.Error, CustomStringConvertible, Equatable {
    var code: Int32
    init(_ code: Int32) { self.code = code }
    var description: String { String(cString: strerror(code)) }
}
