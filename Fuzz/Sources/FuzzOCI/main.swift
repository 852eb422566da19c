// Fuzz target: an `oci-archive:` (a tar holding index.json and blobs) resolved for amd64: the
// tar reader, the digest checks, the JSON documents and the index walk (nesting, platforms).
import Dispatch
import Foundation
import FuzzDriver
import IngotSources
import IngotSpec

let scratch = FuzzDriver.scratch("oci")

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

FuzzDriver.run(fuzzOne)
