// A real board in a lab as a boot backend: the board's console is a serial device, the user's
// commands switch its power (and optionally its boot medium). One run: power off (a clean start),
// switch the medium to the image, open the console, power on, feed the console to the same stage
// watcher as QEMU (same patterns, timeouts and verdicts), and power off again — always, on a
// verdict, an error, cancellation or Ctrl-C. A failing command or a missing serial device is an
// infrastructure error (thrown), never a guest failure.

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif
import Foundation
import IngotSystem
import IngotContract
import IngotSpec
import Logging

/// Boots images on a real board described by a lab file.
public final class LabBackend: BootBackend, Sendable {
    /// Infrastructure errors of a lab run (the exit code 2 kind).
    public enum Error: Swift.Error, CustomStringConvertible {
        /// A power or media command exited non-zero.
        case commandFailed(role: String, command: String, status: String, output: String, location: SourceLocation?)
        /// A command ran past the lab's command timeout (it was ended).
        case commandTimedOut(role: String, command: String, seconds: Double, location: SourceLocation?)
        /// The serial device is missing or unusable.
        case serial(reason: String, location: SourceLocation?)
        /// ingot received a signal; the board was powered off.
        case interrupted(signal: Int32)
        /// The task was cancelled; the board was powered off.
        case cancelled
        /// The serial log could not be written.
        case logFile(path: String, reason: String)

        public var description: String {
            func at(_ location: SourceLocation?) -> String { location.map { "\($0): " } ?? "" }
            switch self {
            case .commandFailed(let role, let command, let status, let output, let location):
                let tail = output.split(separator: "\n").suffix(5).joined(separator: " / ")
                return "\(at(location))lab \(role) command failed (\(status)): \(command)"
                    + (tail.isEmpty ? "" : " — it said: \(tail)")
                    + "; fix the command in the lab file (this is not a guest failure)"
            case .commandTimedOut(let role, let command, let seconds, let location):
                return
                    "\(at(location))lab \(role) command did not finish in \(Int(seconds)) s and was stopped: \(command); "
                    + "make it return (redirect background processes' output) or raise command-timeout"
            case .serial(let reason, let location):
                return
                    "\(at(location))\(reason); check serial.device in the lab file (is the adapter plugged in, do you have access?)"
            case .interrupted(let signal):
                return "interrupted by signal \(signal); the board was powered off"
            case .cancelled:
                return "the run was cancelled; the board was powered off"
            case .logFile(let path, let reason):
                return "cannot write the serial log \(path): \(reason)"
            }
        }
    }

    public let profile: LabProfile
    /// The image under test (given to media-switch as $INGOT_IMAGE), if any.
    public let image: String?
    private let logger: Logger?

    public var kind: BootBackendKind { .lab }
    public var host: String { profile.serialDevice }

    /// Creates a lab backend.
    /// - Parameters:
    ///   - profile: the lab file.
    ///   - image: the image under test (for the media-switch command).
    ///   - logger: optional logger.
    public init(profile: LabProfile, image: String?, logger: Logger? = nil) {
        self.profile = profile
        self.image = image
        self.logger = logger
    }

    /// Boots the board. `plan` only names the board and the run directory; the board boots
    /// whatever its medium holds (after `media-switch`, the image under test).
    public func run(plan: MachinePlan, watcher: StageWatcher, logPath: String) async throws -> BootResult {
        // nonisolated(unsafe): the caller awaits this run, so until it returns only the supervision
        // thread uses the watcher (StageWatcher is a single-thread object handed over, not shared).
        nonisolated(unsafe) let watcher = watcher
        return try await superviseOnThread(named: "ingot-lab-\(plan.board)") { cancelled in
            try self.supervise(board: plan.board, watcher: watcher, logPath: logPath, cancelled: cancelled)
        }
    }

