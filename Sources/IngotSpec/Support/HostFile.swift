// What a host path named by the spec is, decided with stat(2) before anything opens it: a FIFO
// would block an open for reading, a device such as /dev/zero would read without end, and
// opening some devices has side effects. Symlinks are followed (a source may be a link).

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The kind of a host path, for the spec's checks of `files: source` and local images.
public enum HostFile: Equatable, Sendable {
    case regular(size: Int64)
    case directory
    /// A device, FIFO or socket, described for an error message ("a FIFO").
    case special(String)
    /// Absent or unreadable; the reason completes "source X ..." ("does not exist").
    case missing(String)

    /// Classifies `path`, following symlinks (a loop is reported as such).
    public static func kind(of path: String) -> HostFile {
        var st = stat()
        guard stat(path, &st) == 0 else {
            switch errno {
            case ENOENT: return .missing("does not exist")
            case ELOOP: return .missing("is a symlink loop (a link that leads back to itself)")
            case EACCES: return .missing("cannot be read: permission denied")
            case ENOTDIR: return .missing("does not exist (a parent is not a directory)")
            default: return .missing("cannot be read: \(String(cString: strerror(errno)))")
            }
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .regular(size: Int64(st.st_size))
        case S_IFDIR: return .directory
        case S_IFIFO: return .special("a FIFO (named pipe)")
        case S_IFCHR: return .special("a character device")
        case S_IFBLK: return .special("a block device")
        case S_IFSOCK: return .special("a socket")
        default: return .special("not a regular file")
        }
    }
}

extension HostFile {
    /// Convenience for `if case .regular = ...`.
    public var isRegular: Bool {
        if case .regular = self { return true }
        return false
    }
}
