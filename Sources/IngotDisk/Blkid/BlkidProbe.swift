// The one seam to libblkid: `BlkidProbe` owns a `blkid_probe` on an open image file restricted
// to a byte range (one partition, or the whole disk), runs a safe probe and returns the values
// blkid found (TYPE, UUID, LABEL, VERSION, BLOCK_SIZE, PTTYPE, PTUUID, ...).

import CBlkid
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A libblkid probe over `[offset, offset + size)` of a file.
public final class BlkidProbe {
    public enum Error: Swift.Error, CustomStringConvertible {
        case open(String, String)
        case call(String, path: String, offset: Int64, code: Int32)
        case ambivalent(path: String, offset: Int64)

        public var description: String {
            switch self {
            case .open(let p, let why): return "\(p): cannot open for probing: \(why)"
            case .call(let fn, let p, let off, let code):
                return "\(p): libblkid \(fn) failed at offset \(off) (code \(code)); check the image is readable "
                    + "and the range lies inside it"
            case .ambivalent(let p, let off):
                return "\(p): more than one filesystem signature found at offset \(off); wipe the stale "
                    + "signature (e.g. zero the partition before formatting)"
            }
        }
    }

    private let pr: blkid_probe
    private let fd: Int32
    public let path: String
    public let offset: Int64

    /// Probes `path` from `offset` for `size` bytes (0 = to the end).
    /// - Parameters:
    ///   - superblocks: look for filesystems (TYPE, UUID, LABEL, VERSION, BLOCK_SIZE).
    ///   - partitions: look for partition tables (PTTYPE, PTUUID).
    public init(path: String, offset: Int64 = 0, size: Int64 = 0, superblocks: Bool = true, partitions: Bool = false)
        throws
    {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Error.open(path, String(cString: strerror(errno))) }
        guard let pr = blkid_new_probe() else {
            close(fd)
            throw Error.call("blkid_new_probe", path: path, offset: offset, code: -1)
        }
        self.fd = fd
        self.pr = pr
        self.path = path
        self.offset = offset
        try check("blkid_probe_set_device", blkid_probe_set_device(pr, fd, blkid_loff_t(offset), blkid_loff_t(size)))
        try check("blkid_probe_enable_superblocks", blkid_probe_enable_superblocks(pr, superblocks ? 1 : 0))
        if superblocks {
            let flags =
                BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE | BLKID_SUBLKS_SECTYPE
                | BLKID_SUBLKS_USAGE | BLKID_SUBLKS_VERSION
            try check("blkid_probe_set_superblocks_flags", blkid_probe_set_superblocks_flags(pr, Int32(flags)))
        }
        try check("blkid_probe_enable_partitions", blkid_probe_enable_partitions(pr, partitions ? 1 : 0))
        if partitions {
            try check(
                "blkid_probe_set_partitions_flags", blkid_probe_set_partitions_flags(pr, Int32(BLKID_PARTS_MAGIC)))
        }
    }

    deinit {
        blkid_free_probe(pr)
        close(fd)
    }

    @discardableResult
    private func check(_ fn: String, _ rc: Int32) throws -> Int32 {
        guard rc >= 0 else { throw Error.call(fn, path: path, offset: offset, code: rc) }
        return rc
    }

    /// Runs a safe probe; returns every value found (empty if nothing was recognised).
    public func probe() throws -> [String: String] {
        let rc = blkid_do_safeprobe(pr)
        if rc == -2 { throw Error.ambivalent(path: path, offset: offset) }
        try check("blkid_do_safeprobe", rc)
        if rc == 1 { return [:] }
        var values: [String: String] = [:]
        let n = blkid_probe_numof_values(pr)
        for i in 0..<max(0, n) {
            var name: UnsafePointer<CChar>? = nil
            var data: UnsafePointer<CChar>? = nil
            var len: Int = 0
            guard blkid_probe_get_value(pr, i, &name, &data, &len) == 0, let name, let data else { continue }
            values[String(cString: name)] = String(cString: data)
        }
        return values
    }
}
