// The libarchive seam for writing: `ArchiveWriter` owns one `struct archive *` opened for
// writing (cpio newc for initramfs, pax/ustar tar for the `tar` output) with an optional
// compression filter. Return codes become `ArchiveError` in one helper.

import CArchive
import Foundation

public final class ArchiveWriter {
    public enum Format { case cpioNewc, paxRestricted }
    public enum Compression: String, Sendable { case none, gzip, xz, zstd }

    private let handle: OpaquePointer
    public let name: String

    /// Opens `path` for writing (created/truncated).
    public init(path: String, format: Format, compression: Compression, level: Int? = nil) throws {
        guard let h = archive_write_new() else {
            throw ArchiveError(archive: path, entry: nil, message: "out of memory")
        }
        handle = h
        name = path
        switch format {
        case .cpioNewc: archive_write_set_format_cpio_newc(h)
        case .paxRestricted: archive_write_set_format_pax_restricted(h)
        }
        switch compression {
        case .none: break
        case .gzip: archive_write_add_filter_gzip(h)
        case .xz: archive_write_add_filter_xz(h)
        case .zstd: archive_write_add_filter_zstd(h)
        }
        // Reproducible gzip: no name, no timestamp in the header.
        if compression == .gzip { _ = archive_write_set_filter_option(h, "gzip", "timestamp", nil) }
        if let level { _ = archive_write_set_filter_option(h, nil, "compression-level", "\(level)") }
        archive_write_set_bytes_in_last_block(h, 1)
        guard archive_write_open_filename(h, path) == ARCHIVE_OK else {
            // deinit frees the handle: every stored property is set, so it runs on this throw.
            throw error(nil)
        }
    }

    deinit { archive_write_free(handle) }

    private func error(_ entry: String?) -> ArchiveError {
        let msg = archive_error_string(handle).map { String(cString: $0) } ?? "write failed"
        return ArchiveError(archive: name, entry: entry, message: msg)
    }

    /// Writes one header; regular files must then get exactly `size` bytes via `writeData`.
    public func writeHeader(
        path: String, mode: UInt32, uid: UInt32, gid: UInt32, mtime: Int64, size: Int64 = 0,
        symlink: String? = nil, hardlink: String? = nil, rdev: (UInt32, UInt32)? = nil, nlink: UInt32 = 1,
        inode: Int64? = nil, xattrs: [String: [UInt8]] = [:]
    ) throws {
        guard let e = archive_entry_new() else { throw error(path) }
        defer { archive_entry_free(e) }
        archive_entry_set_pathname(e, path)
        archive_entry_set_mode(e, mode_t(mode))
        archive_entry_set_uid(e, la_int64_t(uid))
        archive_entry_set_gid(e, la_int64_t(gid))
        archive_entry_set_mtime(e, time_t(mtime), 0)
        archive_entry_set_size(e, la_int64_t(size))
        archive_entry_set_nlink(e, nlink)
        if let inode { archive_entry_set_ino64(e, la_int64_t(inode)) }
        if let symlink { archive_entry_set_symlink(e, symlink) }
        if let hardlink { archive_entry_set_hardlink(e, hardlink) }
        if let rdev {
            archive_entry_set_rdevmajor(e, dev_t(rdev.0))
            archive_entry_set_rdevminor(e, dev_t(rdev.1))
        }
        for (k, v) in xattrs.sorted(by: { $0.key < $1.key }) {
            v.withUnsafeBytes { archive_entry_xattr_add_entry(e, k, $0.baseAddress, $0.count) }
        }
        let rc = archive_write_header(handle, e)
        guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN else { throw error(path) }
    }

    public func writeData(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = archive_write_data(handle, bytes.baseAddress! + done, bytes.count - done)
            guard n > 0 else { throw error(nil) }
            done += n
        }
    }

    public func writeData(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeData($0) }
    }

    /// Flushes the compressor and closes the file.
    public func close() throws {
        guard archive_write_close(handle) == ARCHIVE_OK else { throw error(nil) }
    }
}
