// Tests of the in-memory tree: insertion, links, walking order, spooled content.
import Testing
@testable import IngotTree

@Suite struct FileTreeTests {
    @Test func insertWalkAndHardlinks() throws {
        let tree = try FileTree()
        try tree.addFile("/etc/hostname", text: "box\n")
        try tree.addFile("/bin/busybox", bytes: [UInt8](repeating: 7, count: 10000), permissions: 0o755)
        try tree.addHardlink("/bin/sh", target: "/bin/busybox")
        try tree.addSymlink("/usr/bin", target: "../bin")
        try tree.addFile("/usr/bin/x", text: "via link")  // goes through the symlink into /bin
        var paths: [String] = []
        tree.walk { p, _ in paths.append(p) }
        #expect(
            paths == ["/", "/bin", "/bin/busybox", "/bin/sh", "/bin/x", "/etc", "/etc/hostname", "/usr", "/usr/bin"])
        let counts = tree.linkCounts()
        #expect(counts[ObjectIdentifier(tree.lookup("/bin/sh")!)] == 2)
        let big = try #require(tree.lookup("/bin/busybox")?.content)
        #expect(try tree.bytes(of: big) == [UInt8](repeating: 7, count: 10000))
        #expect(FileTree.normalize("/a/../../b/./c") == "/b/c")
    }
}
