// Outputs that are never partial, stale or mixed, and nonsense refused before any work (issue
// 12: cases 5, 16–22), as a user meets them on the command line.
import Foundation
import IngotSystem
import IngotTestSupport
import Testing

/// A running `ingot` (for kills and concurrent builds), its output in files.
struct RunningIngot {
    let process: ChildProcess
    let stdout: String
    let stderr: String

    static func start(_ args: [String], in dir: String, tag: String) throws -> RunningIngot {
        let out = dir + "/\(tag).out"
        let err = dir + "/\(tag).err"
        let process = try Command.startIngot(args, stdout: .file(out), stderr: .file(err))
        return RunningIngot(process: process, stdout: out, stderr: err)
    }

    func wait() -> (status: Int32, all: String) {
        let termination = process.waitBlocking()
        let text =
            ((try? String(contentsOfFile: stdout, encoding: .utf8)) ?? "")
            + ((try? String(contentsOfFile: stderr, encoding: .utf8)) ?? "")
        return (termination.status.shellStatus, text)
    }

    /// Polls (bounded) until `condition` holds.
    static func waitFor(seconds: Double = 120, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }
}

@Suite(.serialized) struct OutputSafetyTests {
    static let build = ["build", "examples/hello.yml", "--board", "x86_64-efi"]

