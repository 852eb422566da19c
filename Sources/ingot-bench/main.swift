// ingot-bench: benchmark commands that print figures against a named peer measured in the same
// run: `compose` (tree + initramfs vs a libarchive read) and `image` (disk image vs genimage).
// Benchmarks are commands, never tests with timed assertions. See benchmarks/README.md.

import ArgumentParser

struct IngotBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingot-bench",
        abstract: "Ingot benchmarks: figures against a peer measured in the same run.",
        subcommands: [ComposeCommand.self, ImageCommand.self, MeasureCommand.self, PhaseCommand.self, FlashBenchCommand.self])
}

IngotBench.main()
