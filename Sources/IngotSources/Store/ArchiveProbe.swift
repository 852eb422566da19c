// A pre-flight check for user-supplied archives: opens the file with libarchive and reads the
// first header, so an unreadable file is reported here (with its name) before `ArchiveReader`
// sees it. (ArchiveReader's failing init currently frees its handle twice; see the report.)

import CArchive
import Foundation

enum ArchiveProbe {
    enum Kind { case tar, ar }

    /// Throws `SourceResolver.SourceError.unreadableArchive` naming `path` when libarchive cannot
    /// open it or read its first entry as `kind`.
    static func check(_ path: String, as kind: Kind) throws {
        // libarchive would block forever opening a FIFO: regular files only.
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw SourceResolver.SourceError.unreadableArchive(
                path: path,
                detail: "it is \(RegularFile.kind(st.st_mode)), not a regular file; name the archive file itself")
        }
        guard let a = archive_read_new() else {
            throw SourceResolver.SourceError.unreadableArchive(path: path, detail: "out of memory")
        }
        defer { archive_read_free(a) }
        archive_read_support_filter_all(a)
        switch kind {
        case .tar:
            archive_read_support_format_tar(a)
            archive_read_support_format_gnutar(a)
        case .ar:
            archive_read_support_format_ar(a)
        }
        func fail(_ what: String) -> SourceResolver.SourceError {
            let msg = archive_error_string(a).map { String(cString: $0) } ?? what
            let format = kind == .tar ? "tar (plain, gz, xz, zst)" : "Debian package (ar)"
            return .unreadableArchive(
                path: path,
                detail: "\(msg); it is not a readable \(format) or is truncated. Re-download or re-create it.")
        }
        guard archive_read_open_filename(a, path, 1 << 16) == ARCHIVE_OK else { throw fail("cannot open") }
        var entry: OpaquePointer?
        let rc = archive_read_next_header(a, &entry)
        guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN else {
            throw fail(rc == ARCHIVE_EOF ? "the archive has no entries" : "cannot read the first entry")
        }
    }
}
