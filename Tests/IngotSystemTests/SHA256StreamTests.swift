// The streaming sha256 against coreutils' sha256sum: whole files, ranges, descriptors, and an
// empty file; and errors that name the file.

import Foundation
import IngotSystem
import IngotTestSupport
import SystemPackage
import Testing

@Suite struct SHA256StreamTests {
    /// sha256sum's hex for the output of a shell command.
    static func sha256sum(_ command: String) throws -> String {
        let result = try Command.shell("\(command) | sha256sum")
        return String(result.stdout.prefix(64))
    }

    @Test(.requires("sha256sum")) func matchesSha256sum() throws {
        let directory = try TemporaryDirectory("ingot-system-digest")
        let path = directory.file("data")
        // 3 MiB + 123 bytes: several 1 MiB blocks and a short tail.
        let bytes = (0..<(3 << 20) + 123).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 7) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        #expect(try SHA256Stream.hex(ofFile: path) == (try Self.sha256sum("cat '\(path)'")))
        #expect(SHA256Stream.hex(of: bytes) == (try Self.sha256sum("cat '\(path)'")))
        // A range across a block boundary, and one running past the end of the file.
        #expect(
            try SHA256Stream.hex(ofFile: path, offset: 1_000_000, length: 2_000_000)
                == (try Self.sha256sum("tail -c +1000001 '\(path)' | head -c 2000000")))
        #expect(
            try SHA256Stream.hex(ofFile: path, offset: 3 << 20, length: 1 << 20)
                == (try Self.sha256sum("tail -c 123 '\(path)'")))

        // Sequential reads from a descriptor move its offset.
        let fd = try FileDescriptor.open(path, .readOnly)
        defer { try? fd.close() }
        _ = try fd.seek(offset: 10, from: .start)
        let first = SHA256Stream.hex(try SHA256Stream.digest(reading: fd, count: 100))
        #expect(first == (try Self.sha256sum("tail -c +11 '\(path)' | head -c 100")))
        #expect(try fd.seek(offset: 0, from: .current) == 110)

        try Data().write(to: URL(fileURLWithPath: directory.file("empty")))
        #expect(
            try SHA256Stream.hex(ofFile: directory.file("empty"))
                == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func missingFileNamesThePath() {
        do {
            _ = try SHA256Stream.hex(ofFile: "/nonexistent/image.img")
            Issue.record("hashing a missing file succeeded")
        } catch let error as SystemCallError {
            #expect(error == SystemCallError("open", path: "/nonexistent/image.img", errno: .noSuchFileOrDirectory))
            #expect("\(error)".contains("/nonexistent/image.img"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
