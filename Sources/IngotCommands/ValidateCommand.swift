// `ingot validate SPEC`: strict check of a spec (and optionally its boards), no build.

import ArgumentParser
import IngotSpec

struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate", abstract: "Check an appliance spec strictly; errors name file:line:column.")

    @Argument(help: "The appliance spec (YAML).") var spec: String
    @OptionGroup var boards: Flags.Boards

    func run() async throws {
        let s = try SpecLoader.load(path: spec)
        let selected = try boards.selected(required: false)
        print(
            "\(spec): ok — appliance '\(s.name)': \(s.initImages.count) init image(s), \(s.onboot.count) onboot, "
                + "\(s.services.count) service(s), \(s.onshutdown.count) onshutdown, \(s.files.count) file(s)")
        for b in selected { print("  board \(b.name): ok (\(b.arch.rawValue), \(b.bootloader.rawValue))") }
    }
}
