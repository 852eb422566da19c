// Machine flags shared by `test` and `run` (`--bus` is the commands' own): a larger disk around
// the image (`--disk-size`), and a real board in a lab (`--lab FILE`, `test` only) instead of QEMU.

import ArgumentParser
import Foundation
import IngotBoot
import IngotContract
import IngotSpec
import Logging

extension Flags {
    /// `--disk-size`, `--lab`.
    public struct Machine: ParsableArguments {
        @Option(
            name: .long,
            help:
                "Boot the image inside a disk of this size (e.g. 8G, 32G, 512M): a per-run overlay; the image is never written."
        )
        public var diskSize: String?

        @Option(
            name: .long,
            help: "Boot a real board described by this lab file (serial device + power commands) instead of QEMU.")
        public var lab: String?

        public init() {}

        public func validate() throws {
            if let diskSize, Self.parseSize(diskSize) == nil {
                throw ValidationError(
                    "--disk-size '\(diskSize)' is not a size; write a number with a unit: 512M, 8G, 32G")
            }
        }

        /// `--disk-size` in bytes.
        public var diskSizeBytes: UInt64? { diskSize.flatMap(Self.parseSize) }

        /// `512M`, `8G`, `1T`, `4096` (bytes); binary units (K, M, G, T, optionally followed by `i`/`iB`/`B`).
        static func parseSize(_ text: String) -> UInt64? {
            var digits = text.trimmingCharacters(in: .whitespaces)
            for suffix in ["iB", "B", "i"] where digits.hasSuffix(suffix) && digits.count > suffix.count + 1 {
                digits.removeLast(suffix.count)
                break
            }
            let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
            var scale: UInt64 = 1
            if let last = digits.last, let unit = units[Character(last.uppercased())] {
                scale = unit
                digits.removeLast()
            }
            guard let value = UInt64(digits), value > 0 else { return nil }
            let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
            return overflow ? nil : bytes
        }
    }
}

extension Flags.Machine {
    /// Where the boot runs: QEMU, or the lab's real board when `--lab` is given.
    func backend(target: BootTarget, logger: Logger) throws -> BootBackend {
        guard let lab else { return QEMUProcess(logger: logger) }
        let profile = try LabProfile.load(path: absolutePath(lab))
        if let board = profile.board, board != target.board.name {
            throw CommandError(
                "\(profile.path): the lab's board is \(board), but \(target.label) is for \(target.board.name); use the lab file of a \(target.board.name) or rebuild for \(board)"
            )
        }
        var image: String?
        if case .disk(let path, _) = target.artifacts.kind { image = absolutePath(path) }
        if case .iso(let path) = target.artifacts.kind { image = absolutePath(path) }
        return LabBackend(profile: profile, image: image, logger: logger)
    }

    /// The machine plan: QEMU's, or for a lab run a plan that only names the board (the board
    /// boots its medium; no emulator is needed on this host).
    func plan(target: BootTarget, _ make: () throws -> MachinePlan) throws -> MachinePlan {
        guard lab != nil else { return try make() }
        return MachinePlan(
            board: target.board.name, executable: "lab", arguments: [], accelerator: "lab",
            notes: ["lab run: \(lab ?? "")"])
    }

    /// Runs a boot; lab infrastructure failures (a power command, the serial device, the lab
    /// file) end the command with exit status 2, never as a guest failure (1).
    func infrastructure<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as LabBackend.Error {
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            throw ExitCode(2)
        } catch let error as SpecError where lab != nil {
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            throw ExitCode(2)
        } catch let error as CommandError where lab != nil {
            FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