    private func supervise(board: String, watcher: StageWatcher, logPath: String, cancelled: CancelFlag) throws
        -> BootResult
    {
        let logFD = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard logFD >= 0 else { throw Error.logFile(path: logPath, reason: String(cString: strerror(errno))) }
        defer { close(logFD) }
        // An interrupt to ingot sets the flag like a cancellation; the board is still powered off.
        let interrupts = cancelled.listenForInterrupts()
        defer { InterruptStream.shared.remove(interrupts) }

        try command("power-off", profile.powerOff, board: board)
        var poweredOn = false
        var result: BootResult?
        var failure: Swift.Error?
        do {
            if let media = profile.mediaSwitch { try command("media-switch", media, board: board) }
            // Open the console first when it is there, so the firmware's first lines are not lost.
            var port = try? SerialPort(path: profile.serialDevice, baud: profile.baud)
            let start = Date()
            try command("power-on", profile.powerOn, board: board)
            poweredOn = true
            if port == nil { port = try waitForSerial(cancelled: cancelled) }
            guard let port else {
                throw Error.serial(reason: "serial device \(profile.serialDevice) is not there", location: nil)
            }
            result = try watch(
                port: port, watcher: watcher, logFD: logFD, logPath: logPath, start: start, cancelled: cancelled)
        } catch {
            failure = error
        }
        // Always off again; a failing power-off after a verdict is still an infrastructure error.
        do {
            try command("power-off", profile.powerOff, board: board)
        } catch {
            logger?.error("\(error)")
            if failure == nil { failure = error }
        }
        if !poweredOn { logger?.debug("the board was never powered on") }
        if let failure { throw failure }
        return result
            ?? BootResult(
                verdict: watcher.finish(at: 0, cause: "the lab run ended"), wallSeconds: 0, accelerator: "lab",
                exitStatus: .exited(0),
                logPath: logPath, qemuStderr: "")
    }

    /// Opens the serial device once it appears (adapters powered by the board), within the lab's
    /// `appearTimeout`.
    private func waitForSerial(cancelled: CancelFlag) throws -> SerialPort {
        let deadline = Date().addingTimeInterval(profile.serialAppearSeconds)
        var last: Swift.Error = SerialPort.Error.missing(path: profile.serialDevice)
        repeat {
            if cancelled.isSet { throw Error.cancelled }
            do {
                return try SerialPort(path: profile.serialDevice, baud: profile.baud)
            } catch let error as SerialPort.Error {
                last = error
                if case .notATerminal = error { break }
            }
            usleep(50_000)
        } while Date() < deadline
        let waited =
            profile.serialAppearSeconds > 0 ? " (waited \(Int(profile.serialAppearSeconds)) s after power-on)" : ""
        throw Error.serial(reason: "\(last)\(waited)", location: profile.locations["serial.device"])
    }

    private func watch(
        port: SerialPort, watcher: StageWatcher, logFD: Int32, logPath: String, start: Date, cancelled: CancelFlag
    ) throws -> BootResult {
        let elapsed = { Date().timeIntervalSince(start) }
        var verdict: BootVerdict?
        while verdict == nil {
            switch port.read(timeout: 0.1) {
            case .data(let bytes):
                bytes.withUnsafeBytes { _ = write(logFD, $0.baseAddress, $0.count) }
                verdict = watcher.feed(bytes, at: elapsed())
            case .idle:
                break
            case .closed:
                verdict = watcher.finish(
                    at: elapsed(),
                    cause: "the serial device \(profile.serialDevice) closed (board powered off or adapter gone)")
            }
            if verdict == nil { verdict = watcher.check(at: elapsed()) }
            switch cancelled.reason {
            case nil: break
            case .cancelled: throw Error.cancelled
            case .interrupted(let signal): throw Error.interrupted(signal: signal)
            }
        }
        return BootResult(
            verdict: verdict ?? watcher.finish(at: elapsed(), cause: "no verdict"), wallSeconds: elapsed(),
            accelerator: "lab",
            exitStatus: .exited(0), logPath: logPath, qemuStderr: "")
    }

    /// Runs one of the lab's commands with /bin/sh in the lab file's directory.
    private func command(_ role: String, _ text: String, board: String) throws {
        let location = profile.locations[role]
        var environment = ["INGOT_BOARD=\(board)", "INGOT_LAB=\(profile.path)", "INGOT_SERIAL=\(profile.serialDevice)"]
        if let image { environment.append("INGOT_IMAGE=\(image)") }
        logger?.debug("lab \(role): \(text)")
        let run = try ProbeRunner.run(
            "/usr/bin/env", ["-C", profile.directory] + environment + ["/bin/sh", "-c", text],
            timeout: profile.commandTimeoutSeconds)
        if run.timedOut {
            throw Error.commandTimedOut(
                role: role, command: text, seconds: profile.commandTimeoutSeconds, location: location)
        }
        guard run.status == .exited(0) else {
            throw Error.commandFailed(
                role: role, command: text, status: "\(run.status)",
                output: (run.stderr + run.stdout).trimmingCharacters(in: .whitespacesAndNewlines),
                location: location)
        }
    }
}
