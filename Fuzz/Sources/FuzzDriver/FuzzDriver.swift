// What every fuzz target shares: libFuzzer's driver, started from the target's own `main`, and a
// scratch directory (in /dev/shm when there is one) that is removed when the run ends.
import Foundation

// SwiftPM links an executable's `main` under its own name, so libFuzzer's `main` never runs; its
// driver is started from here instead (LLVMFuzzerRunDriver, libFuzzer in LLVM 11 and later).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The target's function, for the C callback (which cannot capture it). Set once, before the
/// driver starts; libFuzzer calls back on the thread that started it.
nonisolated(unsafe) private var target: ((UnsafeBufferPointer<UInt8>) -> CInt)?
/// The scratch directory to remove at exit.
nonisolated(unsafe) private var scratchDirectory: String?

public enum FuzzDriver {
    /// A fresh scratch directory for this run (`ingot-fuzz-NAME-PID`), removed at exit.
    public static func scratch(_ name: String) -> String {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        let directory = base + "/ingot-fuzz-\(name)-\(getpid())"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        scratchDirectory = directory
        atexit {
            if let directory = scratchDirectory { try? FileManager.default.removeItem(atPath: directory) }
        }
        return directory
    }

    /// Runs libFuzzer with the process's arguments, calling `fuzzOne` for every input; exits with
    /// libFuzzer's status.
    public static func run(_ fuzzOne: @escaping (UnsafeBufferPointer<UInt8>) -> CInt) -> Never {
        target = fuzzOne
        var arguments = CommandLine.argc
        var vector = CommandLine.unsafeArgv
        exit(
            LLVMFuzzerRunDriver(&arguments, &vector) { data, size in
                target?(UnsafeBufferPointer(start: data, count: data == nil ? 0 : size)) ?? 0
            })
    }
}
