// ChildProcess against real processes: the whole group ends (grandchildren that ignore SIGTERM
// included), cancellation ends the group and throws, large outputs on both streams never
// deadlock, captured output is bounded, stdout streams line by line while the child runs, and
// stdin, environment and working directory reach the child.

import Foundation
import IngotSystem
import IngotTestSupport
import Testing

/// State of a pid from /proc: nil when gone, "Z" for a zombie.
func processState(_ pid: pid_t) -> String? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else {
        return nil
    }
    return stat[stat.index(after: close)...].split(separator: " ").first.map(String.init)
}

/// True while `pid` is a live (non-zombie) process.
func isLive(_ pid: pid_t) -> Bool {
    guard let state = processState(pid) else { return false }
    return state != "Z" && state != "X"
}

/// Reads the first line a streamed child prints.
func firstLine(_ child: ChildProcess) async -> String? {
    guard let stream = child.standardOutputStream else { return nil }
    for await line in stream.lines { return line }
    return nil
}

@Suite struct ChildProcessTests {
    /// A leader that dies on SIGTERM and a grandchild (same group) that ignores it.
    static let stubborn = #"sh -c 'trap "" TERM; echo $$; exec sleep 300' & wait"#

    @Test func terminateEndsGrandchildrenThatIgnoreSIGTERM() async throws {
        let child = try ChildProcess.spawn(.init("/bin/sh", ["-c", Self.stubborn], standardOutput: .stream))
        let line = try #require(await firstLine(child))
        let grandchild = try #require(pid_t(line))
        #expect(isLive(grandchild))
        #expect(ProcessGroup.liveMembers(of: child.pid).contains(grandchild))

        let clock = Date()
        child.terminate(grace: 0.5)
        let end = try await child.wait()
        let seconds = Date().timeIntervalSince(clock)
        #expect(end.status == .signaled(SIGTERM), "the leader ends on SIGTERM")
        #expect(end.wasTerminated)
        #expect(seconds >= 0.5, "the grandchild ignores SIGTERM: only SIGKILL after the grace ends it (\(seconds) s)")
        #expect(!isLive(grandchild), "grandchild \(grandchild) survived: \(processState(grandchild) ?? "gone")")
        #expect(ProcessGroup.liveMembers(of: child.pid).isEmpty)
    }

    @Test func membersLeftBehindByAnExitingLeaderAreEnded() async throws {
        // The leader exits at once; its background child (same group) would run for 300 s.
        let end = try await ChildProcess.run(.init("/bin/sh", ["-c", "sleep 300 & echo $!"], graceSeconds: 0.5))
        let orphan = try #require(pid_t(end.standardOutputText.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(end.status == .exited(0))
        #expect(!isLive(orphan), "background member \(orphan) was left running")
        #expect(end.wallSeconds < 10)
    }

