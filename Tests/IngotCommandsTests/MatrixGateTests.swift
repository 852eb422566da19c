// The release gate decides by case, never by error text: a board this QEMU cannot emulate and a
// format a board cannot have are skips (printed; exit 1 under --fail-on-skip), a spec mistake
// (an OCI layer of an unsupported media type) and a missing QEMU are errors (exit 2). Disk
// formats vary by bus, which shows in cell names, log directories and every report.
import Foundation
import IngotBoot
import IngotContract
import IngotSources
import Testing

@Suite(.serialized) struct MatrixGateTests {
    /// The release-gate check: a board no installed QEMU can emulate (rpi4, from a board
    /// copy that asks for QEMU 99) is skipped — exit 1 under --fail-on-skip, exit 0 without it,
    /// the skip printed either way.
    @Test func unemulatedBoardFailsTheGateUnderFailOnSkip() throws {
        let out = try E2E.tempDir("gate-rpi4")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let boards = try E2E.boardsNeedingFutureQEMU("rpi4", in: out)
        var r = try E2E.ingot(
            [
                "matrix", "examples/hello.yml", "--board", "rpi4", "--format", "raw", "--fail-on-skip", "-o",
                out + "/m",
                "--json", out + "/r.json",
            ], env: boards)
        #expect(r.status == 1, "\(r.all)")
        #expect(r.stdout.contains("skipped rpi4/raw/sd/qemu: board rpi4 needs QEMU ≥ 99.0"), "\(r.stdout)")
        #expect(r.stdout.contains("exit 1 (skipped cells fail the gate: --fail-on-skip)"))
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/r.json")))
                as? [String: Any])
        let cell = try #require((json["cells"] as? [[String: Any]])?.first)
        #expect(
            cell["status"] as? String == "skipped" && cell["bus"] as? String == "sd"
                && cell["format"] as? String == "raw")

        // Without the flag the gate passes, but the skip is still said — even with --quiet.
        r = try E2E.ingot(
            [
                "matrix", "examples/hello.yml", "--board", "rpi4", "--format", "kernel+initrd", "-o", out + "/m", "-q",
            ], env: boards)
        #expect(r.status == 0, "\(r.all)")
        #expect(
            r.stderr.contains("ingot matrix: skipped rpi4/kernel+initrd/qemu: board rpi4 needs QEMU ≥ 99.0"), "\(r.all)"
        )
    }

    /// An ISO for a Raspberry Pi is a skip with its reason, decided before any build.
    @Test func anIsoForAPiIsASkipNotAnError() throws {
        let out = try E2E.tempDir("gate-iso")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let started = Date()
        var r = try E2E.ingot([
            "matrix", "examples/hello.yml", "--board", "rpi3", "--format", "iso", "-o", out + "/m", "--junit",
            out + "/r.xml",
        ])
        #expect(r.status == 0, "\(r.all)")
        #expect(r.stdout.contains("skipped rpi3/iso/qemu: rpi3 cannot have the iso format"), "\(r.stdout)")
        #expect(!r.stdout.contains("building hello for rpi3: iso") || Date().timeIntervalSince(started) < 30)
        #expect(
            !FileManager.default.fileExists(atPath: out + "/m/hello-rpi3.manifest.json"),
            "nothing is built for a skipped format")
        let junit = try JUnitCells.parse(out + "/r.xml")
        #expect(junit.outcomes["ingot.rpi3/iso/qemu"]?.hasPrefix("skipped: rpi3 cannot have the iso format") == true)
        r = try E2E.ingot([
            "matrix", "examples/hello.yml", "--board", "rpi3", "--format", "iso", "-o", out + "/m", "--fail-on-skip",
        ])
        #expect(r.status == 1, "\(r.all)")
    }

    /// A spec mistake (an OCI layer of a media type Ingot cannot read) is an error cell and exit 2,
    /// never a skip (it used to be skipped because its message said "not supported").
    @Test func anUnsupportedLayerIsAnErrorNotASkip() throws {
        let dir = try E2E.tempDir("gate-oci")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func blob(_ data: Data) throws -> [String: Any] {
            let digest = Digest.of(data)
            try FileManager.default.createDirectory(
                atPath: dir + "/img/blobs/sha256", withIntermediateDirectories: true)
            try data.write(to: URL(fileURLWithPath: dir + "/img/blobs/sha256/" + digest.hex))
            return ["digest": digest.description, "size": data.count]
        }
        func json(_ object: Any) throws -> Data {
            try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        }
        var layer = try blob(Data("not a tar".utf8))
        layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar+bzip2"
        var config = try blob(
            try json(["architecture": "amd64", "os": "linux", "rootfs": ["type": "layers", "diff_ids": []]]))
        config["mediaType"] = "application/vnd.oci.image.config.v1+json"
        var manifest = try blob(
            try json([
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config,
                "layers": [layer],
            ]))
        manifest["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
        try json(["schemaVersion": 2, "manifests": [manifest]]).write(to: URL(fileURLWithPath: dir + "/img/index.json"))
        try E2E.write("{\"imageLayoutVersion\": \"1.0.0\"}", to: dir + "/img/oci-layout")
        try E2E.write(
            "name: oci\ninit:\n  - deb:busybox-static\nonboot:\n  - name: x\n    image: oci-layout:./img\n    command: [/bin/true]\n",
            to: dir + "/spec.yml")

        let r = try E2E.ingot([
            "matrix", dir + "/spec.yml", "--board", "x86_64-efi", "--format", "kernel+initrd", "-o", dir + "/m",
            "--json", dir + "/r.json",
        ])
        #expect(r.status == 2, "\(r.all)")
        #expect(r.stdout.contains("x86_64-efi/kernel+initrd/qemu  ERROR"), "\(r.stdout)")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/r.json")))
                as? [String: Any])
        let cell = try #require((json["cells"] as? [[String: Any]])?.first)
        #expect(cell["status"] as? String == "error")
        let reason = ((cell["verdict"] as? [String: Any])?["reason"] as? String) ?? ""
        #expect(reason.contains("spec.yml:6") && reason.contains("tar+bzip2"), "\(reason)")
    }

    /// A missing QEMU binary is an infrastructure error (exit 2), never a skip. (QEMU is hidden
    /// by a PATH of links to every host tool except qemu-system-*: apt and the rest still run.)
    @Test func aMissingQEMUIsAnInfrastructureError() throws {
        let dir = try E2E.tempDir("gate-noqemu")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let args = [
            "examples/hello.yml", "--lock", E2E.root + "/firmware/lock.json", "--board", "x86_64-efi", "--format",
            "kernel+initrd", "-o", dir + "/m",
        ]
        let warm = try E2E.ingot(["build"] + args)
        try #require(warm.status == 0, "\(warm.all)")
        let tools = dir + "/tools"
        try FileManager.default.createDirectory(atPath: tools, withIntermediateDirectories: true)
        for bin in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: bin)) ?? []
            where !name.hasPrefix("qemu-system") && !FileManager.default.fileExists(atPath: tools + "/" + name) {
                try FileManager.default.createSymbolicLink(
                    atPath: tools + "/" + name, withDestinationPath: bin + "/" + name)
            }
        }
        let r = try E2E.ingot(["matrix"] + args, env: ["PATH": tools, "INGOT_QEMU_PREFIXES": dir + "/no-qemu-here"])
        #expect(r.status == 2, "\(r.all)")
        #expect(
            r.stdout.contains("ERROR")
                && r.stdout.contains("qemu-system-x86_64 (needed by board x86_64-efi) is not installed"), "\(r.stdout)")
        #expect(!r.stdout.contains("SKIPPED"))
    }

    /// The bus axis: disk cells per bus (`all` = each board's buses, a list = a skipped cell on a
    /// board without that bus), in cell names and log directories; kernel+initrd has no bus.
    @Test func busesAreAnAxisOfDiskCells() throws {
        let out = try E2E.tempDir("gate-bus")
        defer { try? FileManager.default.removeItem(atPath: out) }
        var r = try E2E.ingot([
            "matrix", "examples/hello.yml", "--board", "x86_64-efi", "--board", "rpi3", "--format", "kernel+initrd,raw",
            "--bus", "all", "-o", out,
            "--dry-run",
        ])
        #expect(r.status == 0, "\(r.all)")
        // x86_64-efi: kernel+initrd + raw on virtio, ahci, nvme, usb, scsi; rpi3: kernel+initrd + raw on sd.
        #expect(r.stdout.contains("cells (8):"), "\(r.stdout)")
        for bus in ["virtio", "ahci", "nvme", "usb", "scsi"] {
            #expect(r.stdout.contains("x86_64-efi/raw/\(bus)/qemu: runs"))
        }
        #expect(r.stdout.contains("x86_64-efi/kernel+initrd/qemu: runs"))
        #expect(
            r.stdout.contains(
                "x86_64-efi/raw/virtio/qemu: runs (512 MiB, logs in \(out)/cells/x86_64-efi-raw-virtio-qemu)"))
        #expect(r.stdout.contains("rpi3/raw/sd/qemu: runs"))
        r = try E2E.ingot([
            "matrix", "examples/hello.yml", "--board", "x86_64-efi", "--format", "raw", "--bus", "virtio,sd", "-o", out,
            "--dry-run",
        ])
        #expect(
            r.stdout.contains("x86_64-efi/raw/sd/qemu: skipped — board x86_64-efi has no sd bus (its buses: virtio"),
            "\(r.stdout)")
        // A matrix file says the same with `buses:`; a repeated name is refused with its line.
        try E2E.write("boards: [x86_64-efi]\nformats: [raw]\nbuses: [virtio, virtio]\n", to: out + "/m.yml")
        r = try E2E.ingot(["matrix", "examples/hello.yml", "--matrix", out + "/m.yml", "-o", out, "--dry-run"])
        #expect(
            r.status != 0 && r.stderr.contains("\(out)/m.yml:3:") && r.stderr.contains("'virtio' is listed twice"),
            "\(r.all)")
        try E2E.write("boards: [x86_64-efi]\nformats: [raw]\nbuses: all\n", to: out + "/m.yml")
        r = try E2E.ingot(["matrix", "examples/hello.yml", "--matrix", out + "/m.yml", "-o", out, "--dry-run"])
        #expect(r.status == 0 && r.stdout.contains("x86_64-efi/raw/virtio/qemu: runs"), "\(r.all)")
        // `ingot test --bus` checks the board's buses.
        r = try E2E.ingot([
            "test", "\(out)/nothing-x86_64-efi.img", "--board", "x86_64-efi", "--bus", "virtio", "--dry-run",
        ])
        #expect(r.status != 0 && r.stderr.contains("no such file"), "\(r.all)")
    }

    /// `--exclude` / `exclude:` leave cells out on purpose: not built, not reported, not skipped;
    /// a pattern naming nothing that exists is an error with its option or file:line.
    @Test func excludedCellsAreLeftOutNotSkipped() throws {
        let out = try E2E.tempDir("gate-exclude")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let base = [
            "matrix", "examples/hello.yml", "--board", "x86_64-bios", "--board", "rpi3", "--format", "iso,raw", "--bus",
            "all", "-o", out, "--dry-run",
        ]
        var r = try E2E.ingot(base + ["--exclude", "rpi3/iso", "--exclude", "*/raw/ahci"])
        #expect(r.status == 0, "\(r.all)")
        #expect(r.stdout.contains("excluded (2): x86_64-bios/raw/ahci/qemu, rpi3/iso/qemu"), "\(r.stdout)")
        #expect(!r.stdout.contains("  rpi3/iso/qemu:") && !r.stdout.contains("skipped"), "\(r.stdout)")
        #expect(
            r.stdout.contains("  x86_64-bios/iso/qemu: runs") && r.stdout.contains("  rpi3/raw/sd/qemu: runs"),
            "\(r.stdout)")
        // Without the exclusion the Pi ISO is a skip (it would fail a --fail-on-skip gate).
        r = try E2E.ingot(base)
        #expect(r.stdout.contains("rpi3/iso/qemu: skipped"), "\(r.stdout)")

        for (pattern, said) in [
            ("rpi9/iso", "no board 'rpi9'"), ("rpi3/isoo", "no format 'isoo'"), ("rpi3/raw/pcie", "no bus 'pcie'"),
            ("rpi3", "is not BOARD/FORMAT"), ("x86_64-bios/iso/ahci", "iso cells have no bus"),
        ] {
            r = try E2E.ingot(base + ["--exclude", pattern])
            #expect(
                r.status != 0 && r.stderr.contains("--exclude: '\(pattern)'") && r.stderr.contains(said),
                "\(pattern): \(r.all)")
        }
        r = try E2E.ingot(base + ["--exclude", "*/*"])
        #expect(r.status != 0 && r.stderr.contains("every cell is excluded"), "\(r.all)")

        try E2E.write(
            "boards: [x86_64-bios, rpi3]\nformats: [iso]\nexclude:\n  - rpi3/iso\n  - rpi3/isoo\n", to: out + "/m.yml")
        r = try E2E.ingot(["matrix", "examples/hello.yml", "--matrix", out + "/m.yml", "-o", out, "--dry-run"])
        #expect(
            r.status != 0 && r.stderr.contains("\(out)/m.yml:5:") && r.stderr.contains("no format 'isoo'"), "\(r.all)")
        try E2E.write("boards: [x86_64-bios, rpi3]\nformats: [iso]\nexclude: [rpi3/iso]\n", to: out + "/m.yml")
        r = try E2E.ingot(["matrix", "examples/hello.yml", "--matrix", out + "/m.yml", "-o", out, "--dry-run"])
        #expect(
            r.status == 0 && r.stdout.contains("cells (1):") && r.stdout.contains("excluded (1): rpi3/iso/qemu"),
            "\(r.all)")
    }

    /// Reports carry the bus: JSON field, JUnit test name, HTML column.
    @Test func reportsNameTheBus() throws {
        let verdict = BootVerdict(
            passed: true, reached: .ready, failedStage: nil, reason: "ready", stageTimes: [.ready: 2])
        let cells = [
            CellResult(
                board: "x86_64-efi", format: .raw, bus: .virtio, backend: .qemu, host: "local", verdict: verdict,
                logPath: "/nonexistent"),
            CellResult(
                board: "x86_64-efi", format: .raw, bus: .nvme, backend: .qemu, host: "local", verdict: verdict,
                logPath: "/nonexistent"),
            CellResult(
                board: "x86_64-efi", format: .kernelInitrd, backend: .qemu, host: "local", verdict: verdict,
                logPath: "/nonexistent"),
        ]
        #expect(
            cells.map(\.name) == [
                "x86_64-efi/raw/virtio/qemu", "x86_64-efi/raw/nvme/qemu", "x86_64-efi/kernel+initrd/qemu",
            ])
        let junit = JUnitReport.render(cells)
        for name in ["raw/virtio/qemu", "raw/nvme/qemu", "kernel+initrd/qemu"] {
            #expect(junit.contains("name=\"\(name)\""), "\(name)")
        }
        let document = try JSONReport.parse(try JSONReport.render(cells))
        #expect(document.cells.map(\.bus) == [.virtio, .nvme, nil])
        let json = String(decoding: try JSONReport.render(cells), as: UTF8.self)
        #expect(json.contains("\"bus\" : \"nvme\"") && json.contains("\"format\" : \"kernel+initrd\""))
        let html = HTMLReport.render(cells, readLog: { _ in nil })
        #expect(
            html.contains("<th>raw/virtio</th>") && html.contains("<th>raw/nvme</th>")
                && html.contains("<th>kernel+initrd</th>"))
        // Old reports (no bus field) still read.
        let old = json.replacingOccurrences(of: "\"bus\" : \"virtio\",", with: "").replacingOccurrences(
            of: "\"bus\" : \"nvme\",", with: "")
        #expect(try JSONReport.parse(Data(old.utf8)).cells.allSatisfy { $0.bus == nil })
    }
}
