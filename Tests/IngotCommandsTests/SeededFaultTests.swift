// The seeded-fault suite: deliberately broken appliances (examples/faults/) are built and booted
// with `ingot test --json`, and each must fail in the right stage with the right reason, read
// back from the verdict JSON — not just a non-zero exit. Timeouts come from the specs'
// readiness.timeout (15–60 s) so a wrong verdict cannot hide behind the board's long defaults.
import Foundation
import Testing

/// Builds a spec and boots it; returns the parsed verdict and the command's result.
enum Fault {
    struct Outcome {
        var status: Int32
        var verdict: [String: Any]
        var output: String
        var passed: Bool { verdict["passed"] as? Bool ?? false }
        var failedStage: String? { verdict["failedStage"] as? String }
        var reached: String? { verdict["reached"] as? String }
        var reason: String { verdict["reason"] as? String ?? "" }
        var lastLines: [String] { verdict["lastLines"] as? [String] ?? [] }
    }

    static func build(_ spec: String, board: String, format: String, into out: String, extra: [String] = []) throws {
        let r = try E2E.ingot(["build", spec, "--board", board, "--format", format, "-o", out] + extra)
        #expect(r.status == 0, "\(r.all)")
    }

    static func boot(_ target: String, args: [String]) throws -> Outcome {
        let json = target.replacingOccurrences(of: ".img", with: "") + ".verdict.json"
        let r = try E2E.ingot(["test", target, "--json", json] + args)
        let data = try Data(contentsOf: URL(fileURLWithPath: json))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let verdict = try #require(root["verdict"] as? [String: Any])
        return Outcome(status: r.status, verdict: verdict, output: r.all)
    }

    static func noQEMULeft(_ dir: String) throws {
        #expect(try shellOutput("pgrep -f '[q]emu-system.*\(dir)' || true").isEmpty)
    }
}

@Suite(.serialized) struct SeededFaultTests {
    @Test func onbootStepFailureFailsInInitNamingStepAndStatus() throws {
        let out = try E2E.tempDir("fault-onboot")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try Fault.build("examples/faults/onboot-fails.yml", board: "arm64-efi", format: "kernel+initrd", into: out)
        let r = try Fault.boot("\(out)/onboot-fails-arm64-efi", args: ["--ready-timeout", "30"])
        #expect(r.status == 1)
        #expect(!r.passed)
        #expect(r.failedStage == "init")
        #expect(r.reason.contains("step boom exited with rc=3"), "\(r.reason)")
        #expect(r.lastLines.contains { $0.contains("boom: about to fail") })
        #expect(r.output.contains("FAIL onboot-fails-arm64-efi"))
        try Fault.noQEMULeft(out)
    }

    @Test func crashLoopingServiceFailsInInitNamingService() throws {
        let out = try E2E.tempDir("fault-crashloop")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try Fault.build("examples/faults/crash-loop.yml", board: "arm64-efi", format: "kernel+initrd", into: out)
        // The init says ready once every service was launched; the settle period catches the loop.
        let r = try Fault.boot("\(out)/crash-loop-arm64-efi", args: ["--ready-timeout", "40", "--settle", "12"])
        #expect(r.status == 1)
        #expect(r.failedStage == "init")
        #expect(r.reached == "init")
        #expect(
            r.reason.contains("service flappy is crash-looping: restarted 3 times before ready, last rc=1"),
            "\(r.reason)")
        try Fault.noQEMULeft(out)
    }

    @Test func hangingInitTimesOutAwaitingReady() throws {
        let out = try E2E.tempDir("fault-hang")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try Fault.build("examples/faults/init-hangs.yml", board: "arm64-efi", format: "kernel+initrd", into: out)
        let r = try Fault.boot("\(out)/init-hangs-arm64-efi", args: ["--ready-timeout", "15"])
        #expect(r.status == 1)
        #expect(r.reached == "init")
        #expect(r.failedStage == "ready")
        #expect(r.reason.contains("not ready within 15.0 s of power-on (readiness.timeout)"), "\(r.reason)")
        #expect(r.reason.contains("stuck in init"))
        try Fault.noQEMULeft(out)
    }

    @Test func wrongConsoleLeavesTheHarnessInTheKernelStage() throws {
        let out = try E2E.tempDir("fault-console")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try Fault.build("examples/faults/wrong-console.yml", board: "x86_64-efi", format: "kernel+initrd", into: out)
        let r = try Fault.boot("\(out)/wrong-console-x86_64-efi", args: ["--ready-timeout", "15"])
        #expect(r.status == 1)
        #expect(r.reached == "kernel")  // the kernel logs to ttyS0 too; the init's markers went to tty0
        #expect(r.failedStage == "init")
        #expect(r.reason.contains("readiness.timeout") && r.reason.contains("stuck in kernel"), "\(r.reason)")
        #expect(!r.lastLines.contains { $0.contains("@@INGOT") })
        try Fault.noQEMULeft(out)
    }

    /// A kernel file that is empty or garbage: QEMU refuses to load it and exits 1 before the
    /// guest prints anything. `ingot test` reports that as a failure in the kernel stage with
    /// QEMU's own words; `ingot matrix` counts the same run as an infrastructure failure (exit 2),
    /// since an emulator that ends non-zero before any stage cannot be told apart from a broken host.
    @Test(arguments: ["empty", "garbage"])
    func unloadableKernelFailsInKernelStage(kind: String) throws {
        let out = try E2E.tempDir("fault-kernel-\(kind)")
        defer { try? FileManager.default.removeItem(atPath: out) }
        try Fault.build("examples/faults/minimal.yml", board: "x86_64-efi", format: "kernel+initrd", into: out)
        let kernel = "\(out)/minimal-x86_64-efi-kernel"
        let bytes = kind == "empty" ? Data() : Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
        try bytes.write(to: URL(fileURLWithPath: kernel))
        // The manifest vouches for the broken kernel (as if the kernel package itself were
        // broken); otherwise `ingot test` refuses a file changed after the build, before QEMU.
        let manifestPath = "\(out)/minimal-x86_64-efi.manifest.json"
        var manifest = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifestPath)))
                as? [String: Any])
        var outputs = try #require(manifest["outputs"] as? [[String: Any]])
        let index = try #require(outputs.firstIndex { $0["role"] as? String == "kernel" })
        outputs[index]["size"] = bytes.count
        outputs[index]["sha256"] = try shellOutput("sha256sum \(kernel)").split(separator: " ").first.map(String.init)
        manifest["outputs"] = outputs
        try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: manifestPath))
        let r = try Fault.boot("\(out)/minimal-x86_64-efi", args: ["--ready-timeout", "15"])
        #expect(r.status == 1)
        #expect(r.reached == nil)
        #expect(r.failedStage == "kernel")
        #expect(
            r.reason.contains("QEMU exited (exit status 1)") && r.reason.contains("before any stage was recognised"),
            "\(r.reason)")
        #expect(r.reason.contains("kernel"))  // QEMU's message names the kernel it could not load
        try Fault.noQEMULeft(out)
    }
}
