// Fuzz target: an `oci-archive:` (a tar holding index.json and blobs) resolved for amd64: the
// tar reader, the digest checks, the JSON documents and the index walk (nesting, platforms).
import Dispatch
import Foundation
import IngotSources
import IngotSpec

let scratch: String = {
    let dir =
        (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
        + "/ingot-fuzz-oci-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}()

final class Outcome: @unchecked Sendable { var error: Error? }

func fuzzOne(_ input: UnsafeBufferPointer<UInt8>) -> CInt {
    let archive = scratch + "/image.tar"
    let storeRoot = scratch + "/store"
    try? FileManager.default.removeItem(atPath: storeRoot)
    guard FileManager.default.createFile(atPath: archive, contents: Data(buffer: input)),
        let store = try? ContentStore(root: storeRoot)
    else { return 0 }
    let resolver = SourceResolver(store: store, lock: nil, arch: .amd64, logger: nil)
    let done = DispatchSemaphore(value: 0)
    let outcome = Outcome()
    Task {
        do { _ = try await resolver.resolve(ref: .ociArchive(path: archive)) } catch { outcome.error = error }
        done.signal()
    }
    done.wait()
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