    /// 16 + 17: a build killed with SIGKILL leaves its staging directory; the next build into the
    /// same -o removes it, and a build of another format removes the previous format's outputs,
    /// so `ingot test PREFIX` boots what the new manifest lists.
    @Test func deadBuildsAndStaleFormatsAreCleanedByTheNextBuild() throws {
        let dir = try E2E.tempDir("stale")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/out"
        let first = try E2E.ingot(Self.build + ["--format", "kernel+initrd", "-o", out])
        try #require(first.status == 0, "\(first.all)")

        let killed = try RunningIngot.start(Self.build + ["--format", "raw", "-o", out, "-q"], in: dir, tag: "killed")
        let staging = RunningIngot.waitFor { E2E.listing(out).contains { $0.hasPrefix(".ingot-staging-") } }
        #expect(staging, "the build never started staging")
        kill(killed.process.pid, SIGKILL)
        _ = killed.wait()
        #expect(
            E2E.listing(out).contains { $0.hasPrefix(".ingot-staging-hello-x86_64-efi-") },
            "SIGKILL should leave the staging dir: \(E2E.listing(out))")
        // The earlier build is untouched: its manifest still vouches for its outputs.
        #expect(
            E2E.listing(out).contains("hello-x86_64-efi-kernel")
                && E2E.listing(out).contains("hello-x86_64-efi.manifest.json"))

        let second = try E2E.ingot(Self.build + ["--format", "raw", "-o", out])
        try #require(second.status == 0, "\(second.all)")
        #expect(
            E2E.listing(out) == [
                "hello-x86_64-efi.img", "hello-x86_64-efi.img.bmap", "hello-x86_64-efi.manifest.json",
                "hello-x86_64-efi.spdx.json",
            ])
        let plan = try E2E.ingot(["test", out + "/hello-x86_64-efi", "--dry-run"])
        #expect(
            plan.status == 0 && plan.stdout.contains("file=\(out)/hello-x86_64-efi.img,format=raw")
                && !plan.stdout.contains("-kernel"), "\(plan.all)")
        // Naming an output the manifest does not list is refused, not booted.
        try Data("stale".utf8).write(to: URL(fileURLWithPath: out + "/hello-x86_64-efi-kernel"))
        let stale = try E2E.ingot(["test", out + "/hello-x86_64-efi-kernel", "--dry-run"])
        #expect(
            stale.status != 0 && stale.stderr.contains("not one of the outputs")
                && stale.stderr.contains("earlier build"), "\(stale.all)")
    }

    /// 20: two builds into the same -o and prefix: the second waits for the first (and says so);
    /// both succeed and the outputs match the manifest of the last one.
    @Test func concurrentBuildsOfOnePrefixTakeTurns() throws {
        let dir = try E2E.tempDir("concurrent")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/out"
        let args = Self.build + ["--format", "kernel+initrd", "-o", out]
        let a = try RunningIngot.start(args, in: dir, tag: "a")
        #expect(RunningIngot.waitFor { E2E.listing(out).contains(".ingot-lock-hello-x86_64-efi") })
        let b = try RunningIngot.start(args, in: dir, tag: "b")
        let (sa, ta) = a.wait()
        let (sb, tb) = b.wait()
        #expect(sa == 0 && sb == 0, "\(ta)\n\(tb)")
        #expect(tb.contains("waiting for process \(a.process.pid)"), "\(tb)")
        #expect(
            E2E.listing(out) == [
                "hello-x86_64-efi-cmdline", "hello-x86_64-efi-initrd.img", "hello-x86_64-efi-kernel",
                "hello-x86_64-efi.manifest.json", "hello-x86_64-efi.spdx.json",
            ])
        let manifest =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: out + "/hello-x86_64-efi.manifest.json"))) as? [String: Any]
        for o in (manifest?["outputs"] as? [[String: Any]]) ?? [] {
            let name = o["name"] as? String ?? ""
            #expect(o["sha256"] as? String == (try shellOutput("sha256sum \(out)/\(name) | cut -d' ' -f1")), "\(name)")
        }
    }

    /// 18: every board × format is checked before any work.
    @Test func anImpossibleBoardFormatFailsBeforeAnythingIsBuilt() throws {
        let dir = try E2E.tempDir("precheck")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let started = Date()
        let r = try E2E.ingot([
            "build", "examples/hello.yml", "--board", "x86_64-efi", "--board", "rpi3", "--format", "raw,iso", "-o",
            dir + "/out",
        ])
        #expect(r.status != 0)
        #expect(
            r.stderr.contains("rpi3") && r.stderr.contains("iso") && r.stderr.contains("--format raw"), "\(r.stderr)")
        #expect(Date().timeIntervalSince(started) < 20, "it should fail before resolving anything")
        #expect(E2E.listing(dir).isEmpty, "\(E2E.listing(dir))")
    }

    /// 19: a build that fails after creating -o new/a/b/out removes every directory it created.
    @Test func aFailedBuildRemovesTheDirectoriesItCreated() throws {
        let dir = try E2E.tempDir("nested")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try E2E.write(
            "name: bad\ninit:\n  - deb:busybox-static\n  - deb:no-such-package-ingot\n", to: dir + "/spec.yml")
        let r = try E2E.ingot([
            "build", dir + "/spec.yml", "--board", "x86_64-efi", "--format", "kernel+initrd", "-o",
            dir + "/new/a/b/out",
        ])
        #expect(r.status != 0 && r.stderr.contains("no-such-package-ingot"), "\(r.all)")
        #expect(E2E.listing(dir) == ["spec.yml"], "left behind: \(E2E.listing(dir))")
    }

    /// 5: a lock named on the command line must exist.
    @Test func aMissingLockIsAnError() throws {
        let dir = try E2E.tempDir("nolock")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for command in [
            Self.build + ["--format", "kernel+initrd"],
            ["matrix", "examples/hello.yml", "--board", "x86_64-efi", "--dry-run"],
        ] {
            let r = try E2E.ingot(command + ["--lock", dir + "/typo.json", "-o", dir + "/out"])
            #expect(r.status != 0, "\(r.all)")
            #expect(r.stderr.contains("--lock \(dir)/typo.json: no such lock file"), "\(r.stderr)")
        }
        #expect(E2E.listing(dir).isEmpty)
    }

    /// 21: output and cache locations that cannot work are named, with the fix, before any work.
    @Test func unusableOutputAndCacheLocationsAreNamed() throws {
        let dir = try E2E.tempDir("locations")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try E2E.write("x", to: dir + "/file")
        var r = try E2E.ingot(Self.build + ["-o", dir + "/file/out"])
        #expect(
            r.status != 0 && r.stderr.contains("-o \(dir)/file/out: \(dir)/file is a file, not a directory"), "\(r.all)"
        )
        r = try E2E.ingot(Self.build + ["-o", dir + "/out", "--cache", dir + "/file/cache"])
        #expect(
            r.status != 0 && r.stderr.contains("--cache \(dir)/file/cache: \(dir)/file is a file, not a directory"),
            "\(r.all)")
        #expect(!r.all.contains("NSCocoaErrorDomain"))
        // A directory this user cannot write in (nobody, a root-owned 0555 directory).
        try FileManager.default.createDirectory(atPath: dir + "/ro", withIntermediateDirectories: false)
        chmod(dir + "/ro", 0o555)
        r = try E2E.ingot(
            Self.build + ["-o", dir + "/ro/out"],
            prefix: ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
            env: ["INGOT_CACHE": dir + "/nobody-cache"])
        #expect(
            r.status != 0 && r.stderr.contains("-o \(dir)/ro/out: cannot write in \(dir)/ro (Permission denied)"),
            "\(r.all)")
        #expect(E2E.listing(dir).sorted() == ["file", "ro"])
    }

    static let unshareWorks: Bool = (try? shellOutput("unshare -m true && echo ok")) == "ok"

    /// 21: a read-only file system under -o (a read-only tmpfs in a private mount namespace).
    @Test(.enabled(if: unshareWorks || ProcessInfo.processInfo.environment["CI"] == "true"))
    func readOnlyOutputIsNamed() throws {
        let dir = try E2E.tempDir("rofs")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let line =
            "mount -t tmpfs -o ro tmpfs \(dir) && INGOT_BOARDS=\(E2E.root)/boards \(E2E.binary) build \(E2E.root)/examples/hello.yml --board x86_64-efi -o \(dir)/out 2>&1; echo rc=$?"
        let r = try shellOutput("unshare -m sh -c '\(line)'")
        #expect(
            r.contains("-o \(dir)/out: cannot write in \(dir) (Read-only file system); choose a writable -o")
                && r.hasSuffix("rc=64"), "\(r)")
        #expect(!r.contains("NSCocoaErrorDomain"))
    }

    /// 21 + 22: options that make no sense are refused in validate(), before any work, dry runs included.
    @Test func nonsenseOptionsAreRefusedBeforeAnyWork() throws {
        let dir = try E2E.tempDir("nonsense")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/out"
        let matrix = ["matrix", "examples/hello.yml", "--board", "arm64-efi", "-o", out, "--dry-run"]
        let test = ["test", "out/never-built-x86_64-efi", "--dry-run"]
        let cases: [([String], String)] = [
            (Self.build + ["--format", "", "-o", out], "--format: names nothing"),
            (Self.build + ["--format", "raw,raw", "-o", out], "--format: 'raw' is given twice"),
            (Self.build + ["--board", "x86_64-efi", "-o", out], "--board x86_64-efi is given twice"),
            (
                ["matrix", "examples/hello.yml", "--format", ",,,", "--board", "arm64-efi", "-o", out, "--dry-run"],
                "--format: names nothing"
            ),
            (
                [
                    "matrix", "examples/hello.yml", "--format", "raw,raw", "--board", "arm64-efi", "-o", out,
                    "--dry-run",
                ], "'raw' is given twice"
            ),
            (matrix + ["--board", "arm64-efi"], "--board arm64-efi is given twice"),
            (matrix + ["--host", "nope"], "--host nope: not 'local'"),
            (matrix + ["--ready-timeout=nan"], "--ready-timeout nan is not a number of seconds"),
            (matrix + ["--ready-timeout", "-1"], "--ready-timeout -1.0 is not a number of seconds"),
            (matrix + ["--settle=-5"], "--settle -5.0 is not a number of seconds"),
            (matrix + ["--bus", "sata"], "--bus: unknown value 'sata'"),
            (matrix + ["--backend", "lab"], "the lab backend cannot run matrix cells"),
            (test + ["--ready-timeout", "-1"], "--ready-timeout -1.0 is not a number of seconds"),
            (test + ["--ready-timeout=nan"], "--ready-timeout nan is not a number of seconds"),
            (test + ["--settle=-5"], "--settle -5.0 is not a number of seconds"),
            (test + ["--ready=(("], "--ready '((' is not a valid regular expression"),
            (test + ["--board", "all"], "--board all: this command boots one build on one board"),
            (test + ["--bus", "virtio,nvme"], "--bus takes one bus"),
        ]
        for (args, message) in cases {
            let r = try E2E.ingot(args)
            #expect(r.status == 64, "\(args): \(r.all)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(!r.all.contains("Missing value"))
        }
        #expect(!FileManager.default.fileExists(atPath: out))
        // `ingot test --help` no longer offers 'all'.
        let help = try E2E.ingot(["test", "--help"])
        #expect(help.stdout.contains("--board") && !help.stdout.contains("'all'"), "\(help.stdout)")
    }

    /// 21: a target that does not exist is named as such.
    @Test func aMissingTargetIsNamed() throws {
        var r = try E2E.ingot(["test", "/nonexistent"])
        #expect(r.status != 0 && r.stderr.contains("/nonexistent: no such file or build prefix"), "\(r.all)")
        #expect(!r.stderr.contains("manifest beside it"))
        r = try E2E.ingot(["run", "/nonexistent/hello-rpi3.img", "--dry-run"])
        #expect(
            r.status != 0 && r.stderr.contains("/nonexistent/hello-rpi3.img: no such file or build prefix"), "\(r.all)")
    }
}
