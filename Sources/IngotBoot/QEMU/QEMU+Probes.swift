// Running a short-lived helper (QEMU --version, the KVM probe) with a hard timeout and both
// outputs captured, through IngotSystem's ChildProcess; the helper's process group is always
// ended before returning.

import Foundation
import IngotSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Output of a short helper run.
struct CapturedRun {
    var stdout: String
    var stderr: String
    var status: ExitStatus
    var timedOut: Bool
}

enum ProbeRunner {
    /// Runs `executable` (absolute or looked up in PATH) with a timeout; never leaves it running.
    static func run(_ executable: String, _ arguments: [String], timeout: Double) throws -> CapturedRun {
        let path = SystemBootHost().executable(executable) ?? executable
        let child = try ChildProcess.spawn(.init(path, arguments, graceSeconds: 0.5))
        let finished = child.waitBlocking(seconds: timeout)
        if finished == nil { child.terminate() }
        let end = finished ?? child.waitBlocking()
        return CapturedRun(
            stdout: end.standardOutputText, stderr: end.standardErrorText, status: end.status, timedOut: finished == nil
        )
    }
}

/// Whether KVM really runs a guest here. /dev/kvm can exist and still hang guests (nested
/// virtualisation with a limited CPU model), so the probe boots a 64 KiB BIOS whose reset vector
/// writes to an isa-debug-exit port: QEMU must exit with status 67 within 2 s and print no
/// warning (a "host doesn't support requested feature" warning is the tell of a CPU model real
/// kernels hang on).
enum KVMProbe {
    static let timeout = 2.0

    static func run(binary: String, architecture: String, hostArchitecture: String) -> (usable: Bool, detail: String) {
        guard architecture == hostArchitecture else {
            return (false, "guest \(architecture) on host \(hostArchitecture)")
        }
        guard access("/dev/kvm", R_OK | W_OK) == 0 else { return (false, "/dev/kvm not accessible") }
        guard architecture == "x86_64" else { return (false, "KVM probe exists only for x86_64 hosts") }
        let directory = NSTemporaryDirectory() + "ingot-kvm-probe-\(getpid())"
        let biosPath = directory + "/probe.bin"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var bios = [UInt8](repeating: 0xF4, count: 65536)  // hlt everywhere
            // At the reset vector: mov al,0x21; out 0xf4,al; hlt; jmp $-1 → QEMU exits with (0x21<<1)|1.
            bios.replaceSubrange(0xFFF0..<0xFFF7, with: [0xB0, 0x21, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD])
            try Data(bios).write(to: URL(fileURLWithPath: biosPath))
            let run = try ProbeRunner.run(
                binary,
                [
                    "-accel", "kvm", "-M", "q35", "-m", "16", "-bios", biosPath, "-display", "none", "-monitor", "none",
                    "-serial", "none", "-nodefaults", "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                ], timeout: timeout)
            if run.timedOut { return (false, "KVM probe guest did not finish within \(timeout) s") }
            guard run.status == .exited(67) else {
                return (
                    false,
                    "KVM probe ended with \(run.status): \(run.stderr.trimmingCharacters(in: .whitespacesAndNewlines))"
                )
            }
            let stderr = run.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            if !stderr.isEmpty { return (false, "KVM probe warned: \(stderr)") }
            return (true, "KVM probe guest ran")
        } catch {
            return (false, "KVM probe failed to run: \(error)")
        }
    }
}
