// End to end, as a user runs it: `ingot build --format kernel+initrd` for x86_64 and arm64 (the
// latter cross-built on this host), then `ingot test` boots each under QEMU and must see the
// init's verified ready marker. Also: rebuilds are bit-identical, and a build works as an
// unprivileged user.
import Foundation
import IngotSystem
import IngotTestSupport
import Testing

@Suite(.serialized) struct KernelInitrdBootTests {
    /// ci/test boots x86_64-efi here (arm64-efi's kernel+initrd boots in MatrixCommandTests and
    /// RunInterruptTests); the full tier boots both.
    @Test(arguments: TestEnvironment.tiered(["x86_64-efi"], nightly: ["arm64-efi"]))
    func buildsAndBootsToReady(board: String) throws {
        let out = try E2E.tempDir("boot-\(board)")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let build = try E2E.ingot([
            "build", "examples/hello.yml", "--board", board, "--format", "kernel+initrd", "-o", out,
        ])
        #expect(build.status == 0, "\(build.all)")
        let prefix = "\(out)/hello-\(board)"
        #expect(
            E2E.listing(out) == [
                "hello-\(board)-cmdline", "hello-\(board)-initrd.img", "hello-\(board)-kernel",
                "hello-\(board).manifest.json", "hello-\(board).spdx.json",
            ])

        // The manifest lists every input with a digest and every output's real sha256.
        let manifest =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: prefix + ".manifest.json")))
            as? [String: Any]
        let inputs = try #require(manifest?["inputs"] as? [[String: Any]])
        #expect(inputs.contains { ($0["name"] as? String)?.hasPrefix("linux-image-6.") == true })
        #expect(
            inputs.contains {
                ($0["name"] as? String) == "busybox-static"
                    && ($0["arch"] as? String) == (board.hasPrefix("arm64") ? "arm64" : "amd64")
            })
        #expect(inputs.allSatisfy { (($0["sha256"] as? String)?.count ?? 0) == 64 })
        let outputs = try #require(manifest?["outputs"] as? [[String: Any]])
        for o in outputs {
            let name = try #require(o["name"] as? String)
            let digest = try shellOutput("sha256sum \(out)/\(name)").split(separator: " ").first.map(String.init)
            #expect(o["sha256"] as? String == digest)
        }

        let log = out + "/console.log"
        let test = try E2E.ingot(["test", prefix, "--log", log])
        #expect(test.status == 0, "\(test.all)")
        #expect(test.stdout.contains("PASS hello-\(board)"))
        let console = try String(contentsOfFile: log, encoding: .utf8)
        #expect(console.contains("stage=onboot") && console.contains("name=greet status=ok"))
        #expect(console.contains("stage=service") && console.contains("name=web status=started"))
        #expect(console.contains("ingot: hello is ready"))
        // No QEMU left behind.
        #expect(try shellOutput("pgrep -f '[q]emu-system.*\(out)' || true").isEmpty)
    }

    /// examples/full.yml uses every spec field (files of each kind, binds, env, cwd in a bare
    /// busybox image, namespaces); it must build and boot to ready with its service staying up.
    @Test func fullExampleBootsAndItsServiceStaysUp() throws {
        let out = try E2E.tempDir("full")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let build = try E2E.ingot([
            "build", "examples/full.yml", "--board", "x86_64-efi", "--format", "kernel+initrd,tar", "-o", out,
        ])
        try #require(build.status == 0, "\(build.all)")
        let initScript = try shellOutput(
            "tar -xOf \(out)/full-x86_64-efi-rootfs.tar ./sbin/init 2>/dev/null || tar -xOf \(out)/full-x86_64-efi-rootfs.tar sbin/init"
        )
        #expect(
            initScript.contains("'/bin/busybox' 'sh' -c 'cd \"$0\" && exec \"$@\"'"),
            "cwd should run through the image's busybox")
        let test = try E2E.ingot(["test", "\(out)/full-x86_64-efi", "--settle", "3"])
        #expect(test.status == 0 && test.stdout.contains("PASS"), "\(test.all)")
    }

    @Test func rebuildsAreBitIdentical() throws {
        let a = try E2E.tempDir("repro-a")
        let b = try E2E.tempDir("repro-b")
        defer {
            try? FileManager.default.removeItem(atPath: a)
            try? FileManager.default.removeItem(atPath: b)
        }
        #expect(
            try E2E.ingot([
                "build", "examples/hello.yml", "--board", "arm64-efi", "--format", "kernel+initrd,tar", "-o", a,
            ]).status == 0)
        #expect(
            try E2E.ingot(
                ["build", "examples/hello.yml", "--board", "arm64-efi", "--format", "kernel+initrd,tar", "-o", b],
                env: ["TZ": "Pacific/Auckland"]
            ).status == 0)
        let names = E2E.listing(a)
        #expect(names == E2E.listing(b) && names.count == 6)
        for n in names {
            #expect(FileManager.default.contentsEqual(atPath: "\(a)/\(n)", andPath: "\(b)/\(n)"), "\(n) differs")
        }
    }

    @Test func buildsAsAnUnprivilegedUser() throws {
        let out = try E2E.tempDir("nobody")
        let cache = try E2E.tempDir("nobody-cache")
        defer {
            try? FileManager.default.removeItem(atPath: out)
            try? FileManager.default.removeItem(atPath: cache)
        }
        let r = try E2E.ingot(
            ["build", "examples/hello.yml", "--board", "arm64-efi", "--format", "kernel+initrd", "-o", out + "/o"],
            prefix: [
                "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all",
            ],
            env: ["INGOT_CACHE": cache, "HOME": "/nonexistent", "TMPDIR": out])
        #expect(r.status == 0, "\(r.all)")
        var st = stat()
        #expect(stat(out + "/o/hello-arm64-efi-initrd.img", &st) == 0)
        #expect(st.st_uid == 65534)
        // Owners inside the image come from the packages and the spec, not from the builder.
        let listing = try shellOutput(
            "zcat \(out)/o/hello-arm64-efi-initrd.img | cpio -tv --quiet --numeric-uid-gid 2>/dev/null | grep ' bin/busybox$'"
        )
        #expect(listing.contains(" 0 ") && !listing.contains("65534"))
    }
}

