// The reader thread of one child: drains its output pipes as data arrives (so the child never
// blocks on a full pipe), watches the leader exit through a pidfd (or by polling), carries out
// the SIGTERM → grace → SIGKILL sequence, ends members left in the group after the leader exits,
// and reaps the leader last, with its resource usage, once no live member of the group remains.

import Foundation
import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

extension ChildProcess {
    func startReader(outputs: [Int32: (FileDescriptor, ReaderMode)]) {
        // The thread holds the child until it is reaped, so a caller may drop it early.
        let thread = Thread { self.supervise(outputs: outputs) }
        thread.name = "ingot-child-\(pid)"
        thread.start()
    }

    private func supervise(outputs: [Int32: (FileDescriptor, ReaderMode)]) {
        var open = outputs
        var captured: [Int32: BoundedBuffer] = [:]
        for (target, (_, mode)) in outputs {
            if case .capture(let limit) = mode { captured[target] = BoundedBuffer(limit: limit) }
        }
        let pidfd = Self.pidfdOpen.flatMap { open in
            let fd = open(pid, 0)
            return fd >= 0 ? FileDescriptor(rawValue: fd) : nil
        }
        defer { try? pidfd?.close() }
        var leaderExited = false
        var idleMilliseconds: Int32 = 1
        var chunk = [UInt8](repeating: 0, count: 1 << 16)

        func drain(_ target: Int32, limit: Int) {
            guard let (fd, mode) = open[target] else { return }
            var total = 0
            while total < limit {
                let count = chunk.withUnsafeMutableBytes { read(fd.rawValue, $0.baseAddress, $0.count) }
                if count > 0 {
                    total += count
                    switch mode {
                    case .capture: captured[target]?.append(chunk[0..<count])
                    case .stream(let stream): stream.append(Array(chunk[0..<count]))
                    }
                    continue
                }
                if count < 0 && errno == EINTR { continue }
                if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
                // End of file (or a read error): this stream is done.
                try? fd.close()
                if case .stream(let stream) = mode { stream.finish() }
                open.removeValue(forKey: target)
                return
            }
        }

        while true {
            condition.lock()
            var killDue: Double? = terminateRequested && !killed ? killAt : nil
            if let due = killDue, monotonicNow() >= due {
                _ = Glibc.kill(-pid, SIGKILL)
                killed = true
                killDue = nil
            }
            condition.unlock()

            var fds = open.keys.sorted().map { pollfd(fd: open[$0]!.0.rawValue, events: Int16(POLLIN), revents: 0) }
            fds.append(pollfd(fd: wake.read.rawValue, events: Int16(POLLIN), revents: 0))
            if let pidfd, !leaderExited { fds.append(pollfd(fd: pidfd.rawValue, events: Int16(POLLIN), revents: 0)) }
            var timeout: Int32
            if leaderExited {
                timeout = 20
            } else if pidfd != nil {
                timeout = -1
            } else {
                timeout = idleMilliseconds
                idleMilliseconds = min(idleMilliseconds * 2, 50)
            }
            if let due = killDue {
                let untilKill = Int32(max(1, min(60_000, (due - monotonicNow()) * 1000)))
                timeout = timeout < 0 ? untilKill : min(timeout, untilKill)
            }
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready > 0 {
                for entry in fds where entry.revents != 0 {
                    if entry.fd == wake.read.rawValue {
                        var sink = [UInt8](repeating: 0, count: 64)
                        while sink.withUnsafeMutableBytes({ read(entry.fd, $0.baseAddress, $0.count) }) > 0 {}
                    } else if let target = open.first(where: { $0.value.0.rawValue == entry.fd })?.key {
                        drain(target, limit: 1 << 20)
                        idleMilliseconds = 1
                    }
                }
            }
            if !leaderExited { leaderExited = Self.hasExited(pid) }
            if leaderExited {
                if !ProcessGroup.isAlive(pid) { break }
                // Members outlived the leader: they are ended like the leader would have been
                // (no wake-up: this thread polls every 20 ms until the group is empty).
                beginTermination(grace: nil)
            }
        }
        // Whatever the group wrote before it ended is still in the pipes.
        for target in Array(open.keys) { drain(target, limit: .max) }
        for (_, (fd, mode)) in open {
            try? fd.close()
            if case .stream(let stream) = mode { stream.finish() }
        }
        reap(captured: captured)
    }

    private func reap(captured: [Int32: BoundedBuffer]) {
        var raw: Int32 = 0
        var usage = rusage()
        condition.lock()
        var status = ExitStatus.exited(-1)
        while true {
            let result = wait4(pid, &raw, 0, &usage)
            if result == pid {
                status = ExitStatus(waitStatus: raw)
                break
            }
            if result < 0 && errno == EINTR { continue }
            break  // ECHILD: someone else reaped it; nothing more to learn
        }
        let cpu =
            Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec)
            + Double(usage.ru_stime.tv_usec) / 1e6
        let result = Termination(
            status: status, standardOutput: captured[1]?.bytes ?? [], standardError: captured[2]?.bytes ?? [],
            droppedBytes: (captured[1]?.droppedTotal ?? 0) + (captured[2]?.droppedTotal ?? 0),
            wallSeconds: monotonicNow() - started,
            peakResidentBytes: Int64(usage.ru_maxrss) * 1024, cpuSeconds: cpu, wasTerminated: terminateRequested)
        termination = result
        let waiting = waiters
        waiters.removeAll()
        let token = interruptToken
        condition.broadcast()
        condition.unlock()
        if let token { InterruptStream.shared.remove(token) }
        for waiter in waiting { waiter.resume(returning: result) }
    }

    /// Whether the leader has exited (it stays a zombie: WNOWAIT), or is gone altogether.
    private static func hasExited(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        while true {
            let result = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
            if result == 0 { return info._sifields._sigchld.si_pid == pid }
            if errno == EINTR { continue }
            return true
        }
    }

    private typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32
    /// glibc 2.36's pidfd_open (not in Swift's Glibc module); nil on older systems (then polling).
    private static let pidfdOpen: PidfdOpen? = dlsym(nil, "pidfd_open").map { unsafeBitCast($0, to: PidfdOpen.self) }
}

/// The last `limit` bytes of a stream, growing to twice the limit before trimming (amortised).
struct BoundedBuffer {
    let limit: Int
    private(set) var storage: [UInt8] = []
    private(set) var dropped = 0

    init(limit: Int) { self.limit = limit }

    mutating func append(_ bytes: ArraySlice<UInt8>) {
        storage.append(contentsOf: bytes)
        if storage.count > limit * 2 || (limit == 0 && !storage.isEmpty) { trim() }
    }

    private mutating func trim() {
        let excess = storage.count - limit
        guard excess > 0 else { return }
        storage.removeFirst(excess)
        dropped += excess
    }

    var bytes: [UInt8] {
        var copy = self
        copy.trim()
        return copy.storage
    }

    var droppedTotal: Int { dropped + max(0, storage.count - limit) }
}
