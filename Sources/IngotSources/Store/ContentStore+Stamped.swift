// Large blobs (unpacked packages, kernels) read on every build: hashed in full the first time,
// then trusted while the file's size, modification time and inode match the stamp written after
// that check (the same trade git's index makes). A blob that changes in any of those is hashed
// again, and removed if it no longer matches its address.

import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension ContentStore {
    /// The path of a stored blob, fully verified once and then by its stamp.
    /// - Parameter digest: the blob.
    /// - Returns: the blob's path.
    public nonisolated func stampedPath(for digest: Digest) throws -> String {
        let path = blobPath(digest)
        var st = stat()
        guard stat(path, &st) == 0 else { throw Error.missing(digest, path: path) }
        let stampPath = "\(root)/stamps/\(digest.hex)"
        let want = "\(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) \(st.st_ino)\n"
        if let data = FileManager.default.contents(atPath: stampPath), String(decoding: data, as: UTF8.self) == want {
            return path
        }
        _ = try self.path(for: digest)
        try ContentStore.makeDirectory("\(root)/stamps")
        let tmp = "\(root)/tmp/stamp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        if FileManager.default.createFile(atPath: tmp, contents: Data(want.utf8)) {
            if rename(tmp, stampPath) != 0 { unlink(tmp) }
        }
        return path
    }
}
