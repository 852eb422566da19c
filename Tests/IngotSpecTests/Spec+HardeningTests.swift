// Hostile spec input from issue 12: text that would be cut or misread further down (NUL, long
// names, line breaks in a kernel command line, spaces in a mount point), absurd sizes, and
// `files: source` / image paths that are devices, FIFOs or symlink loops. Each is refused at load
// with file:line:column, and nothing here opens a device or a FIFO.

import Foundation
import Testing

@testable import IngotSpec

@Suite struct SpecHardeningTests {
    // Case 1: a NUL in a path was accepted and cut later (squashfs "invalid characters in name").
    @Test func nulInFilePathIsRefusedWithItsLocation() throws {
        let error = try #require(
            Fixture.specError(Fixture.header + "files:\n  - path: \"etc/mo\\0td\"\n    contents: hi\n"))
        #expect(error.position == "4:11")
        #expect(error.message.contains("etc/mo\\0td") && error.message.contains("NUL"), "\(error)")
    }

    @Test func nulInSymlinkTargetAndSourceIsRefused() throws {
        let link = try #require(Fixture.specError(Fixture.header + "files:\n  - path: a\n    symlink: \"b\\0c\"\n"))
        #expect(link.position == "5:14" && link.message.contains("NUL"), "\(link)")
        let source = try #require(Fixture.specError(Fixture.header + "files:\n  - path: a\n    source: \"x\\0y\"\n"))
        #expect(source.position == "5:13" && source.message.contains("NUL"), "\(source)")
    }

    // Case 21: a NUL in `name` was printed as 'hello' (the terminal stops at the NUL).
    @Test func nulInNameIsShownEscaped() throws {
        let error = try #require(Fixture.specError("name: \"hello\\0\"\ninit: [deb:busybox-static]\n"))
        #expect(error.position == "1:7")
        #expect(error.description.contains("'hello\\0'"), "\(error)")
        #expect(!error.description.utf8.contains(0))
    }

    // Case 21: a file name over 255 bytes failed late, without a spec location.
    @Test func overlongFileNameIsRefusedAtItsLine() throws {
        let long = String(repeating: "a", count: 256)
        let error = try #require(
            Fixture.specError(Fixture.header + "files:\n  - path: etc/\(long)\n    contents: hi\n"))
        #expect(error.position == "4:11")
        #expect(error.message.contains("256 bytes") && error.message.contains("255"), "\(error)")
        // 255 bytes is still fine.
        let ok = try SpecLoader.parse(
            yaml: Fixture.header + "files:\n  - path: etc/\(String(repeating: "b", count: 255))\n    contents: hi\n",
            file: "spec.yml", baseDirectory: "/nonexistent", checkSources: false)
        #expect(ok.files.count == 1)
    }

    // Case 6: values that reach the kernel command line or a bootloader config line.
    @Test func mountPointCannotInjectKernelArguments() throws {
        let error = try #require(
            Fixture.specError(
                Fixture.header + "data:\n  mount: \"/var/lib/a ingot.root=3\"\n  size: 64M\n"))
        #expect(error.position == "4:10")
        #expect(error.message.contains("a space") && error.message.contains("kernel command line"), "\(error)")
        for bad in ["/var/lib/a\\nb", "/var/lib/\\\"q", "/var/lib/#x", "/var/lib/a;b", "/var/lib/$x"] {
            let e = try #require(
                Fixture.specError(Fixture.header + "data:\n  mount: \"\(bad)\"\n  size: 64M\n"), "\(bad)")
            #expect(e.position == "4:10", "\(bad): \(e)")
        }
    }

    @Test func cmdlineLineBreaksQuotesAndReservedArguments() throws {
        let newline = try #require(Fixture.specError(Fixture.header + "kernel:\n  cmdline: \"quiet\\nAPPEND evil\"\n"))
        #expect(newline.position == "4:12")
        #expect(newline.message.contains("line break") && newline.message.contains("\\n"), "\(newline)")
        let quote = try #require(Fixture.specError(Fixture.header + "kernel:\n  cmdline: 'a=\"b c'\n"))
        #expect(quote.message.contains("unbalanced double quote"), "\(quote)")
        let reserved = try #require(Fixture.specError(Fixture.header + "kernel:\n  cmdline: \"quiet ingot.root=3\"\n"))
        #expect(reserved.message.contains("ingot.root=3"), "\(reserved)")
        let long = try #require(
            Fixture.specError(Fixture.header + "kernel:\n  cmdline: \"\(String(repeating: "x", count: 3000))\"\n"))
        #expect(long.message.contains("2047"), "\(long)")
        // Ordinary arguments, quoted values included, still load.
        let ok = try SpecLoader.parse(
            yaml: Fixture.header + "kernel:\n  cmdline: 'quiet dyndbg=\"file a.c +p\" loglevel=3'\n", file: "spec.yml",
            baseDirectory: "/nonexistent", checkSources: false)
        #expect(ok.kernel?.cmdline == "quiet dyndbg=\"file a.c +p\" loglevel=3")
    }

    // Cases 9 and 12: sizes that overflowed the planner or looped in nextPowerOfTwo.
    @Test func absurdDataSizesAreRefusedAtLoad() throws {
        for size in ["\"9223372036854774784\"", "4200000T", "65T", "\"18446744073709551615\""] {
            let error = try #require(
                Fixture.specError(Fixture.header + "data:\n  mount: /var/lib/a\n  size: \(size)\n"), "\(size)")
            #expect(error.position == "5:9", "\(size): \(error)")
        }
        let ok = try SpecLoader.parse(
            yaml: Fixture.header + "data:\n  mount: /var/lib/a\n  size: 64T\n", file: "spec.yml",
            baseDirectory: "/nonexistent", checkSources: false)
        #expect(ok.data?.size == 64 << 40)
        #expect(ok.data?.location?.line == 5)
    }

    // Cases 10 and 13: devices, symlinks to them and FIFOs as `files: source`.
    @Test func sourcesMustBeRegularFiles() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { Fixture.cleanup(dir) }
        #expect(mkfifo(dir + "/fifo", 0o644) == 0)
        #expect(symlink("/dev/urandom", dir + "/random") == 0)
        #expect(symlink("loop-b", dir + "/loop-a") == 0 && symlink("loop-a", dir + "/loop-b") == 0)
        let cases: [(String, String)] = [
            ("/dev/zero", "a character device"), ("./random", "a character device"), ("./fifo", "a FIFO"),
            ("./loop-a", "symlink loop"),
        ]
        for (source, what) in cases {
            let started = Date()
            let error = try #require(
                Fixture.specError(
                    Fixture.header + "files:\n  - path: etc/x\n    source: \(source)\n", checkSources: true,
                    baseDirectory: dir), "\(source)")
            #expect(error.position == "5:13", "\(source): \(error)")
            #expect(error.message.contains(what), "\(source): \(error)")
            #expect(Date().timeIntervalSince(started) < 5, "checking \(source) must not read or block")
        }
        // `optional` does not make a device acceptable.
        let optional = try #require(
            Fixture.specError(
                Fixture.header + "files:\n  - path: etc/x\n    source: /dev/zero\n    optional: true\n",
                checkSources: true,
                baseDirectory: dir))
        #expect(optional.message.contains("character device"))
    }

    @Test func imagePathsThatAreFIFOsOrLoopsAreRefused() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { Fixture.cleanup(dir) }
        #expect(mkfifo(dir + "/img.tar", 0o644) == 0)
        #expect(symlink("loop-b", dir + "/loop-a") == 0 && symlink("loop-a", dir + "/loop-b") == 0)
        let fifo = try #require(
            Fixture.specError(
                Fixture.header + "services:\n  - name: a\n    image: tar:./img.tar\n", checkSources: true,
                baseDirectory: dir))
        #expect(fifo.message.contains("FIFO"), "\(fifo)")
        let loop = try #require(
            Fixture.specError(
                Fixture.header + "services:\n  - name: a\n    image: dir:./loop-a\n", checkSources: true,
                baseDirectory: dir))
        #expect(loop.message.contains("symlink loop") && loop.hint.contains("link"), "\(loop)")
    }

    @Test func displayEscapesWhatATerminalWouldHide() {
        #expect(TextRules.display("a\0b\nc\u{1b}[31m") == "a\\0b\\nc\\u{1b}[31m")
        #expect(TextRules.display("plain /path") == "plain /path")
    }
}
