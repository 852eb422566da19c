// Helpers for the squashfs tests: temp directories, running squashfs-tools, the sample tree that
// exercises every inode type, and `ls -l` style mode strings for comparing with unsquashfs.

import Foundation
import IngotSystem
import IngotTree

@testable import IngotFilesystems

/// A temporary directory removed when the value goes away.
final class SquashfsTempDir {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "ingot-sqfs-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

struct SquashfsToolMissing: Error, CustomStringConvertible {
    var tool: String
    var description: String { "\(tool) is not installed (apt-get install squashfs-tools attr)" }
}

enum SquashfsTool {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func path(_ tool: String) -> String? {
        ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map { $0 + "/" + tool }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func run(_ tool: String, _ args: [String]) throws -> Result {
        guard let exe = path(tool) else { throw SquashfsToolMissing(tool: tool) }
        let end = try ChildProcess.runBlocking(
            .init(exe, args, environment: ["LC_ALL": "C", "TZ": "UTC"], standardOutput: .capture(limit: 1 << 29)))
        return Result(status: end.status.shellStatus, stdout: end.standardOutputText, stderr: end.standardErrorText)
    }
}

/// Deterministic pseudo-random bytes (xorshift), so "incompressible" fixtures are reproducible.
func squashfsNoise(_ count: Int, seed: UInt64) -> [UInt8] {
    var x = seed | 1
    var out = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
        out[i] = UInt8(truncatingIfNeeded: x)
    }
    return out
}

/// A tree with every inode type and the layouts the writer must handle.
func squashfsSampleTree() throws -> FileTree {
    let t = try FileTree()
    let epoch: Int64 = 1_700_000_000
    t.root.mtime = epoch
    try t.addDirectory("/etc", mtime: epoch)
    t.lookup("/etc")?.xattrs = ["user.comment": Array("config".utf8)]
    try t.addFile("/etc/hostname", text: "ingot\n", mtime: epoch)
    try t.addDirectory("/etc/empty.d", permissions: 0o700, mtime: epoch)
    try t.addSymlink("/etc/hostlink", target: "/etc/hostname", mtime: epoch)
    try t.addSymlink("/lib", target: "usr/lib", mtime: epoch)
    try t.addFile("/empty", bytes: [], mtime: epoch)
    try t.addDirectory("/a/b/c/d", mtime: epoch)
    try t.addFile("/a/b/c/d/deep.txt", text: "deep\n", mtime: epoch - 5)

    // Data layouts: multi-block with tail, exactly two blocks, incompressible, sparse zeros.
    var big: [UInt8] = []
    for i in 0..<(1_572_864 + 777) { big.append(UInt8(truncatingIfNeeded: (i / 7) ^ (i % 251))) }
    try t.addFile("/data/big.bin", bytes: big, mtime: epoch)
    try t.addFile("/data/big-copy.bin", bytes: big, permissions: 0o600, mtime: epoch)  // duplicate content
    var nearly = big
    nearly[big.count - 1] ^= 1  // same size, one byte differs: must not be merged
    try t.addFile("/data/big-nearly.bin", bytes: nearly, mtime: epoch)
    try t.addFile("/etc/hostname.bak", text: "ingot\n", mtime: epoch)
    try t.addFile("/data/two-blocks", bytes: [UInt8](repeating: 0x41, count: 2 * 131072), mtime: epoch)
    try t.addFile("/data/random.bin", bytes: squashfsNoise(300_000, seed: 42), mtime: epoch)
    var sparse = [UInt8](repeating: 0, count: 3 * 131072 + 100)
    sparse[131072 + 5] = 7
    try t.addFile("/data/sparse.img", bytes: sparse, mtime: epoch)

    // Owners, setuid, capabilities, hard links.
    try t.addDirectory("/usr/bin", mtime: epoch)
    try t.addDirectory("/usr/lib", mtime: epoch)
    try t.addFile("/usr/bin/tool", text: "#!/bin/sh\necho tool\n", permissions: 0o4755, mtime: epoch)
    try t.addHardlink("/usr/bin/tool-link", target: "/usr/bin/tool")
    try t.addHardlink("/etc/tool-link2", target: "/usr/bin/tool")
    let ping = try t.addFile("/usr/bin/ping", bytes: squashfsNoise(5000, seed: 7), permissions: 0o2755, mtime: epoch)
    ping.xattrs = ["security.capability": [1, 0, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]
    try t.addDirectory("/home/user", permissions: 0o750, uid: 1000, gid: 1000, mtime: epoch)
    try t.addFile("/home/user/notes", text: "mine\n", permissions: 0o600, uid: 1000, gid: 1000, mtime: epoch)
    try t.addFile("/home/nobody", text: "nobody\n", uid: 65534, gid: 65534, mtime: epoch)
    try t.addDirectory("/tmp", permissions: 0o1777, mtime: epoch)

    // Special files.
    try t.insert(Node(kind: .characterDevice(major: 1, minor: 3), permissions: 0o666, mtime: epoch), at: "/dev/null")
    try t.insert(
        Node(kind: .blockDevice(major: 8, minor: 1), permissions: 0o660, gid: 6, mtime: epoch), at: "/dev/sda1")
    try t.insert(
        Node(kind: .characterDevice(major: 300, minor: 70000), permissions: 0o600, mtime: epoch), at: "/dev/wide")
    try t.insert(Node(kind: .fifo, permissions: 0o644, mtime: epoch), at: "/run/initctl")
    try t.insert(Node(kind: .socket, permissions: 0o755, mtime: epoch), at: "/run/sock")
    try t.addHardlink("/run/initctl-link", target: "/run/initctl")

    // A directory big enough for several headers and index entries.
    try t.addDirectory("/many", mtime: epoch)
    for i in 0..<1000 {
        let name = String(format: "/many/entry-with-a-rather-long-name-%04d", i)
        if i % 3 == 0 {
            try t.addSymlink(name, target: "../etc/hostname", mtime: epoch)
        } else {
            try t.addFile(name, text: "entry \(i)\n", mtime: epoch)
        }
    }
    t.walk { _, node in if node.mtime == 0 { node.mtime = epoch } }
    return t
}

/// `ls -l` style mode string (as unsquashfs -lln prints it).
func squashfsModeString(_ mode: UInt32) -> String {
    let type: Character
    switch mode & 0o170000 {
    case 0o040000: type = "d"
    case 0o120000: type = "l"
    case 0o020000: type = "c"
    case 0o060000: type = "b"
    case 0o010000: type = "p"
    case 0o140000: type = "s"
    default: type = "-"
    }
    var s = String(type)
    let bits: [(UInt32, Character)] = [
        (0o400, "r"), (0o200, "w"), (0o100, "x"), (0o040, "r"), (0o020, "w"), (0o010, "x"), (0o004, "r"),
        (0o002, "w"), (0o001, "x"),
    ]
    for (i, (bit, c)) in bits.enumerated() {
        var ch: Character = mode & bit != 0 ? c : "-"
        if i == 2, mode & 0o4000 != 0 { ch = mode & bit != 0 ? "s" : "S" }
        if i == 5, mode & 0o2000 != 0 { ch = mode & bit != 0 ? "s" : "S" }
        if i == 8, mode & 0o1000 != 0 { ch = mode & bit != 0 ? "t" : "T" }
        s.append(ch)
    }
    return s
}
