// Fuzz target: an archive layer (tar in any compression, cpio, ar) applied to a tree, the path
// every `tar:`, `deb:` and OCI layer takes. Errors are expected; traps and hangs are findings.
import Foundation
import IngotTree

let scratch: String = {
    let dir =
        (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
        + "/ingot-fuzz-archive-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}()

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

// SwiftPM links an executable's `main` under its own name, so libFuzzer's `main` never runs;
// its driver is started from here instead (LLVMFuzzerRunDriver, libFuzzer in LLVM 11 and later).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

var arguments = CommandLine.argc
var vector = CommandLine.unsafeArgv
exit(
    LLVMFuzzerRunDriver(&arguments, &vector) { data, size in
        fuzzOne(UnsafeBufferPointer(start: data, count: data == nil ? 0 : size))
    })
