// `ingot-bench measure -- CMD ARGS...`: runs any command once and prints its wall time, CPU time
// and peak RSS (from `wait4`), e.g. to time `ingot build ... --format raw` end to end in ci/bench.

import ArgumentParser
import Foundation

struct MeasureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "measure", abstract: "Run a command and print its wall time, CPU time and peak RSS.")

    @Option(help: "A name for the figures line.")
    var label: String = "command"

    @Option(help: "A file receiving the command's output (default: this terminal).")
    var output: String?

    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments (after --).")
    var command: [String] = []

    enum Error: Swift.Error, CustomStringConvertible {
        case noCommand
        var description: String { "measure needs a command: ingot-bench measure --label NAME -- CMD ARGS..." }
    }

    func run() throws {
        let argv = command.first == "--" ? Array(command.dropFirst()) : command
        guard !argv.isEmpty else { throw Error.noCommand }
        let usage = try ChildProcess.run(argv, output: output, check: false)
        print(
            "\(label): wall \(Figures.s(usage.wall)) s, cpu \(Figures.s(usage.cpu)) s, "
                + "peak RSS \(Figures.mb(usage.peakRSS)) MB, exit \(usage.status)")
        if usage.status != 0 { throw ExitCode(usage.status) }
    }
}
