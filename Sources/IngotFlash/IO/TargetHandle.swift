// An open flash target. A whole disk is opened with O_EXCL (the kernel refuses while anything
// else claims it: a mount, dm, md, another flasher) and held under an exclusive flock so udev
// leaves it alone while it is written; EBUSY is fatal, never retried with a shared open. The
// identity the user confirmed is re-read from the open descriptor before the first write.
// Writes and reads use O_DIRECT where the device allows it, falling back to buffered I/O for
// unaligned tails.

import CFlash
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Errors from opening, writing and reading a target.
public enum TargetError: Swift.Error, CustomStringConvertible, Equatable, Sendable {
    case busy(String)
    case locked(String)
    case open(String, String)
    case readOnly(String)
    case io(String, operation: String, offset: Int64, reason: String)
    case shortDevice(String, offset: Int64)

    public var description: String {
        switch self {
        case .busy(let p):
            return
                "\(p): the device is busy (mounted, held by dm/md, or open exclusively by another program); nothing was "
                + "written — close whatever uses it and try again"
        case .locked(let p):
            return
                "\(p): another program holds a lock on the device (udev, another flasher); nothing was written — try again"
        case .open(let p, let why): return "\(p): cannot open for writing: \(why)"
        case .readOnly(let p): return "\(p): the kernel reports the device read-only; nothing was written"
        case .io(let p, let op, let off, let why):
            return "\(p): \(op) failed at byte offset \(off): \(why); the device may have been removed or is failing — "
                + "its content is incomplete, do not boot it"
        case .shortDevice(let p, let off):
            return
                "\(p): the device ended at byte offset \(off) (was it removed or resized?); its content is incomplete"
        }
    }
}

/// An open target (whole disk or regular file).
// @unchecked: owns a raw file descriptor; its bookkeeping `var`s are changed only by the one thread driving the target at a time.
final class TargetHandle: @unchecked Sendable {
    let path: String
    let fd: Int32
    let isBlockDevice: Bool
    let logicalBlockSize: Int
    /// O_DIRECT is on for aligned I/O.
    private(set) var direct: Bool
    /// Test hook: fail with EIO once this many bytes were written.
    var faultAfter: Int64?
    private(set) var bytesWritten: Int64 = 0
    /// Human notes (direct I/O off, zeroing method...).
    private(set) var notes: [String] = []

    private init(path: String, fd: Int32, isBlockDevice: Bool, logicalBlockSize: Int, direct: Bool) {
        self.path = path
        self.fd = fd
        self.isBlockDevice = isBlockDevice
        self.logicalBlockSize = logicalBlockSize
        self.direct = direct
    }

    deinit {
        if isBlockDevice { flock(fd, LOCK_UN) }
        close(fd)
    }

    func note(_ text: String) { if !notes.contains(text) { notes.append(text) } }

    static func errnoText(_ e: Int32) -> String { String(cString: strerror(e)) }

    /// Opens a whole disk for flashing (or, with `readOnly`, for verifying) and checks it is
    /// still `expected`.
    static func openDevice(
        _ path: String, expected: DeviceIdentity, discovery: DeviceDiscovery, directIO: Bool, readOnly: Bool = false,
        lockTimeout: Double = 3
    ) throws -> TargetHandle {
        // Verifying only reads: no claim on the device, so a mounted card can be checked too.
        let access = readOnly ? O_RDONLY | O_CLOEXEC : O_RDWR | O_EXCL | O_CLOEXEC
        var direct = directIO
        var fd = open(path, access | (direct ? cflash_o_direct() : 0))
        if fd < 0, errno == EINVAL, direct {
            direct = false
            fd = open(path, access)
        }
        guard fd >= 0 else {
            let e = errno
            if e == EBUSY { throw TargetError.busy(path) }
            if e == EROFS { throw TargetError.readOnly(path) }
            throw TargetError.open(path, errnoText(e))
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFBLK else {
            close(fd)
            throw FlashRefusal.identityChanged(path: path, reason: "it is no longer a block device")
        }
        // udev takes a shared flock while it probes; wait out a probe, never share the device.
        let deadline = Date().addingTimeInterval(lockTimeout)
        while !readOnly, flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            guard e == EWOULDBLOCK || e == EINTR, Date() < deadline else {
                close(fd)
                throw e == EWOULDBLOCK ? TargetError.locked(path) : TargetError.open(path, errnoText(e))
            }
            usleep(50_000)
        }
        let handle = TargetHandle(
            path: path, fd: fd, isBlockDevice: true, logicalBlockSize: max(512, blockSize(fd)), direct: direct)
        if !direct && directIO { handle.note("the device refuses O_DIRECT; buffered I/O with explicit syncs") }
        let actual = handle.identity(name: expected.name, rdev: UInt64(st.st_rdev), discovery: discovery)
        if let reason = expected.mismatch(actual) {
            throw FlashRefusal.identityChanged(path: path, reason: reason)
        }
        var ro: Int32 = 0
        if !readOnly, cflash_blk_readonly(fd, &ro) == 0, ro != 0 { throw TargetError.readOnly(path) }
        return handle
    }

