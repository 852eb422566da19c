// Fuzz target: `ingot inspect` on arbitrary disk images: libfdisk's table, then Ingot's own
// arithmetic on the entries (offsets, sizes, hybrid MBR detection) and libblkid probes.
import Foundation
import IngotDisk

let scratch: String = {
    let dir =
        (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
        + "/ingot-fuzz-inspect-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}()

func fuzzOne(_ input: UnsafeBufferPointer<UInt8>) -> CInt {
    let path = scratch + "/disk.bin"
    guard FileManager.default.createFile(atPath: path, contents: Data(buffer: input)) else { return 0 }
    if let report = try? ImageInspector.inspect(path: path) {
        _ = report.table()
        for p in report.partitions { precondition(p.offset >= 0 && p.size >= 0) }
    }
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
