// Fuzz target: an archive layer (tar in any compression, cpio, ar) applied to a tree, the path
// every `tar:`, `deb:` and OCI layer takes. Errors are expected; traps and hangs are findings.
import Foundation
import FuzzDriver
import IngotTree

let scratch = FuzzDriver.scratch("archive")

func fuzzOne(_ input: UnsafeBufferPointer<UInt8>) -> CInt {
    let path = scratch + "/layer"
    guard FileManager.default.createFile(atPath: path, contents: Data(buffer: input)) else { return 0 }
    do {
        let tree = try FileTree(spool: ContentSpool(directory: scratch))
        try tree.applyLayer(archive: path, label: "fuzz layer")
        // Walk what was built and read every file back, as the writers would.
        try tree.walk { _, node in
            if let content = node.content {
                _ = try tree.bytes(of: content, offset: max(0, content.size - 16), count: 16)
            }
        }
    } catch {}
    return 0
}

FuzzDriver.run(fuzzOne)
