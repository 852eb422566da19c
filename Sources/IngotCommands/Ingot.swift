// The root command: wires subcommands together.
import ArgumentParser

public struct Ingot: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "ingot",
        abstract: "Build, boot-test and flash immutable Linux appliance images.",
        subcommands: []
    )
    public init() {}
}
