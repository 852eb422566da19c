// `ingot test --lab FILE` as a user runs it: QEMU plays the real board — its console is a
// pseudo-terminal (`-serial pty`) linked where the lab file's serial device is, and the lab's
// power commands start and stop that QEMU; media-switch puts the image under test on its "card".
// Then the bad inputs: a serial device that is not there or not a terminal, a failing power
// command and lab-file mistakes are infrastructure errors (exit 2), never guest failures, and the
// board is powered off again whenever it was powered on.

import Foundation
import Testing

@Suite(.serialized) struct LabBackendTests {
    /// The scripts of a QEMU-played x86_64-bios board; every call is logged to `calls`.
    static func writeBench(_ dir: String) throws {
        try E2E.write(
            """
            #!/bin/sh
            # The SD muxer: the image under test becomes the board's disk.
            echo media-switch >> calls
            cp --sparse=always "$INGOT_IMAGE" card.img

            """, to: dir + "/media-switch.sh")
        try E2E.write(
            """
            #!/bin/sh
            # Power on: QEMU plays the board, paused until the lab has the console open (QEMU drops
            # what it prints while nobody has the pseudo-terminal open). Whatever keeps running
            # after the command returns leaves its process group (QEMU's -daemonize, setsid).
            set -e
            echo power-on >> calls
            rm -f ttyBOARD mon.in mon.out qemu.pid qemu.err
            mkfifo mon.in mon.out
            qemu-system-x86_64 -M q35,graphics=off -accel tcg -m 512 -smp 1 -display none -no-reboot \\
              -drive file=card.img,format=raw,if=virtio -serial pty -monitor pipe:mon -S \\
              -daemonize -pidfile qemu.pid > qemu.err 2>&1
            pts=$(sed -n 's,.*redirected to \\(/dev/pts/[0-9]*\\).*,\\1,p' qemu.err)
            [ -n "$pts" ] || { cat qemu.err >&2; exit 1; }
            ln -s "$pts" ttyBOARD
            cp qemu.pid qemu.lastpid
            # The board resumes 1 s after the lab has the console open: resumed at once, its
            # first output was lost to the lab's open-and-flush every time (the old per-descriptor
            # readlink scan was slow enough to pass usually, and failed 1 run in 4 under load).
            setsid sh -c '
              for i in $(seq 600); do
                if find /proc/[0-9]*/fd -maxdepth 1 -lname "$1" -print 2>/dev/null | grep -q .; then
                  sleep 1; echo cont > mon.in; exit 0
                fi
                sleep 0.1
              done' resume "$pts" < /dev/null > /dev/null 2>&1 &

            """, to: dir + "/power-on.sh")
        try E2E.write(
            """
            #!/bin/sh
            echo power-off >> calls
            if [ -f qemu.pid ]; then
              pid=$(cat qemu.pid)
              kill "$pid" 2>/dev/null
              for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            fi
            rm -f ttyBOARD qemu.pid mon.in mon.out
            exit 0

            """, to: dir + "/power-off.sh")
    }

    static func lab(_ dir: String, device: String? = nil, powerOn: String = "sh power-on.sh", extra: String = "")
        -> String
    {
        """
        # QEMU playing an x86_64-bios board on a pseudo-terminal.
        board: x86_64-bios
        serial:
          device: \(device ?? dir + "/ttyBOARD")
          baud: 115200
          appearTimeout: 20
        power-on: \(powerOn)
        power-off: sh power-off.sh
        media-switch: sh media-switch.sh
        \(extra)
        """
    }

    /// A small disk with an MBR partition table: enough for the target to resolve as a disk image
    /// (these tests never get as far as booting it).
    static func fakeImage(in dir: String) throws -> String {
        let image = dir + "/x.img"
        _ = try shellOutput("truncate -s 4M \(image) && echo ',,c' | sfdisk -q \(image)")
        return image
    }