/// A service powers the appliance off: the init runs the onshutdown steps in order, says so with
/// a verified marker, and the machine powers down.
@Suite struct ShutdownTests {
    @Test func onshutdownStepsRunOnPoweroff() throws {
        let dir = try E2E.tempDir("shutdown")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try E2E.write(
            """
            name: bye
            init:
              - deb:busybox-static
            services:
              - name: stopper
                image: deb:busybox-static
                command: ["/bin/busybox", "sh", "-c", "sleep 2; /bin/busybox poweroff; sleep 100"]
                pid: host
            onshutdown:
              - name: farewell
                image: deb:busybox-static
                command: ["/bin/busybox", "sh", "-c", "echo farewell-from-onshutdown > /dev/console"]

            """, to: dir + "/bye.yml")
        let build = try E2E.ingot([
            "build", dir + "/bye.yml", "--board", "x86_64-efi", "--format", "kernel+initrd", "-o", dir + "/o",
        ])
        try #require(build.status == 0, "\(build.all)")
        let log = dir + "/console.log"
        let test = try E2E.ingot(["test", dir + "/o/bye-x86_64-efi", "--settle", "15", "--log", log])
        #expect(test.status == 0, "\(test.all)")
        let console = try String(contentsOfFile: log, encoding: .utf8)
        let ready = try #require(console.range(of: "stage=ready"))
        let shutdown = try #require(console.range(of: "stage=shutdown seq=2 action=poweroff"))
        let farewell = try #require(console.range(of: "farewell-from-onshutdown"))
        #expect(ready.upperBound < shutdown.lowerBound && shutdown.upperBound < farewell.lowerBound)
        #expect(console.contains("reboot: Power down"))
    }
}

/// `ingot run` puts the console on the terminal; Ctrl-C (SIGINT to ingot) ends QEMU and ingot,
/// leaving no emulator behind.
@Suite struct RunInterruptTests {
    @Test func ctrlCEndsQEMU() throws {
        let dir = try E2E.tempDir("run")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let build = try E2E.ingot([
            "build", "examples/hello.yml", "--board", "arm64-efi", "--format", "kernel+initrd", "-o", dir,
        ])
        try #require(build.status == 0, "\(build.all)")
        E2E.bootLock.lock()
        defer { E2E.bootLock.unlock() }
        let out = dir + "/run.out"
        let p = try Command.startIngot(
            ["run", dir + "/hello-arm64-efi"], stdout: .file(out), stderr: .file(dir + "/run.err"))
        // The console shows up on ingot's stdout; wait (bounded) for the ready line.
        var ready = false
        for _ in 0..<1200 where !ready {
            ready = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").contains("ingot: hello is ready")
            if !ready { usleep(100_000) }
        }
        #expect(ready, "the appliance never printed its ready line on ingot run's console")
        #expect(
            !(try shellOutput("pgrep -f '[q]emu-system-aarch64.*\(dir)' || true")).isEmpty, "QEMU should be running")
        kill(p.pid, SIGINT)  // to ingot only, as the terminal's Ctrl-C would
        #expect(p.waitBlocking().status != .exited(0))
        #expect(
            try shellOutput("pgrep -f '[q]emu-system-aarch64.*\(dir)' || true").isEmpty,
            "QEMU left running after Ctrl-C")
        let said =
            ((try? String(contentsOfFile: dir + "/run.err", encoding: .utf8)) ?? "")
            + ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
        #expect(said.contains("interrupted by signal 2") && said.contains("QEMU was stopped"), "\(said.suffix(300))")
    }
}

func shellOutput(_ command: String) throws -> String {
    try Command.run("/bin/sh", ["-c", command]).trimmed
}
