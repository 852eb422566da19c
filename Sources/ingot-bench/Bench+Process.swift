// Running one benchmark phase in its own process: the benchmark binary re-executes itself with a
// hidden `phase` argument (or runs a peer tool such as genimage), and the parent reads the child's
// peak RSS from `wait4`'s rusage. On Linux that rusage covers the child and every descendant it
// waited for (mksquashfs under genimage, mke2fs under the Ingot phase), so each phase's memory is
// measured alone and peers are charged for their helpers too.

import Foundation
import IngotSystem

#if canImport(Glibc)
    import Glibc
#endif

/// What one child process cost, measured from outside it.
struct ChildUsage {
    /// Wall time from spawn to reaped exit, seconds.
    var wall: Double
    /// Peak resident set size of the child and its waited-for descendants, bytes.
    var peakRSS: Int64
    /// User + system CPU time, seconds.
    var cpu: Double
    /// Exit status (0 = success); 128 + signal number when killed.
    var status: Int32
}

/// The bench's process helpers, on IngotSystem's one child-process type (own process group,
/// ended as a whole on an interrupt; usage from wait4).
enum ChildProcess {
    enum Error: Swift.Error, CustomStringConvertible {
        case spawn(String, String)
        case failed(String, Int32)

        var description: String {
            switch self {
            case .spawn(let cmd, let reason):
                return "cannot start '\(cmd)': \(reason). Is it installed? Run ci/bootstrap."
            case .failed(let cmd, let status):
                return "'\(cmd)' exited with status \(status); its output above says why"
            }
        }
    }

    /// The running benchmark binary, for re-executing a phase.
    static var selfPath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// Runs `argv` (argv[0] is looked up in PATH), waits for it and returns its usage.
    /// - Parameters:
    ///   - argv: the command and its arguments.
    ///   - output: a file receiving the child's stdout and stderr (nil: inherit ours).
    ///   - check: throw when the exit status is not 0.
    @discardableResult
    static func run(_ argv: [String], output: String? = nil, check: Bool = true) throws
        -> ChildUsage
    {
        let shown = argv.joined(separator: " ")
        let configuration = IngotSystem.ChildProcess.Configuration(
            argv[0], Array(argv.dropFirst()), standardInput: .inherit,
            standardOutput: output.map { .file($0) } ?? .inherit,
            standardError: output == nil ? .inherit : .standardOutput)
        let end: IngotSystem.ChildProcess.Termination
        do {
            end = try IngotSystem.ChildProcess.runBlocking(configuration)
        } catch {
            throw Error.spawn(shown, "\(error)")
        }
        let result = ChildUsage(
            wall: end.wallSeconds, peakRSS: end.peakResidentBytes, cpu: end.cpuSeconds, status: end.status.shellStatus)
        if check, result.status != 0 {
            throw Error.failed(shown + (output.map { " (output in \($0))" } ?? ""), result.status)
        }
        return result
    }

    /// Runs a command (not measured) and returns its standard output, for checks such as
    /// `unsquashfs -s`.
    static func capture(_ argv: [String]) throws -> String {
        let shown = argv.joined(separator: " ")
        let end: IngotSystem.ChildProcess.Termination
        do {
            end = try IngotSystem.ChildProcess.runBlocking(
                .init(argv[0], Array(argv.dropFirst()), standardError: .null))
        } catch {
            throw Error.spawn(shown, "\(error)")
        }
        guard end.status.succeeded else { throw Error.failed(shown, end.status.shellStatus) }
        return end.standardOutputText
    }

    /// Runs a shell pipeline (`/bin/sh -c`), for floors such as `cat tar > /dev/null`.
    @discardableResult
    static func shell(_ script: String, check: Bool = true) throws -> ChildUsage {
        try run(["/bin/sh", "-c", script], check: check)
    }
}

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Times `body` and returns its result with the seconds it took.
func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let start = monotonicSeconds()
    let value = try body()
    return (value, monotonicSeconds() - start)
}

/// The figures one phase child reports back to its parent (through a JSON file), merged with what
/// the parent measured from outside.
struct PhaseResult: Codable {
    /// Named durations inside the child, seconds ("compose", "initramfs", "fat", ...).
    var seconds: [String: Double] = [:]
    /// Named counts and sizes ("entries", "bytes", "rootfs", ...).
    var counts: [String: Int64] = [:]

    static func load(_ path: String) throws -> PhaseResult {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try JSONDecoder().decode(PhaseResult.self, from: data)
    }

    func save(_ path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try encoder.encode(self).write(to: URL(fileURLWithPath: path))
    }
}

/// Runs the hidden `phase NAME` of this binary in a child process and returns what it reported
/// plus what it cost.
func runPhase(_ name: String, arguments: [String], scratch: String) throws -> (PhaseResult, ChildUsage) {
    let resultPath = scratch + "/phase-\(name).json"
    try? FileManager.default.removeItem(atPath: resultPath)
    let usage = try ChildProcess.run(
        [ChildProcess.selfPath, "phase", name, "--result", resultPath] + arguments)
    return (try PhaseResult.load(resultPath), usage)
}
