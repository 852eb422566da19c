// Fuzz target: the appliance spec loader on arbitrary bytes. Every input must end in a spec or a
// SpecError; a trap (overflow, force unwrap, index out of range) or a hang is a finding.
import Foundation
import FuzzDriver
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

FuzzDriver.run(fuzzOne)
