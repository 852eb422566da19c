// Bad board data for disk images: each is refused with an error naming the board, the rule or
// the file and what to do, and the output directory stays empty.
import Foundation
import Testing

@Suite struct DiskBadInputTests {
    /// A copy of boards/ with `board`'s YAML edited by `edit`.
    func boards(editing board: String, _ edit: (String) -> String) throws -> String {
        let dir = try E2E.tempDir("boards")
        for f in E2E.listing(E2E.root + "/boards") where f.hasSuffix(".yml") {
            var text = try String(contentsOfFile: E2E.root + "/boards/" + f, encoding: .utf8)
            if f == board + ".yml" {
                let edited = edit(text)
                #expect(edited != text, "the edit changed nothing in \(f)")
                text = edited
            }
            try E2E.write(text, to: dir + "/" + f)
        }
        return dir
    }

    func expectRefused(
        board: String, edit: (String) -> String, _ check: (String) -> Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let boardsDir = try boards(editing: board, edit)
        let out = try E2E.tempDir("refused") + "/out"
        defer {
            try? FileManager.default.removeItem(atPath: boardsDir)
            try? FileManager.default.removeItem(atPath: (out as NSString).deletingLastPathComponent)
        }
        let r = try E2E.ingot([
            "build", "examples/hello.yml", "--board", board, "--boards-dir", boardsDir,
            "--lock", E2E.root + "/firmware/lock.json", "-o", out,
        ])
        #expect(r.status != 0, "should be refused: \(r.all)", sourceLocation: sourceLocation)
        #expect(check(r.stderr), "error text: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(
            !FileManager.default.fileExists(atPath: out), "output left: \(E2E.listing(out))",
            sourceLocation: sourceLocation)
    }

    @Test func raspberryPiRefusesGPT() throws {
        try expectRefused(
            board: "rpi3", edit: { $0.replacingOccurrences(of: "partitionTable: mbr", with: "partitionTable: gpt") }
        ) {
            $0.contains("rpi3") && $0.lowercased().contains("mbr")
        }
    }

    @Test func missingDeviceTree() throws {
        try expectRefused(
            board: "rpi3",
            edit: { $0.replacingOccurrences(of: "broadcom/bcm2837-rpi-3-b.dtb", with: "broadcom/bcm2837-rpi-9-z.dtb") }
        ) {
            $0.contains("bcm2837-rpi-9-z.dtb")
        }
    }

    @Test func boardWithoutTheSquashfsModule() throws {
        try expectRefused(board: "x86_64-efi", edit: { $0.replacingOccurrences(of: " squashfs,", with: "") }) {
            $0.contains("'squashfs'") && $0.contains("initramfsModules") && $0.contains("x86_64-efi")
        }
    }

    @Test func bootContentLargerThanItsPartition() throws {
        try expectRefused(
            board: "x86_64-bios",
            edit: { $0.replacingOccurrences(of: "bootPartitionMiB: 64", with: "bootPartitionMiB: 4") }
        ) {
            $0.contains("does not fit") || ($0.contains("needs") && $0.contains("bytes"))
        }
    }
}