    static func calls(_ dir: String) -> [String] {
        ((try? String(contentsOfFile: dir + "/calls", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func qemuPlaysTheBoardOnAPseudoTerminal() throws {
        let out = try E2E.tempDir("lab-boot")
        defer {
            _ = try? shellOutput("cd \(out)/bench && sh power-off.sh")
            try? FileManager.default.removeItem(atPath: out)
        }
        let build = try E2E.ingot([
            "build", "examples/hello.yml", "--board", "x86_64-bios", "--format", "raw", "-o", out + "/o",
        ])
        try #require(build.status == 0, "\(build.all)")
        let bench = out + "/bench"
        try FileManager.default.createDirectory(atPath: bench, withIntermediateDirectories: true)
        try Self.writeBench(bench)
        try E2E.write(Self.lab(bench), to: bench + "/lab.yml")
        let image = out + "/o/hello-x86_64-bios.img"
        let before = try shellOutput("sha256sum \(image)")

        let r = try E2E.ingot([
            "test", image, "--lab", bench + "/lab.yml", "--log", out + "/console.log", "--json", out + "/result.json",
        ])
        #expect(r.status == 0, "\(r.all)")
        #expect(r.stdout.contains("PASS hello-x86_64-bios on x86_64-bios"), "\(r.all)")
        #expect(Self.calls(bench) == ["power-off", "media-switch", "power-on", "power-off"])
        let console = try String(contentsOfFile: out + "/console.log", encoding: .utf8)
        #expect(console.contains("SeaBIOS (version"), "the firmware's first lines reach the console")
        #expect(console.contains("@@INGOT v1 stage=ready"))
        let result = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/result.json")))
                as? [String: Any])
        #expect(result["accelerator"] as? String == "lab")
        // Powered off: the QEMU playing the board is gone, and the image was only read.
        #expect(!FileManager.default.fileExists(atPath: bench + "/qemu.pid"))
        let pid = try String(contentsOfFile: bench + "/qemu.lastpid", encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines)
        #expect(!pid.isEmpty && !FileManager.default.fileExists(atPath: "/proc/\(pid)"), "QEMU \(pid) still runs")
        #expect(try shellOutput("sha256sum \(image)") == before)
    }

    @Test func missingSerialDeviceIsAnInfrastructureError() throws {
        let dir = try E2E.tempDir("lab-noserial")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let image = try Self.fakeImage(in: dir)
        try E2E.write("#!/bin/sh\necho \"$(basename \"$0\" .sh)\" >> calls\n", to: dir + "/record.sh")
        try E2E.write(
            """
            board: x86_64-bios
            serial:
              device: /dev/ttyINGOT-nonexistent
              appearTimeout: 0.5
            power-on: sh record.sh; echo power-on >> calls
            power-off: echo power-off >> calls
            """, to: dir + "/lab.yml")
        let r = try E2E.ingot(["test", image, "--board", "x86_64-bios", "--lab", dir + "/lab.yml"])
        #expect(r.status == 2, "\(r.all)")
        #expect(r.stderr.contains("serial device /dev/ttyINGOT-nonexistent does not exist"), "\(r.all)")
        #expect(r.stderr.contains("\(dir)/lab.yml:3:"), "names the lab file's line: \(r.all)")
        #expect(!r.stdout.contains("FAIL"), "not a guest failure: \(r.all)")
        #expect(Self.calls(dir).filter { $0.hasPrefix("power") } == ["power-off", "power-on", "power-off"])
    }

    @Test func failingPowerCommandIsAnInfrastructureError() throws {
        let dir = try E2E.tempDir("lab-power")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let image = try Self.fakeImage(in: dir)
        try E2E.write(
            """
            serial: {device: /dev/ttyINGOT-nonexistent}
            power-on: echo relay says no >&2; exit 3
            power-off: echo power-off >> calls
            """, to: dir + "/lab.yml")
        let r = try E2E.ingot(["test", image, "--board", "x86_64-bios", "--lab", dir + "/lab.yml"])
        #expect(r.status == 2, "\(r.all)")
        #expect(
            r.stderr.contains("lab power-on command failed (exit status 3)") && r.stderr.contains("relay says no"),
            "\(r.all)")
        #expect(r.stderr.contains("\(dir)/lab.yml:2:"), "\(r.all)")
        #expect(Self.calls(dir) == ["power-off", "power-off"], "powered off again after the failed power-on")

        // A serial "device" that is a plain file.
        try E2E.write("serial: {device: \(dir)/lab.yml}\npower-on: 'true'\npower-off: 'true'\n", to: dir + "/file.yml")
        let notTTY = try E2E.ingot(["test", image, "--board", "x86_64-bios", "--lab", dir + "/file.yml"])
        #expect(
            notTTY.status == 2 && notTTY.stderr.contains("is not a serial device (not a terminal)"), "\(notTTY.all)")
    }

    @Test func labFileMistakesNameTheLine() throws {
        let dir = try E2E.tempDir("lab-file")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let image = try Self.fakeImage(in: dir)
        let cases: [(String, String)] = [
            (
                "serial: {device: /dev/ttyUSB0, baud: 12345}\npower-on: 'true'\npower-off: 'true'\n",
                "lab.yml:1:38: error: 12345 is not a baud rate"
            ),
            ("serial: {device: /dev/ttyUSB0}\npower-on: 'true'\npowr-off: 'true'\n", "lab.yml:3:1"),
            ("serial: {device: ttyUSB0}\npower-on: 'true'\npower-off: 'true'\n", "is not an absolute path"),
            ("serial: {device: /dev/ttyUSB0}\npower-off: 'true'\n", "power-on"),
            (
                "board: rpi3\nserial: {device: /dev/ttyUSB0}\npower-on: 'true'\npower-off: 'true'\n",
                "the lab's board is rpi3"
            ),
        ]
        for (index, (text, expected)) in cases.enumerated() {
            try E2E.write(text, to: dir + "/lab.yml")
            let r = try E2E.ingot(["test", image, "--board", "x86_64-bios", "--lab", dir + "/lab.yml"])
            #expect(r.status == 2, "case \(index): \(r.all)")
            #expect(r.stderr.contains(expected), "case \(index): \(r.all)")
        }
        let missing = try E2E.ingot(["test", image, "--board", "x86_64-bios", "--lab", dir + "/nope.yml"])
        #expect(
            missing.status == 2 && missing.stderr.contains("nope.yml:1:1: error: cannot read the lab file"),
            "\(missing.all)")
    }
}
