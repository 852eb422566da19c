// Ctrl-C on `ingot matrix` (SIGINT to ingot alone, as a terminal sends it to ingot's foreground
// group while QEMU runs in its own): every running QEMU group is ended, no retry or pending cell
// starts another, and ingot exits non-zero. The libvirt counterpart is in LibvirtBootTests.

import Foundation
import IngotSystem
import IngotTestSupport
import Testing

@Suite(.serialized) struct MatrixInterruptTests {
    /// QEMU processes whose command line mentions `directory`.
    static func emulators(in directory: String) throws -> String {
        try Command.shell("pgrep -af '[q]emu-system.*\(directory)' || true").trimmed
    }

    @Test(.requires("qemu-system-x86_64")) func ctrlCOnMatrixEndsQEMU() throws {
        let out = try TemporaryDirectory("ingot-matrix-interrupt")
        let matrix = try Command.startIngot(
            // --settle keeps the cell running long after readiness: the interrupt lands mid-run.
            [
                "matrix", "examples/hello.yml", "--board", "x86_64-efi", "--format", "kernel+initrd", "-o",
                out.file("m"), "--retries", "2",
                "--settle", "600",
            ],
            stdout: .file(out.file("stdout")), stderr: .file(out.file("stderr")))
        // Bounded: the matrix builds hello first (slow on a busy machine), then boots it.
        var booting = false
        for _ in 0..<6000 where !booting && !matrix.hasEnded {
            booting = !(try Self.emulators(in: out.path)).isEmpty
            if !booting { usleep(100_000) }
        }
        let said = {
            ((try? String(contentsOfFile: out.file("stdout"), encoding: .utf8)) ?? "")
                + ((try? String(contentsOfFile: out.file("stderr"), encoding: .utf8)) ?? "")
        }
        try #require(booting, "QEMU never started: \(said().suffix(500))")
        kill(matrix.pid, SIGINT)
        let end = matrix.waitBlocking(seconds: 120)
        if end == nil { matrix.kill() }
        #expect(end != nil, "ingot matrix did not end within 120 s of Ctrl-C")
        #expect(end?.status != .exited(0), "\(said().suffix(500))")
        #expect(try Self.emulators(in: out.path).isEmpty, "QEMU left running after Ctrl-C")
        #expect(said().contains("interrupted by signal 2"), "\(said().suffix(500))")
    }
}
