// Issue 12's hostile-input campaign, end to end: the `ingot` binary run as a child with a
// deadline, so a crash (a signal) or a hang (the deadline) is a test failure, never a hung suite.
// Each test is one case of the issue (numbered as there) and failed on the code before the fix.
// `INGOT_HARDENING_BINARY` runs the suite against another build (e.g. the old one, to see it fail).

import Foundation
import IngotSystem
import IngotTestSupport
import Synchronization
import Testing

/// A value shared with a watcher thread.
final class Locked<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func get() -> Value { value.withLock { $0 } }
    func update(_ body: (inout Value) -> Void) { value.withLock { body(&$0) } }
}

enum Hostile {
    struct Outcome: CustomStringConvertible {
        var status: Int32
        var signal: Int32?
        var timedOut: Bool
        var stdout: String
        var stderr: String
        var seconds: Double
        var all: String { stdout + stderr }
        /// Exited on its own with a non-zero status (not a crash, not killed at the deadline).
        var failedCleanly: Bool { !timedOut && signal == nil && status != 0 }
        var succeeded: Bool { !timedOut && signal == nil && status == 0 }
        var description: String {
            "status \(status)\(signal.map { ", signal \($0)" } ?? "")\(timedOut ? ", TIMED OUT" : "") after "
                + String(format: "%.1f s", seconds) + "\n--- stdout\n\(stdout)--- stderr\n\(stderr)"
        }
    }

    static var binary: String { ProcessInfo.processInfo.environment["INGOT_HARDENING_BINARY"] ?? E2E.binary }

    /// Runs `ingot ARGS` in `cwd` (its own process group), killing it at `deadline` seconds.
    static func ingot(
        _ args: [String], cwd: String = E2E.root, env: [String: String] = [:], deadline: Double = 300,
        shell: String? = nil
    ) throws -> Outcome {
        var environment = Command.ingotEnvironment(env)
        environment["INGOT"] = env["INGOT"] ?? binary
        // With `shell`: runs it (it uses "$INGOT") through /bin/sh, e.g. to set `ulimit -f` first.
        let child = try ChildProcess.spawn(
            ChildProcess.Configuration(
                shell == nil ? binary : "/bin/sh", shell.map { ["-c", $0, "sh"] + args } ?? args,
                environment: environment, workingDirectory: cwd))
        var timedOut = false
        let termination: ChildProcess.Termination
        if let ended = child.waitBlocking(seconds: deadline) {
            termination = ended
        } else {
            timedOut = true
            child.kill()
            termination = child.waitBlocking()
        }
        let status: Int32
        let signal: Int32?
        switch termination.status {
        case .exited(let code): (status, signal) = (code, nil)
        case .signaled(let number): (status, signal) = (number, number)
        }
        return Outcome(
            status: status, signal: signal, timedOut: timedOut, stdout: termination.standardOutputText,
            stderr: termination.standardErrorText, seconds: termination.wallSeconds)
    }

    static let base = "name: hostile\ninit:\n  - deb:busybox-static\n"

    /// A fresh directory holding `spec.yml` (= `base` + `extra`).
    static func specDir(_ tag: String, _ extra: String = "", spec: String? = nil) throws -> String {
        let dir = try E2E.tempDir("hostile-\(tag)")
        try E2E.write(spec ?? (base + extra), to: dir + "/spec.yml")
        return dir
    }

    /// Runs `command` through /bin/sh in the current directory; stderr merged into stdout.
    static func sh(_ command: String) throws -> (Int32, String) {
        let r = try Command.run("/bin/sh", ["-c", command], mergeStandardError: true)
        return (r.status, r.stdout)
    }

    /// Whether tests that mount (tmpfs, a loop ext4) can run; CI has root, so there they must.
    static let canMount = getuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true"
}

