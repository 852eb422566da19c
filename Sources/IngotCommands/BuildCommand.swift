// `ingot build SPEC --board B [--board B2] [--format raw,qcow2,...] -o DIR`.

import ArgumentParser
import Foundation
import IngotBuild
import IngotContract
import IngotSpec

struct BuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build", abstract: "Build the appliance for each board into the output directory.",
        discussion: """
            Every board × format is checked before anything is built. The outputs of
            a build are DIR/NAME-BOARD.* and DIR/NAME-BOARD.manifest.json lists them;
            the manifest is replaced last, and outputs of an earlier build of the same
            NAME-BOARD that the new manifest does not list are removed. A second build
            into the same DIR and NAME-BOARD waits for the first to finish.
            """)

    @Argument(help: "The appliance spec (YAML).") var spec: String
    @OptionGroup var boards: Flags.Boards
    @OptionGroup var output: Flags.Output
    @OptionGroup var store: Flags.Store
    @OptionGroup var registry: Flags.Registry
    @OptionGroup var logs: Flags.Logs
    @Option(name: .long, help: "Output formats, comma-separated: raw, qcow2, iso, kernel+initrd, tar.")
    var format: String = "raw"

    func validate() throws {
        _ = try parseOption(format, option: "--format", as: OutputFormat.self)
        try store.requireNamedLock()
    }

    func run() async throws {
        let logger = logs.logger()
        let formats = try parseOption(format, option: "--format", as: OutputFormat.self)
        let appliance = try SpecLoader.load(path: spec)
        let selected = try boards.selected()
        let catalog = try boards.catalog()
        // Every board × format before any work: nothing is built when one pair cannot exist.
        try Builder.checkFormats(formats, boards: selected, spec: appliance)
        var options = BuildOptions(
            outputDirectory: absolutePath(output.output), formats: formats, storeRoot: store.cache,
            lockPath: store.lockPath(boardsDirectory: catalog.directory), lockRequired: store.lock != nil)
        options.registry = try registry.options()
        let builder = Builder(spec: appliance, options: options, logger: logger)
        for board in selected {
            let started = Date()
            let result = try await builder.build(board: board)
            let secs = String(format: "%.1f", Date().timeIntervalSince(started))
            if !logs.quiet {
                print("built \(appliance.name) for \(board.name) in \(secs) s:")
                for o in result.manifest.outputs {
                    print("  \(output.output)/\(o.name)  \(o.size) bytes  sha256:\(o.sha256.prefix(16))…")
                }
                print("  \(output.output)/\((result.manifestPath as NSString).lastPathComponent)")
            }
        }
    }
}
