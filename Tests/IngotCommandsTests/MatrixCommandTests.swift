// `ingot matrix` end to end: a real matrix (arm64-efi boots, rpi4 skipped: its board copy asks for QEMU 99) with its
// JUnit/JSON/HTML read back; a guest failure exits 1 with the stage verdict in JUnit; an
// unreachable libvirt host is retried and exits 2; --dry-run prints cells and plans; a matrix
// file with a mistake names file:line.
import Foundation
#if canImport(FoundationXML)
    import FoundationXML
#endif
import Testing

final class JUnitCells: NSObject, XMLParserDelegate {
    var cases: [String] = []
    var outcomes: [String: String] = [:]
    private var current = ""
    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String]
    ) {
        switch name {
        case "testcase":
            current = "\(attributes["classname"] ?? "")/\(attributes["name"] ?? "")"
            cases.append(current)
        case "failure", "error", "skipped":
            outcomes[current] = "\(name): \(attributes["message"] ?? "")"
        default: break
        }
    }

    static func parse(_ path: String) throws -> JUnitCells {
        let parser = try #require(XMLParser(contentsOf: URL(fileURLWithPath: path)))
        let collector = JUnitCells()
        parser.delegate = collector
        #expect(parser.parse())
        return collector
    }
}

@Suite(.serialized) struct MatrixCommandTests {
    @Test func matrixBootsReportsAndSkips() throws {
        let out = try E2E.tempDir("matrix")
        defer { try? FileManager.default.removeItem(atPath: out) }
        // rpi4 boots under the QEMU 10 ci/bootstrap installs; a copy of the boards asking for a
        // QEMU that does not exist makes it the cell this QEMU cannot emulate.
        let boards = try E2E.boardsNeedingFutureQEMU("rpi4", in: out)
        let r = try E2E.ingot(
            [
                "matrix", "examples/hello.yml", "--board", "arm64-efi", "--board", "rpi4", "--format", "kernel+initrd",
                "-o", out + "/m",
                "--junit", out + "/r.xml", "--json", out + "/r.json", "--html", out + "/r.html", "--jobs", "1",
            ], env: boards)
        #expect(r.status == 0, "\(r.all)")
        #expect(r.stdout.contains("matrix: 1 passed, 0 failed, 1 skipped, 0 error; exit 0"))
        // Skips are said, not silent.
        #expect(r.stdout.contains("skipped rpi4/kernel+initrd/qemu: board rpi4 needs QEMU"))

        let junit = try JUnitCells.parse(out + "/r.xml")
        #expect(junit.cases == ["ingot.arm64-efi/kernel+initrd/qemu", "ingot.rpi4/kernel+initrd/qemu"])
        #expect(junit.outcomes["ingot.arm64-efi/kernel+initrd/qemu"] == nil)
        #expect(junit.outcomes["ingot.rpi4/kernel+initrd/qemu"]?.hasPrefix("skipped: board rpi4 needs QEMU") == true)

        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/r.json")))
                as? [String: Any])
        #expect(json["passed"] as? Int == 1 && json["skipped"] as? Int == 1)
        let cells = try #require(json["cells"] as? [[String: Any]])
        let first = try #require(cells.first)
        #expect(first["status"] as? String == "passed")
        let verdict = try #require(first["verdict"] as? [String: Any])
        #expect(verdict["reached"] as? String == "ready")
        let log = try #require(first["logPath"] as? String)
        #expect(try String(contentsOfFile: log, encoding: .utf8).contains("ingot: hello is ready"))

