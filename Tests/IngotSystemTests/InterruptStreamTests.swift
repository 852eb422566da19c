// The interrupt signal stream, in a child test process (signals are process-wide, and other
// suites run children in this one): SIGTERM to a process with only cleanups registered ends its
// live children (one ignores SIGTERM), runs the cleanup and ends the process by SIGTERM; with a
// subscriber, the process sees the signal on the stream and carries on.

import Foundation
import IngotSystem
import IngotTestSupport
import Testing

@Suite struct InterruptStreamTests {
    static let directoryVariable = "INGOT_SYSTEM_INTERRUPT_CHILD"
    static let modeVariable = "INGOT_SYSTEM_INTERRUPT_MODE"

    /// The child side: does nothing unless started by the tests below.
    @Test func interruptChild() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let directory = environment[Self.directoryVariable], let mode = environment[Self.modeVariable] else {
            return
        }
        @Sendable func note(_ name: String, _ text: String) {
            try? text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
        }
        _ = InterruptStream.shared.addCleanup { note("cleaned", "yes") }
        let sleeper = try ChildProcess.spawn(
            .init("/bin/sh", ["-c", "trap '' TERM; exec sleep 300"], graceSeconds: 0.5))
        note("sleeper", "\(sleeper.pid)")
        if mode == "subscribe" {
            let stream = InterruptStream.shared.subscribe()
            note("ready", "yes")
            for await signal in stream {
                note("received", "\(signal)")
                break
            }
            _ = sleeper.waitBlocking(seconds: 10)
            note("carried-on", sleeper.hasEnded ? "sleeper ended" : "sleeper alive")
            // Cleanups run once the children are gone; stay until they have.
            for _ in 0..<200 where !FileManager.default.fileExists(atPath: directory + "/cleaned") { usleep(50_000) }
            return
        }
        note("ready", "yes")
        try await Task.sleep(nanoseconds: 60_000_000_000)
        note("not-ended", "the signal did not end the process")
    }

    /// Starts the child test process in `mode` and sends it SIGTERM once it is ready.
    static func interruptChildProcess(mode: String) throws -> (ChildProcess.Termination?, TemporaryDirectory) {
        let directory = try TemporaryDirectory("ingot-system-interrupt")
        let child = try ChildProcess.spawn(
            .init(
                CommandLine.arguments[0], ["--testing-library", "swift-testing", "--filter", "interruptChild"],
                environment: [directoryVariable: directory.path, modeVariable: mode],
                standardOutput: .file(directory.file("log")),
                standardError: .standardOutput))
        var ready = false
        for _ in 0..<1200 where !ready {
            ready = FileManager.default.fileExists(atPath: directory.file("ready"))
            if !ready { usleep(50_000) }
        }
        #expect(ready, "the child test process never got ready")
        kill(child.pid, SIGTERM)  // to the process only, as a shell's `kill` would
        let end = child.waitBlocking(seconds: 60)
        if end == nil { child.kill() }
        return (end, directory)
    }

    static func read(_ directory: TemporaryDirectory, _ name: String) -> String? {
        try? String(contentsOfFile: directory.file(name), encoding: .utf8)
    }

    @Test func interruptEndsChildrenRunsCleanupsAndEndsTheProcess() throws {
        let (end, directory) = try Self.interruptChildProcess(mode: "cleanup")
        #expect(end?.status == .signaled(SIGTERM), "log: \(Self.read(directory, "log") ?? "")")
        #expect(Self.read(directory, "cleaned") == "yes")
        #expect(Self.read(directory, "not-ended") == nil)
        let sleeper = try #require(Self.read(directory, "sleeper").flatMap { pid_t($0) })
        #expect(!isLive(sleeper), "the child that ignores SIGTERM survived the interrupt")
    }

    @Test func subscriberSeesTheSignalAndTheProcessCarriesOn() throws {
        let (end, directory) = try Self.interruptChildProcess(mode: "subscribe")
        #expect(end?.status == .exited(0), "log: \(Self.read(directory, "log") ?? "")")
        #expect(Self.read(directory, "received") == "\(SIGTERM)")
        #expect(Self.read(directory, "carried-on") == "sleeper ended")
        #expect(Self.read(directory, "cleaned") == "yes")
    }
}
