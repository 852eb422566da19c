// Limits of the host an image is written on, checked before the first byte: the shell's file
// size limit (`ulimit -f`, RLIMIT_FSIZE) and the largest file the output filesystem can hold
// (ext4: 16 TiB). Images are sparse, so the probe is a truncate to the full size and back — it
// allocates nothing — and a too-large disk fails in milliseconds with the path and the fix
// instead of after the whole build with "File too large".

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Host limits on the files a build writes.
public enum HostLimits {
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case fileSizeLimit(what: String, bytes: Int64, limit: Int64)
        case filesystemLimit(what: String, path: String, bytes: Int64, reason: String)

        public var description: String {
            switch self {
            case .fileSizeLimit(let what, let bytes, let limit):
                return
                    "\(what) would be \(bytes) bytes (\(DiskLayout.human(bytes))), but this process may write files of at most "
                    + "\(limit) bytes (\(DiskLayout.human(limit)), `ulimit -f`); raise the limit (ulimit -f unlimited) or reduce data.size in the spec"
            case .filesystemLimit(let what, let path, let bytes, let reason):
                return
                    "\(what) would be \(bytes) bytes (\(DiskLayout.human(bytes))), but the filesystem holding \(path) "
                    + "cannot hold a file that large (\(reason)); write the output (-o) to a filesystem that can "
                    + "(xfs, btrfs, tmpfs; ext4 stops at 16 TiB) or reduce data.size in the spec"
            }
        }
    }

    /// Throws when a sparse file of `bytes` cannot be written at `path`. Leaves `path` as it was.
    /// - Parameters:
    ///   - bytes: the file's final size.
    ///   - path: where it will be written (its directory must exist).
    ///   - what: how messages name the file ("the rpi3 disk image").
    public static func checkWritable(bytes: Int64, at path: String, what: String) throws {
        // Past the limit the kernel sends SIGXFSZ, which would kill the build without a word;
        // ignored, the write fails with EFBIG and the error below (or the writer's) is printed.
        signal(SIGXFSZ, SIG_IGN)
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max,
            UInt64(bytes) > UInt64(limit.rlim_cur)
        {
            throw Error.fileSizeLimit(what: what, bytes: bytes, limit: Int64(clamping: UInt64(limit.rlim_cur)))
        }
        var st = stat()
        let existed = stat(path, &st) == 0
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0o644)
        guard fd >= 0 else { return }  // the writer reports an unwritable path itself
        defer {
            close(fd)
            if !existed { unlink(path) }
        }
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, Int64(st.st_size) < bytes else { return }
        let original = off_t(st.st_size)
        if ftruncate(fd, off_t(bytes)) != 0 {
            let reason = String(cString: strerror(errno))
            var directory = (path as NSString).deletingLastPathComponent
            if (directory as NSString).lastPathComponent.hasPrefix(".ingot-staging-") {
                directory = (directory as NSString).deletingLastPathComponent  // name the user's -o
            }
            throw Error.filesystemLimit(what: what, path: directory, bytes: bytes, reason: reason)
        }
        _ = ftruncate(fd, original)
    }
}
