// Opt-in benchmark: SquashfsWriter against `mksquashfs` on a real directory. Runs only when
// INGOT_SQUASHFS_BENCH names a directory (e.g. an unpacked rootfs); prints time, size and peak
// RSS for each configuration. The lead's `ingot` benchmark command can reuse `loadDirectory`.

import Foundation
import IngotTree
import Testing

@testable import IngotFilesystems

#if canImport(Glibc)
    import Glibc
#endif

/// Loads a host directory into a tree (content streamed into the spool, owners as on disk).
func squashfsLoadDirectory(_ root: String) throws -> FileTree {
    let tree = try FileTree()
    let fm = FileManager.default
    guard let walker = fm.enumerator(atPath: root) else { return tree }
    var buf = [UInt8](repeating: 0, count: 1 << 20)
    while let rel = walker.nextObject() as? String {
        let full = root + "/" + rel
        var st = stat()
        guard lstat(full, &st) == 0 else { continue }
        let perm = UInt32(st.st_mode) & 0o7777
        let path = "/" + rel
        switch UInt32(st.st_mode) & 0o170000 {
        case 0o040000:
            try tree.addDirectory(path, permissions: perm, uid: st.st_uid, gid: st.st_gid, mtime: 0)
        case 0o120000:
            if let target = try? fm.destinationOfSymbolicLink(atPath: full) {
                try tree.addSymlink(path, target: target, uid: st.st_uid, gid: st.st_gid)
            }
        case 0o100000:
            let fd = open(full, O_RDONLY)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            let writer = tree.spool.beginFile()
            while true {
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                try buf.withUnsafeBytes { try writer.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            }
            let content = writer.finish()
            try tree.insert(
                Node(kind: .file(content), permissions: perm, uid: st.st_uid, gid: st.st_gid), at: path)
        default: continue
        }
    }
    return tree
}

func squashfsPeakRSSMiB() -> Int {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return usage.ru_maxrss / 1024
}

@Suite struct SquashfsBenchmarkTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["INGOT_SQUASHFS_BENCH"] != nil))
    func compareWithMksquashfs() throws {
        let source = try #require(ProcessInfo.processInfo.environment["INGOT_SQUASHFS_BENCH"])
        let tree = try squashfsLoadDirectory(source)
        print("bench: loaded \(source): \(tree.spool.size / 1_048_576) MiB spooled, RSS \(squashfsPeakRSSMiB()) MiB")
        let dir = try SquashfsTempDir()
        let levels = (ProcessInfo.processInfo.environment["INGOT_SQUASHFS_LEVELS"] ?? "3")
            .split(separator: ",").compactMap { Int($0) }
        for level in levels {
            let image = try ImageFile(path: dir.file("ingot-\(level).img"), create: true, size: 1 << 31)
            let start = Date()
            let report = try SquashfsWriter.write(
                tree: tree, to: image, range: ByteRange(offset: 0, size: 1 << 31),
                options: SquashfsOptions(compression: .zstd, level: level))
            let t = Date().timeIntervalSince(start)
            print(
                "bench: ingot zstd-\(level): \(String(format: "%.2f", t)) s, \(report.bytesUsed) bytes, "
                    + "\(report.inodes) inodes, peak RSS \(squashfsPeakRSSMiB()) MiB")
            let check = try SquashfsTool.run("unsquashfs", ["-s", image.path])
            #expect(check.status == 0)
            try? FileManager.default.removeItem(atPath: image.path)
        }
        let start = Date()
        let m = try SquashfsTool.run(
            "mksquashfs", [source, dir.file("mk.img"), "-comp", "zstd", "-noappend", "-no-progress", "-quiet"])
        let t = Date().timeIntervalSince(start)
        let size = (try? FileManager.default.attributesOfItem(atPath: dir.file("mk.img"))[.size] as? Int) ?? 0
        print("bench: mksquashfs -comp zstd: \(String(format: "%.2f", t)) s, \(size) bytes (status \(m.status))")
    }
}