        let html = try String(contentsOfFile: out + "/r.html", encoding: .utf8)
        #expect(html.contains("data-status=\"passed\"") && html.contains("<td class=\"skip\">"))
        #expect(try shellOutput("pgrep -f '[q]emu-system.*\(out)' || true").isEmpty)
    }

    @Test func guestFailureExitsOneWithStageInJUnit() throws {
        let out = try E2E.tempDir("matrix-fail")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try E2E.ingot([
            "matrix", "examples/faults/onboot-fails.yml", "--board", "arm64-efi", "-o", out + "/m", "--junit",
            out + "/r.xml",
            "--retries", "2",
        ])
        #expect(r.status == 1, "\(r.all)")
        let junit = try JUnitCells.parse(out + "/r.xml")
        #expect(
            junit.outcomes["ingot.arm64-efi/kernel+initrd/qemu"]?.contains(
                "failure: stage init: init reported failure (onboot): step boom exited with rc=3") == true)
        #expect(!r.stdout.contains("retry"))  // guest failures are never retried
        #expect(try shellOutput("pgrep -f '[q]emu-system.*\(out)' || true").isEmpty)
    }

    @Test func unreachableHostIsRetriedAndExitsTwo() throws {
        let out = try E2E.tempDir("matrix-infra")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try E2E.ingot([
            "matrix", "examples/faults/minimal.yml", "--board", "arm64-efi", "-o", out + "/m", "--backend", "libvirt",
            "--host", "qemu+tcp://127.0.0.1:9/system", "--retries", "1", "--json", out + "/r.json",
        ])
        #expect(r.status == 2, "\(r.all)")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/r.json")))
                as? [String: Any])
        let cell = try #require((json["cells"] as? [[String: Any]])?.first)
        #expect(cell["status"] as? String == "error")
        #expect(cell["attempts"] as? Int == 2)
        #expect((cell["retryReasons"] as? [String])?.count == 1)
        #expect(r.stdout.contains("retry  arm64-efi/kernel+initrd/libvirt"))
    }

    @Test func dryRunPrintsCellsAndPlans() throws {
        let out = try E2E.tempDir("matrix-dry")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try E2E.ingot([
            "matrix", "examples/hello.yml", "--board", "all", "--format", "kernel+initrd,raw", "-o", out, "--dry-run",
        ])
        #expect(r.status == 0, "\(r.all)")
        #expect(r.stdout.contains("cells (10):"))
        #expect(r.stdout.contains("x86_64-efi/raw/virtio/qemu: runs (512 MiB"))
        #expect(r.stdout.contains("rpi3/raw/sd/qemu: runs"))
        #expect(r.stdout.contains("rpi4/raw/sd/qemu: skipped"))
        #expect(r.stdout.contains("== arm64-efi/kernel+initrd/qemu\nmachine plan for arm64-efi"))
        #expect(r.stdout.contains("-kernel \(out)/hello-arm64-efi-kernel"))
        #expect(E2E.listing(out).isEmpty)  // nothing built
    }

    @Test func matrixFileErrorsNameFileAndLine() throws {
        let dir = try E2E.tempDir("matrix-file")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/m.yml"
        try E2E.write("boards: [arm64-efi]\nformats: [kernel+initrd, qcow]\n", to: file)
        var r = try E2E.ingot(["matrix", "examples/hello.yml", "--matrix", file, "--dry-run"])
        #expect(r.status != 0)
        #expect(
            r.stderr.contains("\(file):2:") && r.stderr.contains("unknown format 'qcow'")
                && r.stderr.contains("did you mean 'qcow2'"), "\(r.all)")
        try E2E.write("boards: [arm64-efi]\nhosts:\n  - uri: local\n    job: 2\n", to: file)
        r = try E2E.ingot(["matrix", "examples/hello.yml", "--matrix", file, "--dry-run"])
        #expect(
            r.stderr.contains("\(file):4:5") && r.stderr.contains("unknown host key 'job'")
                && r.stderr.contains("'jobs'"), "\(r.all)")
        try E2E.write(
            "boards: [arm64-efi]\nformats: raw\nretries: 3\nhosts:\n  - uri: local\n    jobs: 1\n    memory: 2048\n",
            to: file)
        r = try E2E.ingot(["matrix", "examples/hello.yml", "--matrix", file, "--dry-run", "-o", dir + "/o"])
        #expect(r.status == 0, "\(r.all)")
        #expect(r.stdout.contains("qemu local: 1 at once, 2048 MiB guest memory"))
        #expect(r.stdout.contains("retries after infrastructure failures: 3"))
        #expect(r.stdout.contains("arm64-efi/raw/virtio/qemu: runs"))
    }

    @Test func helpDocumentsExitCodes() throws {
        let r = try E2E.ingot(["matrix", "--help"])
        #expect(r.stdout.contains("0  every cell that ran passed"))
        #expect(
            r.stdout.contains(
                "1  at least one guest failed a boot stage, or a cell was skipped\n     under --fail-on-skip"))
        #expect(r.stdout.contains("2  no guest failure, but infrastructure errors"))
        #expect(r.stdout.contains("--fail-on-skip") && r.stdout.contains("--bus"))
    }
}