    @Test func cancellationEndsTheGroupAndThrows() async throws {
        let marker = try TemporaryDirectory("ingot-system-cancel")
        let pidFile = marker.file("grandchild")
        let task = Task {
            try await ChildProcess.run(
                .init(
                    "/bin/sh", ["-c", #"sh -c 'trap "" TERM; echo $$ > "$0"; exec sleep 300' "\#(pidFile)" & wait"#],
                    graceSeconds: 0.3))
        }
        var grandchild: pid_t?
        for _ in 0..<200 where grandchild == nil {
            grandchild = (try? String(contentsOfFile: pidFile, encoding: .utf8)).flatMap {
                pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            if grandchild == nil { try await Task.sleep(nanoseconds: 20_000_000) }
        }
        let stray = try #require(grandchild)
        task.cancel()
        let outcome = await task.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        #expect(!isLive(stray), "the cancelled run left \(stray) running")
    }

    @Test func largeOutputOnBothStreamsDoesNotDeadlock() async throws {
        // 24 MB on each stream at the same time: far more than a pipe buffer.
        let script = "head -c 24000000 /dev/zero >&2 & head -c 24000000 /dev/zero; wait"
        let end = try await ChildProcess.run("/bin/sh", ["-c", script])
        #expect(end.status == .exited(0))
        #expect(end.standardOutput.count == 24_000_000)
        #expect(end.standardError.count == 24_000_000)
        #expect(end.droppedBytes == 0)
    }

    @Test func capturedOutputIsBoundedToItsTail() throws {
        let end = try ChildProcess.runBlocking(.init("seq", ["1", "200000"], standardOutput: .capture(limit: 1000)))
        let full = (1...200_000).map(String.init).joined(separator: "\n") + "\n"
        #expect(end.standardOutput.count == 1000)
        #expect(end.standardOutputText == String(full.suffix(1000)))
        #expect(end.droppedBytes == full.utf8.count - 1000)
    }

    @Test func standardOutputStreamsLineByLineWhileTheChildRuns() async throws {
        // The child prints its second line only after the test has seen the first one (it gives
        // up after 10 min and says so): only a real stream can satisfy it. The bound is long
        // because the reading task can wait minutes for a thread while boot tests run beside it.
        let directory = try TemporaryDirectory("ingot-system-lines")
        let go = directory.file("go")
        let script = """
            echo line 1
            i=0; while [ ! -e '\(go)' ] && [ $i -lt 12000 ]; do sleep 0.05; i=$((i+1)); done
            [ -e '\(go)' ] && echo line 2 || echo gave up
            printf 'no newline'
            """
        let child = try ChildProcess.spawn(.init("/bin/sh", ["-c", script], standardOutput: .stream))
        var lines: [String] = []
        for await line in try #require(child.standardOutputStream).lines {
            if lines.isEmpty { _ = FileManager.default.createFile(atPath: go, contents: nil) }
            lines.append(line)
        }
        #expect(lines == ["line 1", "line 2", "no newline"])
        #expect(try await child.wait().status == .exited(0))
    }

    @Test func inputEnvironmentAndWorkingDirectoryReachTheChild() async throws {
        let directory = try TemporaryDirectory("ingot-system-cwd")
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let cat = try await ChildProcess.run("cat", [], input: .bytes(bytes))
        #expect(cat.standardOutput == bytes)

        try Data("from a file\n".utf8).write(to: URL(fileURLWithPath: directory.file("in")))
        let fromFile = try await ChildProcess.run("cat", [], input: .file(directory.file("in")))
        #expect(fromFile.standardOutputText == "from a file\n")

        let env = try await ChildProcess.run(
            "/bin/sh", ["-c", "pwd; echo $INGOT_SYSTEM_TEST"], environment: ["INGOT_SYSTEM_TEST": "x=1"],
            workingDirectory: directory.path)
        #expect(env.standardOutputText == "\(directory.path)\nx=1\n")

        let child = try ChildProcess.spawn(.init("tr", ["a-z", "A-Z"], standardInput: .pipe))
        try child.writeInput(Array("piped\n".utf8))
        child.closeInput()
        #expect(try await child.wait().standardOutputText == "PIPED\n")

        let merged = try await ChildProcess.run(
            .init("/bin/sh", ["-c", "echo out; echo err >&2"], standardError: .standardOutput))
        #expect(merged.standardOutputText == "out\nerr\n" && merged.standardError.isEmpty)

        _ = try await ChildProcess.run(
            .init("/bin/sh", ["-c", "echo to-file"], standardOutput: .file(directory.file("out"))))
        #expect(try String(contentsOfFile: directory.file("out"), encoding: .utf8) == "to-file\n")
    }

    @Test func missingExecutablesAndRedirectsAreClearErrors() throws {
        #expect(throws: ChildProcess.Error.self) { try ChildProcess.spawn(.init("ingot-no-such-tool")) }
        do {
            _ = try ChildProcess.spawn(.init("ingot-no-such-tool"))
        } catch let error as ChildProcess.Error {
            guard case .notFound(let name, let searched) = error else {
                Issue.record("expected .notFound, got \(error)")
                return
            }
            #expect(name == "ingot-no-such-tool" && searched.contains("/usr/sbin"))
            #expect("\(error)".contains("ci/bootstrap"))
        }
        do {
            _ = try ChildProcess.spawn(.init("cat", standardInput: .file("/nonexistent/input")))
            Issue.record("a missing input file was accepted")
        } catch let error as ChildProcess.Error {
            #expect(
                error == .redirect(stream: "standard input", path: "/nonexistent/input", errno: .noSuchFileOrDirectory))
        }
    }

    @Test func exitStatusAndResourceUsage() throws {
        let failing = try ChildProcess.runBlocking("/bin/sh", ["-c", "exit 3"])
        #expect(failing.status == .exited(3) && failing.status.shellStatus == 3 && !failing.wasTerminated)
        // A child that touches 64 MiB shows it in its peak RSS.
        let big = try ChildProcess.runBlocking("/bin/sh", ["-c", "head -c 67108864 /dev/zero | tail -c 1 > /dev/null"])
        #expect(big.status == .exited(0))
        #expect(big.peakResidentBytes > 0 && big.cpuSeconds >= 0)
    }
}