    /// Opens (creating or truncating to `size`) a regular file target (`--to-file`).
    static func openFile(_ path: String, size: Int64, readOnly: Bool = false) throws -> TargetHandle {
        let fd =
            readOnly ? open(path, O_RDONLY | O_CLOEXEC) : open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw TargetError.open(path, errnoText(errno)) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw TargetError.open(path, "not a regular file")
        }
        if !readOnly {
            // Start from holes: unmapped ranges then read back as zeros, as on a zeroed card.
            guard ftruncate(fd, 0) == 0, ftruncate(fd, off_t(size)) == 0 else {
                let e = errno
                close(fd)
                throw TargetError.io(path, operation: "truncate", offset: 0, reason: errnoText(e))
            }
        }
        return TargetHandle(path: path, fd: fd, isBlockDevice: false, logicalBlockSize: 512, direct: false)
    }

    static func blockSize(_ fd: Int32) -> Int {
        var size: Int32 = 0
        return cflash_blk_logical_block_size(fd, &size) == 0 ? Int(size) : 512
    }

    /// The identity as read from the open descriptor (device number, diskseq, size) and sysfs
    /// (serial).
    func identity(name: String, rdev: UInt64, discovery: DeviceDiscovery) -> DeviceIdentity {
        let number = DevNumber(dev: rdev)
        var seq: UInt64 = 0
        let diskseq: UInt64? = cflash_blk_diskseq(fd, &seq) == 0 ? seq : nil
        var bytes: UInt64 = 0
        let size = cflash_blk_size64(fd, &bytes) == 0 ? Int64(bytes) : -1
        var serial: String? = nil
        if let link = discovery.realPath(discovery.sysfs + "/dev/block/\(number)") {
            let walk = discovery.ancestry(link)
            serial = discovery.identification(base: link, ancestry: walk).2
        }
        return DeviceIdentity(
            name: name, major: number.major, minor: number.minor, diskseq: diskseq, serial: serial, size: size)
    }

    // MARK: I/O

    /// Writes `count` bytes from `buffer` at `offset`.
    func write(_ buffer: UnsafeRawPointer, count: Int, at offset: Int64) throws {
        var count = count
        var injected = false
        if let limit = faultAfter, bytesWritten + Int64(count) > limit {
            count = Int(max(0, limit - bytesWritten))
            injected = true
        }
        try transfer(buffer: UnsafeMutableRawPointer(mutating: buffer), count: count, at: offset, write: true)
        bytesWritten += Int64(count)
        if injected {
            throw TargetError.io(
                path, operation: "write", offset: offset + Int64(count),
                reason: "Input/output error (injected by --fault-after)")
        }
    }

    /// Reads exactly `count` bytes at `offset` into `buffer`.
    func read(into buffer: UnsafeMutableRawPointer, count: Int, at offset: Int64) throws {
        try transfer(buffer: buffer, count: count, at: offset, write: false)
    }

    /// One pread/pwrite loop: the aligned part with O_DIRECT (when on), an unaligned tail buffered.
    private func transfer(buffer: UnsafeMutableRawPointer, count: Int, at offset: Int64, write: Bool) throws {
        let lbs = logicalBlockSize
        var done = 0
        let alignedOK = direct && offset % Int64(lbs) == 0 && Int(bitPattern: buffer) % AlignedBuffer.alignment == 0
        let alignedCount = alignedOK ? count / lbs * lbs : 0
        if alignedCount > 0 {
            do {
                done = try loop(buffer, count: alignedCount, at: offset, write: write)
            } catch TargetError.io(_, _, _, let reason) where done == 0 && reason == Self.errnoText(EINVAL) {
                // The device takes O_DIRECT at open but not this transfer: stay buffered from now on.
                setDirect(false)
                note("O_DIRECT transfers failed with EINVAL; buffered I/O with explicit syncs")
                done = 0
            }
        }
        if done < count {
            let wasDirect = direct
            if wasDirect { setDirect(false) }
            defer { if wasDirect { setDirect(true) } }
            done += try loop(buffer + done, count: count - done, at: offset + Int64(done), write: write)
        }
    }

    private func loop(_ buffer: UnsafeMutableRawPointer, count: Int, at offset: Int64, write: Bool) throws -> Int {
        var done = 0
        while done < count {
            let n =
                write
                ? pwrite(fd, buffer + done, count - done, off_t(offset + Int64(done)))
                : pread(fd, buffer + done, count - done, off_t(offset + Int64(done)))
            if n < 0 {
                if errno == EINTR { continue }
                throw TargetError.io(
                    path, operation: write ? "write" : "read", offset: offset + Int64(done),
                    reason: Self.errnoText(errno))
            }
            if n == 0 { throw TargetError.shortDevice(path, offset: offset + Int64(done)) }
            done += n
        }
        return done
    }

    func setDirect(_ on: Bool) {
        if cflash_set_direct(fd, on ? 1 : 0) == 0 { direct = on }
    }

    /// Zeroes `[offset, offset + length)`: BLKZEROOUT (the device may unmap and guarantee zeros)
    /// where it works, else writes zeros. Regular files were truncated to holes at open.
    /// - Returns: how it was done.
    @discardableResult
    func zero(offset: Int64, length: Int64, scratch: AlignedBuffer) throws -> String {
        guard isBlockDevice else { return "hole" }
        if cflash_blk_zeroout(fd, UInt64(offset), UInt64(length)) == 0 { return "BLKZEROOUT" }
        let e = errno
        if e == EIO || e == ENODEV || e == ENXIO {
            throw TargetError.io(path, operation: "zero-out", offset: offset, reason: Self.errnoText(e))
        }
        memset(scratch.pointer, 0, scratch.capacity)
        var at = offset
        let end = offset + length
        while at < end {
            let n = Int(min(Int64(scratch.capacity), end - at))
            try transfer(buffer: scratch.pointer, count: n, at: at, write: true)
            at += Int64(n)
        }
        return "zeros written"
    }

    /// fsync; an error here means data did not reach the device.
    func sync() throws {
        while fsync(fd) != 0 {
            if errno == EINTR { continue }
            throw TargetError.io(path, operation: "fsync", offset: bytesWritten, reason: Self.errnoText(errno))
        }
    }

    /// Drops cached pages so reads come from the device (verification).
    func dropCache() {
        if isBlockDevice { _ = cflash_blk_flsbuf(fd) }
        _ = cflash_fadvise_dontneed(fd, 0, 0)
    }

    /// Asks the kernel to re-read the partition table. Returns a note when it could not.
    func rereadPartitions() -> String? {
        guard isBlockDevice else { return nil }
        var tries = 0
        while cflash_blk_rrpart(fd) != 0 {
            let e = errno
            if e == EBUSY, tries < 5 {
                tries += 1
                usleep(200_000)
                continue
            }
            if e == EINVAL {
                return "the kernel does not rescan partitions on this device (a loop device without partscan); "
                    + "re-attach it to see them"
            }
            return
                "re-reading the partition table failed: \(Self.errnoText(e)); replug the device to see the new partitions"
        }
        return nil
    }
}
