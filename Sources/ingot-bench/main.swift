// ingot-bench: benchmark commands that print figures against a named peer measured in the same
// run: `compose` (tree + initramfs vs a libarchive read), `image` (disk image vs genimage),
// `flash` (ingot flash vs dd and bmaptool) and `closure` (Debian closures vs apt-get + dpkg -x,
// plus warm rebuilds).
// Benchmarks are commands, never tests with timed assertions. See benchmarks/README.md.

import ArgumentParser

struct IngotBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingot-bench",
        abstract: "Ingot benchmarks: figures against a peer measured in the same run.",
        subcommands: [
            ComposeCommand.self, ImageCommand.self, MeasureCommand.self, PhaseCommand.self, FlashBenchCommand.self,
            ClosureCommand.self, ClosurePhaseCommand.self, PullCommand.self,
            PullPhaseCommand.self,
        ])
}

IngotBench.main()
