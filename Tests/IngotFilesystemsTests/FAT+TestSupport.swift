// Helpers for the FAT tests: temp directories, running host tools (fsck.fat, mtools, syslinux)
// and the sample trees the writer is checked with.

import Foundation
import IngotSystem
import IngotTree

@testable import IngotFilesystems

/// A temporary directory removed when the value goes away.
final class FATTempDir {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "ingot-fat-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

/// Output of a host tool.
struct FATToolResult {
    var status: Int32
    var stdout: [UInt8]
    var stderr: String
    var text: String { String(decoding: stdout, as: UTF8.self) }
}

enum FATTool {
    /// Runs `tool` (searched in the usual sbin/bin dirs) with mtools' geometry check off.
    /// - Parameter timeout: seconds after which the tool is terminated (its output so far kept).
    static func run(_ tool: String, _ args: [String], timeout: Double? = nil) throws -> FATToolResult {
        let dirs = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        guard let exe = dirs.map({ $0 + "/" + tool }).first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else { throw FATToolMissing(tool: tool) }
        let child = try ChildProcess.spawn(
            .init(exe, args, environment: ["MTOOLS_SKIP_CHECK": "1", "LC_ALL": "C.UTF-8"], graceSeconds: 1))
        if let timeout, child.waitBlocking(seconds: timeout) == nil { child.terminate() }
        let result = child.waitBlocking()
        return FATToolResult(
            status: result.status.shellStatus, stdout: result.standardOutput, stderr: result.standardErrorText)
    }

    static func exists(_ tool: String) -> Bool {
        ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].contains {
            FileManager.default.isExecutableFile(atPath: $0 + "/" + tool)
        }
    }
}

struct FATToolMissing: Error, CustomStringConvertible {
    var tool: String
    var description: String { "\(tool) is not installed; run ci/bootstrap (dosfstools, mtools, syslinux)" }
}

enum FATSamples {
    /// Deterministic pseudo-random bytes (xorshift), distinct per seed.
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var x = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { raw in
            var i = 0
            while i + 8 <= count {
                x ^= x << 13
                x ^= x >> 7
                x ^= x << 17
                raw.storeBytes(of: x, toByteOffset: i, as: UInt64.self)
                i += 8
            }
            while i < count {
                raw[i] = UInt8(truncatingIfNeeded: x >> (8 * UInt64(i % 8)))
                i += 1
            }
        }
        return out
    }

    /// A boot-partition-like tree: nested dirs, long and short names, names whose 8.3 bases
    /// collide, non-ASCII, an empty file and directory, 500 files in one directory and a 3 MB file.
    /// Returns the tree and the expected file contents by path.
    static func tree(manyFiles: Int = 500, bigSize: Int = 3 << 20) throws -> (FileTree, [String: [UInt8]], Set<String>)
    {
        let tree = try FileTree()
        var files: [String: [UInt8]] = [:]
        var dirs: Set<String> = []
        func add(_ path: String, _ bytes: [UInt8], mtime: Int64 = 0) throws {
            try tree.addFile(path, bytes: bytes, mtime: mtime)
            files[path] = bytes
            var comps = FileTree.components(path)
            comps.removeLast()
            var p = ""
            for c in comps {
                p += "/" + c
                dirs.insert(p)
            }
        }
        try add("/EFI/BOOT/BOOTX64.EFI", bytes(70_000, seed: 1))
        try add("/loader/loader.conf", Array("timeout 0\n".utf8))
        try add("/loader/entries/Ingot Appliance.conf", Array("linux /vmlinuz\ninitrd /initrd.img\n".utf8))
        try add("/config.txt", Array("arm_64bit=1\nenable_uart=1\n".utf8), mtime: 1_700_000_000)
        try add("/README", Array("exact 8.3 name\n".utf8))
        try add("/A very long file name with many characters - 2024 edition.txt", bytes(5000, seed: 2))
        try add("/longname1.txt", Array("one".utf8))
        try add("/LongName2.txt", Array("two".utf8))
        try add("/longname3.txt", Array("three".utf8))
        try add("/Mixed.Case.Name.tar.gz", bytes(1234, seed: 3))
        try add("/ünïcödé ☃.txt", Array("unicode\n".utf8))
        try add("/.hidden", Array("dot file\n".utf8))
        try add("/empty", [])
        try add("/deep/a/b/c/d/file.bin", bytes(4096, seed: 4))
        try add("/big.bin", bytes(bigSize, seed: 5))
        for i in 1...manyFiles {
            try add(String(format: "/many/file-%04d.dat", i), Array("content of file \(i)\n".utf8))
        }
        try tree.addDirectory("/empty-dir")
        dirs.insert("/empty-dir")
        return (tree, files, dirs)
    }
}