@Suite(.serialized) struct HardeningTests {
    /// Builds `dir/spec.yml` and expects a clean failure whose stderr passes `check`, with no output left.
    func expectBuildFailure(
        _ dir: String, board: String = "x86_64-efi", format: String = "tar", env: [String: String] = [:],
        deadline: Double = 300,
        _ check: (String) -> Bool, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let out = dir + "/out"
        let r = try Hostile.ingot(
            ["build", dir + "/spec.yml", "--board", board, "--format", format, "-o", out], env: env, deadline: deadline)
        #expect(r.failedCleanly, "\(r)", sourceLocation: sourceLocation)
        #expect(check(r.stderr), "unexpected error: \(r)", sourceLocation: sourceLocation)
        #expect(
            !FileManager.default.fileExists(atPath: out), "left behind: \(E2E.listing(out))",
            sourceLocation: sourceLocation)
    }

    func expectInvalid(_ dir: String, _ check: (String) -> Bool, sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        let r = try Hostile.ingot(["validate", dir + "/spec.yml"], deadline: 60)
        #expect(r.failedCleanly, "\(r)", sourceLocation: sourceLocation)
        #expect(check(r.stderr), "unexpected error: \(r)", sourceLocation: sourceLocation)
    }

    // 1. A NUL in a path was accepted: invalid squashfs names, a cut tar name, and "matches".
    @Test func case01_nulInAPathIsRefusedWithItsLocation() throws {
        let dir = try Hostile.specDir("nul", "files:\n  - path: \"etc/mo\\0td\"\n    contents: hi\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try expectInvalid(dir) { $0.contains("spec.yml:5:11") && $0.contains("etc/mo\\0td") && $0.contains("NUL") }
        try expectBuildFailure(dir, format: "raw") { $0.contains("spec.yml:5:11") }
    }

    // 2. A .tar.gz layer with one flipped byte (gzip -t: crc error) was accepted.
    @Test func case02_flippedByteInATarGzFailsNamingTheLayer() throws {
        let dir = try Hostile.specDir("gzip", "  - tar:./layer.tar.gz\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (rc, log) = try Hostile.sh(
            """
            cd '\(dir)' && mkdir -p l/bin && head -c 300000 /dev/urandom > l/bin/payload && tar czf layer.tar.gz -C l . \
            && size=$(stat -c %s layer.tar.gz) && printf '\\377' | dd of=layer.tar.gz bs=1 seek=$((size / 2)) conv=notrunc status=none \
            && ! gzip -t layer.tar.gz 2>/dev/null && echo damaged
            """)
        #expect(rc == 0 && log.contains("damaged"), "fixture: \(log)")
        try expectBuildFailure(dir) {
            $0.contains("spec.yml:4:5") && $0.contains("tar:./layer.tar.gz") && $0.contains("CRC-32 mismatch")
                && $0.contains("integrity")
        }
    }

    // 3. uid 2^40 with mode 4755 became a setuid-root file.
    @Test func case03_ownersBeyond32BitsAreAnErrorNamingTheEntry() throws {
        let dir = try Hostile.specDir("owner", "  - tar:./owner.tar\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // GNU tar refuses to write such an owner; the PAX header is written by hand.
        try PaxTar.file(
            dir + "/owner.tar", name: "bin/su-evil", mode: 0o4755, data: Array("evil".utf8),
            pax: [("uid", "1099511627776")])
        // (GNU tar itself calls the record out of range, as it is.)
        let (_, log) = try Hostile.sh("tar tvf '\(dir)/owner.tar' --numeric-owner 2>&1")
        #expect(log.contains("uid=1099511627776"), "fixture: \(log)")
        try expectBuildFailure(dir) {
            $0.contains("spec.yml:4:5") && $0.contains("bin/su-evil") && $0.contains("uid 1099511627776")
                && $0.contains("32 bits")
        }
    }

    // 4. A sparse tar entry that is all hole became a 0-byte file.
    @Test func case04_sparseEntriesKeepTheirSizeInSquashfsAndTar() throws {
        let dir = try Hostile.specDir("sparse", "  - tar:./sparse.tar\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (rc, log) = try Hostile.sh(
            "cd '\(dir)' && mkdir s && truncate -s 256M s/hole && tar --sparse -cf sparse.tar -C s hole && ls -l sparse.tar"
        )
        #expect(rc == 0, "fixture: \(log)")
        let out = dir + "/out"
        let r = try Hostile.ingot(
            ["build", dir + "/spec.yml", "--board", "x86_64-efi", "--format", "raw,tar", "-o", out], deadline: 600)
        try #require(r.succeeded, "\(r)")
        let (trc, listing) = try Hostile.sh(
            "tar tvf '\(out)/hostile-x86_64-efi-rootfs.tar' ./hole hole 2>/dev/null; true")
        #expect(trc == 0 && listing.contains("268435456"), "tar output: \(listing)")
        // The squashfs root: unsquashfs lists the apparent size; the image stays small (sparse blocks).
        struct Manifest: Decodable {
            struct Part: Decodable {
                var name: String
                var offset: Int64
                var size: Int64
            }
            var partitions: [Part]
        }
        let m = try JSONDecoder().decode(
            Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: "\(out)/hostile-x86_64-efi.manifest.json")))
        let root = try #require(m.partitions.first { $0.name == "root-a" })
        let (src, squash) = try Hostile.sh(
            "dd if='\(out)/hostile-x86_64-efi.img' of='\(dir)/root.sqfs' bs=1M skip=\(root.offset >> 20) count=\(root.size >> 20) status=none "
                + "&& unsquashfs -lls '\(dir)/root.sqfs' | grep hole")
        #expect(src == 0 && squash.contains("268435456"), "\(squash)")
        #expect(root.size < 64 << 20, "a 256 MiB hole must stay sparse in squashfs: root is \(root.size) bytes")
    }

    // 6. data.mount injected a kernel argument; a \n in kernel.cmdline rewrote syslinux.cfg.
    @Test func case06_commandLineValuesCannotInject() throws {
        let mount = try Hostile.specDir("mount", "data:\n  mount: \"/var/lib/a ingot.root=3\"\n  size: 64M\n")
        defer { try? FileManager.default.removeItem(atPath: mount) }
        try expectInvalid(mount) { $0.contains("spec.yml:5:10") && $0.contains("a space") }
        try expectBuildFailure(mount, board: "x86_64-bios", format: "raw") { $0.contains("spec.yml:5:10") }
        let cmdline = try Hostile.specDir("cmdline", "kernel:\n  cmdline: \"quiet\\nAPPEND init=/bin/sh\"\n")
        defer { try? FileManager.default.removeItem(atPath: cmdline) }
        try expectInvalid(cmdline) { $0.contains("spec.yml:5:12") && $0.contains("line break") }
        try expectBuildFailure(cmdline, board: "x86_64-bios", format: "raw") { $0.contains("spec.yml:5:12") }
    }

    // 7. `-o` on tmpfs and on ext4 gave the same .img but a different .bmap (and manifest).
    @Test(.enabled(if: Hostile.canMount, "loop-mounts an ext4 image (root)"))
    func case07_bmapAndManifestDoNotDependOnTheHostFilesystem() throws {
        let dir = try E2E.tempDir("hostile-bmap")
        let shm = "/dev/shm/ingot-hostile-\(UUID().uuidString.prefix(8))"
        let mnt = dir + "/ext4"
        defer {
            _ = try? Hostile.sh("umount '\(mnt)'")
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: shm)
        }
        let (rc, log) = try Hostile.sh(
            "mkdir -p '\(mnt)' && truncate -s 1G '\(dir)/fs.img' && mkfs.ext4 -q -F '\(dir)/fs.img' && mount -o loop '\(dir)/fs.img' '\(mnt)' "
                + "&& stat -f -c %T '\(mnt)' && mkdir -p '\(shm)' && stat -f -c %T '\(shm)'")
        try #require(rc == 0 && log.contains("ext2/ext3") && log.contains("tmpfs"), "\(log)")
        for out in [shm + "/o", mnt + "/o"] {
            let r = try Hostile.ingot(
                ["build", "examples/hello.yml", "--board", "rpi3", "--format", "raw", "-o", out], deadline: 600)
            try #require(r.succeeded, "\(r)")
        }
        for name in ["hello-rpi3.img", "hello-rpi3.img.bmap", "hello-rpi3.manifest.json"] {
            let (same, diff) = try Hostile.sh("cmp '\(shm)/o/\(name)' '\(mnt)/o/\(name)' && echo same")
            #expect(same == 0 && diff.contains("same"), "\(name) differs between tmpfs and ext4: \(diff)")
        }
        // The bmap still copies the image exactly (bmaptool checks every range's sha256).
        let (copied, copyLog) = try Hostile.sh(
            "bmaptool copy --bmap '\(mnt)/o/hello-rpi3.img.bmap' '\(mnt)/o/hello-rpi3.img' '\(shm)/copy.img' 2>&1 && cmp '\(shm)/copy.img' '\(mnt)/o/hello-rpi3.img' && echo equal"
        )
        #expect(copied == 0 && copyLog.contains("equal"), "\(copyLog)")
    }

    // 8. inspect on a GPT whose entry has huge LBAs with valid CRCs: arithmetic overflow (SIGILL).
    @Test func case08_inspectOfAForgedGPTIsAnError() throws {
        let dir = try E2E.tempDir("hostile-gpt")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ForgedGPT.write(dir + "/forged.img", start: 9_223_372_036_854_775_000, count: 100)
        let r = try Hostile.ingot(["inspect", dir + "/forged.img"], deadline: 60)
        #expect(r.failedCleanly, "\(r)")
        #expect(r.stderr.contains("partition 1") && r.stderr.contains("9223372036854775000"), "\(r)")
    }

    // 9. data.size "9223372036854774784" passed validate, then overflowed in the planner.
    @Test func case09_hugeDataSizesFailAtValidate() throws {
        let dir = try Hostile.specDir("size", "data:\n  mount: /var/lib/a\n  size: \"9223372036854774784\"\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try expectInvalid(dir) { $0.contains("spec.yml:6:9") && $0.contains("64T") }
        try expectBuildFailure(dir, format: "raw", deadline: 120) { $0.contains("spec.yml:6:9") }
    }

    // 10. `files: source: /dev/zero` (or a link to /dev/urandom) read until memory ran out.
    @Test func case10_devicesAsSourcesAreRefused() throws {
        let dir = try Hostile.specDir("dev", "files:\n  - path: etc/zero\n    source: /dev/zero\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try expectInvalid(dir) { $0.contains("spec.yml:6:13") && $0.contains("character device") }
        try expectBuildFailure(dir, deadline: 120) { $0.contains("spec.yml:6:13") }
        let link = try Hostile.specDir("devlink", "files:\n  - path: etc/random\n    source: ./random\n")
        defer { try? FileManager.default.removeItem(atPath: link) }
        #expect(symlink("/dev/urandom", link + "/random") == 0)
        try expectBuildFailure(link, deadline: 120) { $0.contains("spec.yml:6:13") && $0.contains("character device") }
    }

    // 11. `ingot matrix --dry-run --format raw,raw`: "Duplicate values for key" (a crash).
    @Test func case11_duplicateListValuesDoNotCrash() throws {
        let dir = try E2E.tempDir("hostile-matrix")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for args in [["--format", "raw,raw"], ["--board", "x86_64-efi", "--board", "x86_64-efi", "--format", "raw"]] {
            let r = try Hostile.ingot(
                ["matrix", "examples/hello.yml", "--dry-run", "-o", dir + "/out"]
                    + (args.contains("--board") ? args : ["--board", "x86_64-efi"] + args),
                deadline: 120)
            #expect(!r.timedOut && r.signal == nil, "\(args): \(r)")
            #expect(!r.all.contains("Fatal error") && !r.all.contains("Duplicate values"), "\(args): \(r)")
        }
    }

    // 12. rpi3/rpi4 with data.size 4200000T: an endless loop in nextPowerOfTwo.
    @Test(arguments: ["rpi3", "rpi4"])
    func case12_absurdSizeOnAPowerOfTwoBoardEnds(board: String) throws {
        let dir = try Hostile.specDir("pow2-\(board)", "data:\n  mount: /var/lib/a\n  size: 4200000T\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try expectBuildFailure(dir, board: board, format: "raw", deadline: 120) { $0.contains("spec.yml:6:9") }
    }

    // 13. A FIFO as a `files:` source, as an OCI blob, or given to `inspect`: blocked forever.
    @Test func case13_fifosNeverBlock() throws {
        let dir = try Hostile.specDir("fifo", "files:\n  - path: etc/fifo\n    source: ./pipe\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(mkfifo(dir + "/pipe", 0o644) == 0)
        try expectBuildFailure(dir, deadline: 120) { $0.contains("spec.yml:6:13") && $0.contains("FIFO") }
        let r = try Hostile.ingot(["inspect", dir + "/pipe"], deadline: 60)
        #expect(r.failedCleanly && r.stderr.contains("FIFO"), "\(r)")
        // An OCI layout whose layer blob is a FIFO (the index and manifest are real).
        let oci = try Hostile.specDir(
            "fifo-oci", "onboot:\n  - name: x\n    image: oci-layout:./img\n    command: [/bin/true]\n")
        defer { try? FileManager.default.removeItem(atPath: oci) }
        let layer = try OCILayoutFixture.write(oci + "/img", fifoLayer: true)
        let b = try Hostile.ingot(
            ["build", oci + "/spec.yml", "--board", "x86_64-efi", "--format", "tar", "-o", oci + "/out"], deadline: 300)
        #expect(b.failedCleanly && b.stderr.contains("FIFO") && b.stderr.contains(layer), "\(b)")
    }

    // 14. 16T failed late with "File too large"; 3T on MBR said "fdisk_add_partition failed: No
    // space left on device"; a `ulimit -f` below the image killed the build with SIGXFSZ.
    @Test func case14_diskLimitsAreCheckedBeforeTheBuild() throws {
        let mbr = try Hostile.specDir("3t", "data:\n  mount: /var/lib/a\n  size: 3T\n")
        defer { try? FileManager.default.removeItem(atPath: mbr) }
        try expectBuildFailure(mbr, board: "rpi3", format: "raw", deadline: 120) {
            $0.contains("spec.yml:6:9") && $0.contains("2 TiB") && $0.contains("MBR") && !$0.contains("libfdisk")
        }
        let limit = try Hostile.specDir("ulimit")
        defer { try? FileManager.default.removeItem(atPath: limit) }
        let r = try Hostile.ingot(
            ["build", limit + "/spec.yml", "--board", "x86_64-efi", "--format", "raw", "-o", limit + "/out"],
            deadline: 300, shell: "ulimit -f 20000 && exec \"$INGOT\" \"$@\"")
        #expect(r.failedCleanly, "\(r)")
        #expect(r.stderr.contains("ulimit -f"), "\(r)")
        #expect(
            r.seconds < 60 && !r.stderr.contains("writing the squashfs"),
            "the limit must be checked before the build: \(r)")
        #expect(!FileManager.default.fileExists(atPath: limit + "/out"))
    }

    @Test(.enabled(if: Hostile.canMount, "mounts an ext4 image (root)"))
    func case14_fileTooLargeForTheOutputFilesystemFailsEarly() throws {
        let dir = try Hostile.specDir("16t", "data:\n  mount: /var/lib/a\n  size: 16T\n")
        let mnt = dir + "/ext4"
        defer {
            _ = try? Hostile.sh("umount '\(mnt)'")
            try? FileManager.default.removeItem(atPath: dir)
        }
        let (rc, log) = try Hostile.sh(
            "mkdir -p '\(mnt)' && truncate -s 64M '\(dir)/fs.img' && mkfs.ext4 -q -F '\(dir)/fs.img' && mount -o loop '\(dir)/fs.img' '\(mnt)'"
        )
        try #require(rc == 0, "\(log)")
        let r = try Hostile.ingot(
            ["build", dir + "/spec.yml", "--board", "x86_64-efi", "--format", "raw", "-o", mnt + "/out"], deadline: 300)
        #expect(r.failedCleanly, "\(r)")
        #expect(
            r.stderr.contains(mnt + "/out") && r.stderr.contains("File too large") && r.stderr.contains("16.0 TiB"),
            "\(r)")
        #expect(!r.stderr.contains("writing the squashfs"), "the limit must be checked before the build: \(r)")
        #expect(!FileManager.default.fileExists(atPath: mnt + "/out"))
    }

    // 14. A 4G data partition: empty space is written sparsely and the image hashed without
    // reading its holes (20G took 267 s; see the report for the figures).
    @Test func case14_largeDataPartitionStaysSparseAndQuick() throws {
        let dir = try Hostile.specDir("4g", "data:\n  mount: /var/lib/a\n  size: 4G\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/out"
        let r = try Hostile.ingot(
            ["build", dir + "/spec.yml", "--board", "x86_64-efi", "--format", "raw", "-o", out], deadline: 600)
        try #require(r.succeeded, "\(r)")
        let img = out + "/hostile-x86_64-efi.img"
        let (_, du) = try Hostile.sh("du -k '\(img)' | cut -f1; stat -c %s '\(img)'")
        let numbers = du.split(separator: "\n").compactMap { Int64($0) }
        try #require(numbers.count == 2, "\(du)")
        #expect(
            numbers[1] > 4 << 30 && numbers[0] < 300 << 10, "apparent \(numbers[1]) bytes, allocated \(numbers[0]) KiB")
        #expect(
            r.stderr.contains("4.0 GiB ext4 data partition") && r.stderr.contains("hashing the"), "progress lines: \(r)"
        )
    }

    // 16. Stage 1 was staged as $TMPDIR/ingot-stage1-*.img (left there by a SIGKILL); the
    // store's tmp/ kept blob-*/apt-* of dead builds forever.
    @Test func case16_temporaryFilesLiveUnderTheStagingDirAndDeadLeftoversGo() throws {
        let dir = try E2E.tempDir("hostile-tmp")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tmp = dir + "/tmp"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        // Leftovers of a dead build in the shared cache, and one of a live process.
        let exited = try ChildProcess.spawn(ChildProcess.Configuration("/bin/true"))
        _ = exited.waitBlocking()
        let dead = exited.pid
        let cacheTmp = E2E.cache + "/tmp"
        try FileManager.default.createDirectory(atPath: cacheTmp + "/apt-\(dead)-77", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: cacheTmp + "/apt-\(dead)-77/x.deb", contents: Data(count: 4096))
        _ = FileManager.default.createFile(atPath: cacheTmp + "/blob-\(dead)-Zz9Yy8", contents: Data(count: 4096))
        _ = FileManager.default.createFile(atPath: cacheTmp + "/blob-1-keepme", contents: Data())
        defer { unlink(cacheTmp + "/blob-1-keepme") }
        // Watch $TMPDIR while an rpi3 build (inflated arm64 kernel + stage 1) runs.
        let names = Locked(Set<String>())
        let watching = Locked(true)
        let watcher = Thread {
            while watching.get() {
                for n in (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? [] {
                    names.update { _ = $0.insert(n) }
                }
                usleep(2_000)
            }
        }
        watcher.start()
        let r = try Hostile.ingot(
            ["build", "examples/hello.yml", "--board", "rpi3", "--format", "raw", "-o", dir + "/out"],
            env: ["TMPDIR": tmp], deadline: 600)
        watching.update { $0 = false }
        try #require(r.succeeded, "\(r)")
        let temps = names.get().filter { $0.contains("stage1") || $0.contains("vmlinuz") }
        #expect(temps.isEmpty, "temporary files in $TMPDIR: \(temps)")
        let left = Set((try? FileManager.default.contentsOfDirectory(atPath: cacheTmp)) ?? [])
        #expect(!left.contains("apt-\(dead)-77") && !left.contains("blob-\(dead)-Zz9Yy8"), "\(left)")
        #expect(left.contains("blob-1-keepme"))
    }

    // 21. Errors that named internals or blamed the wrong thing.
    @Test func case21_directoryThroughASymlinkAndSymlinkLoops() throws {
        let dir = try Hostile.specDir("dirlink", "  - dir:./overlay\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/real/etc", withIntermediateDirectories: true)
        try E2E.write("hi\n", to: dir + "/real/etc/greeting")
        #expect(symlink("real", dir + "/overlay") == 0)
        let r = try Hostile.ingot(
            ["build", dir + "/spec.yml", "--board", "x86_64-efi", "--format", "tar", "-o", dir + "/out"], deadline: 300)
        try #require(r.succeeded, "a dir: through a symlink must build: \(r)")
        let (_, listing) = try Hostile.sh("tar tf '\(dir)/out/hostile-x86_64-efi-rootfs.tar'")
        #expect(listing.contains("etc/greeting"), "\(listing)")
        let loop = try Hostile.specDir("loop", "  - dir:./a\n")
        defer { try? FileManager.default.removeItem(atPath: loop) }
        #expect(symlink("b", loop + "/a") == 0 && symlink("a", loop + "/b") == 0)
        try expectInvalid(loop) { $0.contains("spec.yml:4:5") && $0.contains("symlink loop") }
    }

    @Test func case21_layerThatTurnsEtcIntoAFileIsNamed() throws {
        let dir = try Hostile.specDir("etcfile", "  - tar:./etc.tar\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (rc, log) = try Hostile.sh("cd '\(dir)' && mkdir e && echo notadir > e/etc && tar cf etc.tar -C e etc")
        #expect(rc == 0, "\(log)")
        // busybox-static (the layer before) puts entries in /etc, so FileTree refuses the replacement
        // itself, naming the entry, the earlier entries and the fix (Composer.blame covers a file
        // placed under a top-level directory that an image made a file).
        try expectBuildFailure(dir) {
            $0.contains("spec.yml:4:5") && $0.contains("tar:./etc.tar")
                && $0.contains("entry 'etc' replaces the directory /etc")
                && $0.contains("with a regular file") && $0.contains("fix the layer")
        }
    }

    @Test func case21_layerThatWhitesOutBusyboxIsNamed() throws {
        let dir = try Hostile.specDir("whiteout", "  - tar:./wh.tar\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (rc, log) = try Hostile.sh(
            "cd '\(dir)' && mkdir -p w/bin && touch w/bin/.wh.busybox && tar cf wh.tar -C w bin")
        #expect(rc == 0, "\(log)")
        try expectBuildFailure(dir) {
            $0.contains("spec.yml:4:5") && $0.contains("tar:./wh.tar") && $0.contains("removes /bin/busybox")
                && !$0.contains("add 'deb:busybox-static'")
        }
    }

    @Test func case21_inspectOfAnEmptyFileSaysSo() throws {
        let dir = try E2E.tempDir("hostile-empty")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = FileManager.default.createFile(atPath: dir + "/empty.img", contents: nil)
        let r = try Hostile.ingot(["inspect", dir + "/empty.img"], deadline: 60)
        #expect(r.failedCleanly && r.stderr.contains("empty (0 bytes)") && !r.stderr.contains("libfdisk"), "\(r)")
    }

    @Test(.enabled(if: Hostile.canMount, "mounts a small tmpfs (root)"))
    func case21_fullTmpdirNamesThePath() throws {
        let dir = try Hostile.specDir("fulltmp", "files:\n  - path: etc/big\n    source: ./big\n")
        let tmp = dir + "/tmp"
        defer {
            _ = try? Hostile.sh("umount '\(tmp)'")
            try? FileManager.default.removeItem(atPath: dir)
        }
        let (rc, log) = try Hostile.sh(
            "mkdir -p '\(tmp)' && mount -t tmpfs -o size=2m tmpfs '\(tmp)' && head -c 8000000 /dev/urandom > '\(dir)/big'"
        )
        try #require(rc == 0, "\(log)")
        try expectBuildFailure(dir, env: ["TMPDIR": tmp]) {
            $0.contains(tmp) && $0.contains("No space left") && $0.contains("TMPDIR")
        }
    }

    @Test func case21_nulInNameIsVisibleAndRefused() throws {
        let dir = try Hostile.specDir("nulname", spec: "name: \"hello\\0\"\ninit:\n  - deb:busybox-static\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try expectInvalid(dir) { $0.contains("spec.yml:1:7") && $0.contains("'hello\\0'") }
    }

    @Test func case21_deepOCINestingSaysNesting() throws {
        let dir = try Hostile.specDir(
            "nested", "onboot:\n  - name: x\n    image: oci-layout:./img\n    command: [/bin/true]\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try OCILayoutFixture.writeNested(dir + "/img", depth: 6)
        try expectBuildFailure(dir) {
            $0.contains("spec.yml:6:12") && $0.contains("nested more than 4 deep") && !$0.contains("Available: none")
        }
    }

    @Test(.enabled(if: Hostile.canMount, "mounts a small tmpfs (root)"))
    func case21_fullCacheDuringDownloadIsNotBlamedOnTheNetwork() throws {
        let dir = try Hostile.specDir("fullcache")
        let cache = dir + "/cache"
        defer {
            _ = try? Hostile.sh("umount '\(cache)'")
            try? FileManager.default.removeItem(atPath: dir)
        }
        let (rc, log) = try Hostile.sh(
            "mkdir -p '\(cache)' && mount -t tmpfs -o size=1m tmpfs '\(cache)' && mkdir -p '\(cache)/blobs/sha256' '\(cache)/refs' '\(cache)/tmp' "
                + "&& (dd if=/dev/zero of='\(cache)/filler' bs=64k count=64 status=none || true)")
        try #require(rc == 0, "\(log)")
        try expectBuildFailure(dir, env: ["INGOT_CACHE": cache]) {
            $0.contains("cache is full") && $0.contains(cache) && !$0.contains("network")
        }
    }

    @Test func case21_overlongFileNameHasItsLocation() throws {
        let dir = try Hostile.specDir(
            "long", "files:\n  - path: etc/\(String(repeating: "x", count: 300))\n    contents: hi\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try expectBuildFailure(dir, format: "raw") { $0.contains("spec.yml:5:11") && $0.contains("255 bytes") }
    }

    // 23. `files: source` took any readable host file (/etc/shadow through a symlink) silently.
    @Test func case23_hostFilesAreLoggedAndRecordedWithTheirDigest() throws {
        let dir = try Hostile.specDir(
            "hostfile",
            "files:\n  - path: etc/inside\n    source: ./inside.txt\n  - path: etc/outside\n    source: ./link\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outsideFile = dir + "-outside.txt"
        defer { unlink(outsideFile) }
        try E2E.write("secret\n", to: outsideFile)
        try E2E.write("inside\n", to: dir + "/inside.txt")
        #expect(symlink(outsideFile, dir + "/link") == 0)
        let r = try Hostile.ingot(
            ["build", dir + "/spec.yml", "--board", "x86_64-efi", "--format", "tar", "-o", dir + "/out"], deadline: 300)
        try #require(r.succeeded, "\(r)")
        #expect(
            r.stderr.contains("etc/outside") && r.stderr.contains(outsideFile)
                && r.stderr.contains("outside the spec's directory"), "\(r)")
        #expect(!r.stderr.contains("inside.txt"), "files inside the spec's directory are not called out: \(r)")
        struct Manifest: Decodable {
            struct Host: Decodable {
                var path: String
                var resolvedPath: String?
                var target: String
                var sha256: String
                var outsideSpecDirectory: Bool
            }
            var hostFiles: [Host]?
        }
        let m = try JSONDecoder().decode(
            Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/out/hostile-x86_64-efi.manifest.json")))
        let hosts = try #require(m.hostFiles)
        #expect(hosts.map(\.target) == ["/etc/inside", "/etc/outside"])
        let (_, sums) = try Hostile.sh("sha256sum '\(dir)/inside.txt' '\(outsideFile)' | cut -c1-64")
        #expect(hosts.map(\.sha256) == sums.split(separator: "\n").map(String.init))
        #expect(hosts.map(\.outsideSpecDirectory) == [false, true])
        #expect(hosts[1].path == dir + "/link" && hosts[1].resolvedPath == outsideFile)
    }
}

/// Minimal OCI layouts written by hand (blobs named by their sha256).
enum OCILayoutFixture {
    static func sha256(_ data: Data) throws -> String {
        let tmp = NSTemporaryDirectory() + "ingot-blob-\(UUID().uuidString)"
        defer { unlink(tmp) }
        try data.write(to: URL(fileURLWithPath: tmp))
        let (_, out) = try Hostile.sh("sha256sum '\(tmp)'")
        return String(out.prefix(64))
    }

    @discardableResult
    static func blob(_ layout: String, _ data: Data) throws -> (digest: String, size: Int) {
        let hex = try sha256(data)
        try FileManager.default.createDirectory(atPath: layout + "/blobs/sha256", withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: layout + "/blobs/sha256/" + hex))
        return ("sha256:" + hex, data.count)
    }

    static func json(_ object: Any) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// An amd64 image of one layer; with `fifoLayer` the layer blob is replaced by a FIFO.
    /// Returns the layer's digest.
    static func write(_ layout: String, fifoLayer: Bool) throws -> String {
        let src = layout + "-src"
        let (rc, log) = try Hostile.sh(
            "mkdir -p '\(src)/etc' && echo x > '\(src)/etc/x' && tar cf '\(layout)-layer.tar' -C '\(src)' .")
        guard rc == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: log]) }
        let layer = try blob(layout, try Data(contentsOf: URL(fileURLWithPath: layout + "-layer.tar")))
        let config = try blob(
            layout, try json(["architecture": "amd64", "os": "linux", "rootfs": ["type": "layers", "diff_ids": []]]))
        let manifest = try blob(
            layout,
            try json([
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": [
                    "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.digest,
                    "size": config.size,
                ],
                "layers": [
                    ["mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer.digest, "size": layer.size]
                ],
            ]))
        try json([
            "schemaVersion": 2,
            "manifests": [
                [
                    "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest.digest,
                    "size": manifest.size,
                ]
            ],
        ]).write(to: URL(fileURLWithPath: layout + "/index.json"))
        try json(["imageLayoutVersion": "1.0.0"]).write(to: URL(fileURLWithPath: layout + "/oci-layout"))
        if fifoLayer {
            let path = layout + "/blobs/sha256/" + layer.digest.dropFirst(7)
            unlink(path)
            mkfifo(path, 0o644)
        }
        return layer.digest
    }

    /// index.json → `depth` nested indexes, the innermost empty.
    static func writeNested(_ layout: String, depth: Int) throws {
        try FileManager.default.createDirectory(atPath: layout, withIntermediateDirectories: true)
        var inner: [String: Any] = [
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [],
        ]
        for _ in 0..<depth {
            let b = try blob(layout, try json(inner))
            inner = [
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [
                    ["mediaType": "application/vnd.oci.image.index.v1+json", "digest": b.digest, "size": b.size]
                ],
            ]
        }
        try json(inner).write(to: URL(fileURLWithPath: layout + "/index.json"))
        try json(["imageLayoutVersion": "1.0.0"]).write(to: URL(fileURLWithPath: layout + "/oci-layout"))
    }
}
