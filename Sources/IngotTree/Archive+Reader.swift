// The libarchive seam for reading: `ArchiveReader` owns one `struct archive *` opened for
// reading (tar in any compression, ar for .deb, cpio) and yields entries with their metadata;
// content is streamed in blocks. All libarchive return codes become `ArchiveError` here.

import CArchive
import Foundation

/// A libarchive failure, naming the archive and the entry being read.
public struct ArchiveError: Swift.Error, CustomStringConvertible {
    public var archive: String
    public var entry: String?
    public var message: String

    public var description: String {
        let at = entry.map { " (entry '\($0)')" } ?? ""
        return "\(archive)\(at): \(message). The archive is corrupt, truncated or not in a supported format "
            + "(tar, tar.gz, tar.xz, tar.zst, tar.bz2, ar/.deb, cpio); re-download or re-create it."
    }
}

/// Metadata of one archive entry, copied out of libarchive.
public struct ArchiveEntry {
    public enum Kind { case file, directory, symlink, hardlink, characterDevice, blockDevice, fifo, socket }
    public var path: String
    public var kind: Kind
    public var permissions: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var mtime: Int64
    public var size: Int64
    /// Symlink target or hard-link target path.
    public var linkTarget: String?
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    public var xattrs: [String: [UInt8]]
}

public final class ArchiveReader {
    public enum Formats { case all, ar, tar, raw }

    private let handle: OpaquePointer
    public let name: String
    private var currentPath: String?
    private var currentSparse = false
    private var currentSize: Int64 = 0
    /// One read buffer for every entry: allocating (and zeroing) a fresh one per entry cost more
    /// than reading small files.
    private var buffer = [UInt8](repeating: 0, count: 1 << 18)

    /// Opens `path` for reading.
    /// - Parameters:
    ///   - path: the archive file.
    ///   - formats: restrict the accepted formats (a `.deb` is `ar`).
    public init(path: String, formats: Formats = .all) throws {
        guard let h = archive_read_new() else {
            throw ArchiveError(archive: path, entry: nil, message: "out of memory")
        }
        handle = h
        name = path
        archive_read_support_filter_all(h)
        switch formats {
        case .all:
            archive_read_support_format_all(h)
        case .ar:
            archive_read_support_format_ar(h)
        case .tar:
            archive_read_support_format_tar(h)
            archive_read_support_format_gnutar(h)
        case .raw:
            // One entry: the decompressed stream (e.g. a gzip-compressed kernel).
            archive_read_support_format_raw(h)
        }
        guard archive_read_open_filename(h, path, 1 << 16) == ARCHIVE_OK else {
            // deinit frees the handle: every stored property is set, so it runs on this throw.
            throw error()
        }
    }

    deinit { archive_read_free(handle) }

    private func error(_ fallback: String = "read failed") -> ArchiveError {
        let msg = archive_error_string(handle).map { String(cString: $0) } ?? fallback
        return ArchiveError(archive: name, entry: currentPath, message: msg)
    }

    /// The next entry's header, or nil at the end of the archive.
    public func next() throws -> ArchiveEntry? {
        var entryPtr: OpaquePointer?
        let rc = archive_read_next_header(handle, &entryPtr)
        if rc == ARCHIVE_EOF { return nil }
        guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN, let e = entryPtr else { throw error() }
        let path = archive_entry_pathname(e).map { String(cString: $0) } ?? ""
        currentPath = path
        currentSparse = archive_entry_sparse_count(e) > 0
        currentSize = archive_entry_size_is_set(e) != 0 ? Int64(archive_entry_size(e)) : -1
        let ftype = UInt32(archive_entry_filetype(e))
        let hardlink = archive_entry_hardlink(e).map { String(cString: $0) }
        var kind: ArchiveEntry.Kind
        switch ftype {
        case 0o040000: kind = .directory
        case 0o120000: kind = .symlink
        case 0o020000: kind = .characterDevice
        case 0o060000: kind = .blockDevice
        case 0o010000: kind = .fifo
        case 0o140000: kind = .socket
        default: kind = .file
        }
        if hardlink != nil { kind = .hardlink }
        var xattrs: [String: [UInt8]] = [:]
        if archive_entry_xattr_reset(e) > 0 {
            var namePtr: UnsafePointer<CChar>?
            var valuePtr: UnsafeRawPointer?
            var size = 0
            while archive_entry_xattr_next(e, &namePtr, &valuePtr, &size) == ARCHIVE_OK {
                guard let namePtr else { continue }
                let value = valuePtr.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                xattrs[String(cString: namePtr)] = value
            }
        }
        return ArchiveEntry(
            path: path,
            kind: kind,
            permissions: UInt32(archive_entry_perm(e)) & 0o7777,
            uid: UInt32(truncatingIfNeeded: archive_entry_uid(e)),
            gid: UInt32(truncatingIfNeeded: archive_entry_gid(e)),
            mtime: Int64(archive_entry_mtime(e)),
            size: archive_entry_size_is_set(e) != 0 ? Int64(archive_entry_size(e)) : 0,
            linkTarget: hardlink ?? archive_entry_symlink(e).map { String(cString: $0) },
            deviceMajor: UInt32(archive_entry_rdevmajor(e)),
            deviceMinor: UInt32(archive_entry_rdevminor(e)),
            xattrs: xattrs)
    }

    /// Streams the current entry's data in blocks as libarchive decodes them. The buffer passed
    /// to `body` is reused: copy what must outlive the call.
    public func readData(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        while true {
            let n = buffer.withUnsafeMutableBytes { archive_read_data(handle, $0.baseAddress, $0.count) }
            if n == 0 { return }
            if n < 0 {
                if n == Int(ARCHIVE_WARN) { continue }
                throw error("data read failed")
            }
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    /// Where the current entry's data lies, byte for byte, in the archive file itself: only for
    /// an uncompressed tar and an entry stored contiguously (not sparse), and only before its data
    /// is read. Callers can then reference the bytes in place instead of copying them.
    /// - Returns: the offset in the archive file and the size, or nil when the data is encoded.
    public func storedDataRange() -> (offset: Int64, size: Int64)? {
        guard !currentSparse, currentSize >= 0,
            archive_filter_count(handle) == 1, archive_filter_code(handle, 0) == ARCHIVE_FILTER_NONE,
            archive_format(handle) & ARCHIVE_FORMAT_BASE_MASK == ARCHIVE_FORMAT_TAR
        else { return nil }
        // Bytes the format reader has consumed from the (uncompressed) stream: the end of the
        // entry's header blocks, where its data starts.
        let offset = Int64(archive_filter_bytes(handle, 0))
        guard offset >= 0 else { return nil }
        return (offset, currentSize)
    }

    /// Reads the current entry's data into memory (small entries: control files, JSON).
    public func readAll(limit: Int = 64 << 20) throws -> [UInt8] {
        var out: [UInt8] = []
        try readData { chunk in
            guard out.count + chunk.count <= limit else {
                throw ArchiveError(archive: name, entry: currentPath, message: "entry larger than \(limit) bytes")
            }
            out.append(contentsOf: chunk)
        }
        return out
    }

    /// Skips the current entry's data.
    public func skipData() throws {
        guard archive_read_data_skip(handle) == ARCHIVE_OK else { throw error("skip failed") }
    }
}
