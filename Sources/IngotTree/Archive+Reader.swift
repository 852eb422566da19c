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
    /// What to do; nil means the generic "corrupt, truncated or unsupported" advice.
    public var fix: String?

    public init(archive: String, entry: String?, message: String, fix: String? = nil) {
        self.archive = archive
        self.entry = entry
        self.message = message
        self.fix = fix
    }

    public var description: String {
        let at = entry.map { " (entry '\($0)')" } ?? ""
        return "\(archive)\(at): \(message). "
            + (fix ?? "The archive is corrupt, truncated or not in a supported format "
                + "(tar, tar.gz, tar.xz, tar.zst, tar.bz2, ar/.deb, cpio); re-download or re-create it.")
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
    /// Set when this reader decompresses the file itself (see Archive+Decoder.swift).
    private let decoder: StreamDecoder?
    /// Whether the current entry is a sparse file (GNU or PAX sparse): read it with `readBlocks`.
    public var currentEntryIsSparse: Bool { currentSparse }
    /// One read buffer for every entry: allocating (and zeroing) a fresh one per entry cost more
    /// than reading small files.
    private var buffer = [UInt8](repeating: 0, count: 1 << 18)

    /// Opens `path` for reading.
    /// - Parameters:
    ///   - path: the archive file.
    ///   - formats: restrict the accepted formats (a `.deb` is `ar`).
    public init(path: String, formats: Formats = .all) throws {
        // A FIFO would block the open forever and a device would read without end: regular files only.
        let head = try Self.head(of: path)
        let compression = StreamCompression.detect(head)
        decoder = try compression.map { try StreamDecoder(path: path, compression: $0) }
        guard let h = archive_read_new() else {
            throw ArchiveError(archive: path, entry: nil, message: "out of memory")
        }
        handle = h
        name = path
        // Compressed input is decoded (and checked) by `decoder`; libarchive sees plain bytes.
        if decoder == nil { archive_read_support_filter_none(h) }
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
        let opened: Int32
        if let decoder {
            let context = Unmanaged.passUnretained(decoder).toOpaque()
            opened = archive_read_open(
                h, context, nil,
                { _, context, buffer in
                    guard let context, let buffer else { return -1 }
                    let decoder = Unmanaged<StreamDecoder>.fromOpaque(context).takeUnretainedValue()
                    guard let chunk = decoder.read() else { return -1 }
                    buffer.pointee = chunk.baseAddress
                    return chunk.count
                }, nil)
        } else {
            opened = archive_read_open_filename(h, path, 1 << 16)
        }
        guard opened == ARCHIVE_OK else {
            // deinit frees the handle: every stored property is set, so it runs on this throw.
            throw error()
        }
    }

    deinit { archive_read_free(handle) }

    /// The first bytes of `path`, refusing anything but a regular file before it is opened
    /// for real (with O_NONBLOCK, so even a FIFO swapped in meanwhile cannot block).
    static func head(of path: String) throws -> [UInt8] {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw ArchiveError(
                archive: path, entry: nil, message: String(cString: strerror(errno)), fix: "Check the path.")
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw ArchiveError(
                archive: path, entry: nil, message: "not a regular file (\(FileKind.describe(st.st_mode)))",
                fix: "Name a regular archive file.")
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw ArchiveError(
                archive: path, entry: nil, message: String(cString: strerror(errno)), fix: "Check its permissions.")
        }
        defer { close(fd) }
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            throw ArchiveError(
                archive: path, entry: nil, message: "not a regular file", fix: "Name a regular archive file.")
        }
        var head = [UInt8](repeating: 0, count: 8)
        let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 8, 0) }
        return n > 0 ? Array(head[0..<n]) : []
    }

    private func error(_ fallback: String = "read failed") -> ArchiveError {
        if let failure = decoder?.failure {
            return ArchiveError(archive: name, entry: currentPath, message: failure, fix: StreamDecoder.fix)
        }
        let msg = archive_error_string(handle).map { String(cString: $0) } ?? fallback
        return ArchiveError(archive: name, entry: currentPath, message: msg)
    }

    /// The next entry's header, or nil at the end of the archive.
    public func next() throws -> ArchiveEntry? {
        var entryPtr: OpaquePointer?
        let rc = archive_read_next_header(handle, &entryPtr)
        if rc == ARCHIVE_EOF {
            // Read the compressed stream to its end so its last checksum is verified too.
            currentPath = nil
            try decoder?.drain()
            return nil
        }
        guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN, let e = entryPtr else { throw error() }
        let path = archive_entry_pathname(e).map { String(cString: $0) } ?? ""
        currentPath = path
        // Owners are 32-bit in squashfs, cpio and the kernel; (uid_t)-1 means "no owner". Cutting
        // a larger id to 32 bits turned uid 2^40 into root, so it is an error instead.
        for (what, id) in [("uid", archive_entry_uid(e)), ("gid", archive_entry_gid(e))]
        where id < 0 || id >= 0xFFFF_FFFF {
            throw ArchiveError(
                archive: name, entry: path,
                message: "owner \(what) \(id) does not fit in the 32 bits squashfs, cpio and Linux hold",
                fix: "Re-create the archive with owners below 4294967295 (e.g. tar --owner=0 --group=0).")
        }
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
            uid: UInt32(archive_entry_uid(e)),
            gid: UInt32(archive_entry_gid(e)),
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
                // A warning here means the data did not decode as stored (and retrying could loop):
                // an image must never be built from bytes that may differ from the archive's.
                throw error("data read failed")
            }
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    /// Streams the current entry's data blocks with their offsets in the file, holes skipped (a
    /// sparse entry's gaps are never produced). Returns where the file's data ends as the
    /// archive records it (a trailing hole included when the format says so).
    @discardableResult
    public func readBlocks(_ body: (Int64, UnsafeRawBufferPointer) throws -> Void) throws -> Int64 {
        var end: Int64 = 0
        while true {
            var buffer: UnsafeRawPointer?
            var size = 0
            var offset: la_int64_t = 0
            let rc = archive_read_data_block(handle, &buffer, &size, &offset)
            if rc == ARCHIVE_EOF {
                return max(end, Int64(offset))
            }
            guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN else { throw error("data read failed") }
            if size > 0, let buffer {
                try body(Int64(offset), UnsafeRawBufferPointer(start: buffer, count: size))
                end = max(end, Int64(offset) + Int64(size))
            }
        }
    }

    /// Where the current entry's data lies, byte for byte, in the archive file itself: only for
    /// an uncompressed tar and an entry stored contiguously (not sparse), and only before its data
    /// is read. Callers can then reference the bytes in place instead of copying them.
    /// - Returns: the offset in the archive file and the size, or nil when the data is encoded.
    public func storedDataRange() -> (offset: Int64, size: Int64)? {
        guard decoder == nil, !currentSparse, currentSize >= 0,
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

/// Names of file types for messages.
enum FileKind {
    static func describe(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symlink"
        default: return "not a regular file"
        }
    }
}
