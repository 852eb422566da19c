// Bad input, as a user meets it: each case exits non-zero with a one-paragraph error that names
// the input and the fix, and leaves nothing in the output directory.
import Foundation
import IngotTestSupport
import Testing

@Suite struct BadInputTests {
    /// Writes `spec` into a fresh dir, builds it, and checks the failure.
    func expectFailure(
        spec: String, board: String = "x86_64-efi", extraFiles: (String) throws -> Void = { _ in },
        extraArgs: [String] = [], _ check: (String) -> Bool, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let dir = try E2E.tempDir("bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try extraFiles(dir)
        try E2E.write(spec, to: dir + "/spec.yml")
        let out = dir + "/out"
        let r = try E2E.ingot(
            ["build", dir + "/spec.yml", "--board", board, "--format", "kernel+initrd", "-o", out] + extraArgs)
        #expect(r.status != 0, "build should fail: \(r.all)", sourceLocation: sourceLocation)
        #expect(check(r.stderr), "unexpected error text: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(
            !FileManager.default.fileExists(atPath: out), "partial output left: \(E2E.listing(out))",
            sourceLocation: sourceLocation)
    }

    static let base = """
        name: bad
        hostname: bad
        init:
          - deb:busybox-static

        """

    @Test func malformedYAMLNamesLineAndColumn() throws {
        try expectFailure(spec: Self.base + "services:\n  - name: x\n    image: [unclosed\n") {
            $0.contains("spec.yml:") && $0.range(of: #"spec\.yml:\d+:\d+"#, options: .regularExpression) != nil
        }
    }

    @Test func unknownKeyGetsTheNearestValidOne() throws {
        let dir = try E2E.tempDir("validate")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try E2E.write(Self.base + "servics: []\n", to: dir + "/spec.yml")
        let r = try E2E.ingot(["validate", dir + "/spec.yml"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("spec.yml:5:1") && r.stderr.contains("did you mean 'services'"), "\(r.stderr)")
    }

    @Test func unknownBoardSuggestsOne() throws {
        try expectFailure(spec: Self.base, board: "rpi5") { $0.contains("rpi5") && $0.contains("rpi3") }
    }

    @Test func packageAptCannotFind() throws {
        try expectFailure(
            spec: Self.base + "onboot:\n  - name: x\n    image: deb:no-such-package-ingot\n    command: [/bin/true]\n"
        ) {
            $0.contains("no-such-package-ingot") && $0.contains("spec.yml:7")
        }
    }

    @Test func truncatedTarLayer() throws {
        try expectFailure(
            spec: Self.base + "onboot:\n  - name: x\n    image: tar:./layer.tar.gz\n    command: [/bin/true]\n",
            extraFiles: { dir in
                let tar = try shellOutput(
                    "cd \(dir) && mkdir -p l/bin && head -c 300000 /dev/urandom > l/bin/true && tar czf layer.tar.gz -C l . && echo ok"
                )
                #expect(tar == "ok")
                let h = try #require(FileHandle(forUpdatingAtPath: dir + "/layer.tar.gz"))
                try h.truncate(atOffset: 20_000)
                try h.close()
            }
        ) { $0.contains("layer.tar.gz") && ($0.contains("truncated") || $0.contains("corrupt")) }
    }

    @Test func layerEscapingTheRoot() throws {
        try expectFailure(
            spec: Self.base + "onboot:\n  - name: x\n    image: tar:./evil.tar\n    command: [/bin/true]\n",
            extraFiles: { dir in
                let r = try shellOutput(
                    "cd \(dir) && mkdir -p e/bin && touch e/bin/true && tar cf evil.tar -C e ./bin/true --transform 's,^./bin/true,../../etc/owned,' -P && echo ok"
                )
                #expect(r == "ok")
            }
        ) { $0.contains("outside the image root") && $0.contains("../../etc/owned") }
    }

    @Test func digestMismatchNamesBothDigests() throws {
        let lockDir = try E2E.tempDir("lock")
        defer { try? FileManager.default.removeItem(atPath: lockDir) }
        // A lock whose busybox-static digest is wrong (version taken from apt, digest zeroed).
        let version = try shellOutput("apt-cache policy busybox-static:amd64 | awk '/Candidate/ {print $2}'")
        let lock = """
            {"packages":[{"arch":"amd64","filename":"busybox-static.deb","name":"busybox-static","sha256":"\(String(repeating: "0", count: 64))","version":"\(version)"}],"version":1}
            """
        try E2E.write(lock, to: lockDir + "/lock.json")
        try expectFailure(
            spec: Self.base, extraArgs: ["--lock", lockDir + "/lock.json", "--cache", lockDir + "/cache"]
        ) {
            $0.contains("busybox-static") && $0.contains(String(repeating: "0", count: 64))
                && $0.range(of: "[0-9a-f]{64}", options: .regularExpression) != nil && $0.contains("ingot lock")
        }
    }

    @Test func unknownFormatIsRejected() throws {
        let r = try E2E.ingot([
            "build", "examples/hello.yml", "--board", "x86_64-efi", "--format", "rwa", "-o", "/tmp/never-\(UUID())",
        ])
        #expect(r.status != 0)
        #expect(r.stderr.contains("--format: unknown value 'rwa'") && r.stderr.contains("raw"))
    }

    /// Ctrl-C in the middle of a build: the staged outputs and the output directory the build
    /// created are gone, and the command reports the interruption.
    @Test func interruptedBuildLeavesNothing() throws {
        let dir = try E2E.tempDir("interrupt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/out"
        let p = try Command.startIngot([
            "build", "examples/hello.yml", "--board", "rpi3", "--format", "raw,qcow2", "-o", out, "-q",
        ])
        // Wait (bounded) until the build is staging, then interrupt it.
        var staging = false
        for _ in 0..<600 where !staging {
            staging = E2E.listing(out).contains { $0.hasPrefix(".ingot-staging-") }
            if !staging { usleep(50_000) }
        }
        #expect(staging, "the build never started staging")
        kill(p.pid, SIGINT)  // to ingot only, as the terminal's Ctrl-C would
        let end = p.waitBlocking()
        #expect(end.status == .signaled(SIGINT), "\(end.status): \(end.standardErrorText.suffix(300))")
        #expect(!FileManager.default.fileExists(atPath: out), "left behind: \(E2E.listing(out))")
    }
}
