// Fuzz target: the appliance spec loader on arbitrary bytes. Every input must end in a spec or a
// SpecError; a trap (overflow, force unwrap, index out of range) or a hang is a finding.
import Foundation
import IngotSpec

func fuzzOne(_ input: UnsafeBufferPointer<UInt8>) -> CInt {
    let text = String(decoding: input, as: UTF8.self)
    do {
        let spec = try SpecLoader.parse(
            yaml: text, file: "fuzz.yml", baseDirectory: "/nonexistent", checkSources: false)
        // What a later stage relies on: names and paths that can be written anywhere.
        precondition(!spec.name.utf8.contains(0) && spec.files.allSatisfy { !$0.path.utf8.contains(0) })
        if let size = spec.data?.size { precondition(size <= DataSpec.maximumSize) }
    } catch is SpecError {
    } catch {
        fatalError("SpecLoader threw a non-SpecError: \(error)")
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
