// Fuzz target: `ingot inspect` on arbitrary disk images: libfdisk's table, then Ingot's own
// arithmetic on the entries (offsets, sizes, hybrid MBR detection) and libblkid probes.
import Foundation
import FuzzDriver
import IngotDisk

let scratch = FuzzDriver.scratch("inspect")

func fuzzOne(_ input: UnsafeBufferPointer<UInt8>) -> CInt {
    let path = scratch + "/disk.bin"
    guard FileManager.default.createFile(atPath: path, contents: Data(buffer: input)) else { return 0 }
    if let report = try? ImageInspector.inspect(path: path) {
        _ = report.table()
        for p in report.partitions { precondition(p.offset >= 0 && p.size >= 0) }
    }
    return 0
}

FuzzDriver.run(fuzzOne)
