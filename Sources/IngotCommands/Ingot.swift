// The root command: wires subcommands together.
import ArgumentParser

public struct Ingot: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "ingot",
        abstract: "Build, boot-test and flash immutable Linux appliance images.",
        subcommands: [
            BuildCommand.self, RunCommand.self, TestCommand.self, ValidateCommand.self, BoardsCommand.self,
            LockCommand.self, InspectCommand.self, MatrixCommand.self,
            FlashCommand.self,
            DevicesCommand.self, CacheCommand.self,
        ]
    )
    public init() {}
}

extension Ingot {
    /// Parses the command line and awaits the chosen subcommand's `run()`.
    public static func start(_ arguments: [String]? = nil) async {
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
