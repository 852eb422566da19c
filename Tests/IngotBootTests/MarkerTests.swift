// Marker protocol: CRC-32 against busybox's crc32 (what the init runs), framing, interleaving
// and forgery.

import Foundation
import IngotTestSupport
import Testing

@testable import IngotBoot

struct MarkerTests {
    /// Runs busybox's crc32 applet (the one the generated init uses) on `text`.
    static func busyboxCRC(_ text: String) throws -> String {
        try Command.run("/bin/busybox", ["crc32"], input: .bytes(Array(text.utf8))).trimmed
    }

    @Test(arguments: ["", "a", "123456789", "v1 stage=ready seq=7 name=demo", String(repeating: "x", count: 300)])
    func crcMatchesBusybox(_ text: String) throws {
        #expect(MarkerChecksum.hex(Array(text.utf8)) == (try Self.busyboxCRC(text)))
    }

    @Test func knownCheckValue() {
        // The CRC-32 check value for "123456789".
        #expect(MarkerChecksum.checksum("123456789") == 0xCBF4_3926)
    }

    @Test func roundTripAndFields() throws {
        let marker = IngotMarker(stage: "onboot", seq: 3, fields: ["name": "dhcp", "status": "ok", "rc": "0"])
        let found = IngotMarker.markers(in: marker.line)
        #expect(found == [marker])
        #expect(marker.line.hasPrefix("@@INGOT v1 stage=onboot seq=3 "))
    }

    @Test func markerInsideKernelTextIsFound() {
        let marker = IngotMarker(stage: "ready", seq: 9, fields: ["name": "demo"])
        let line = "[    3.141] random: crng init done" + marker.line + "[    3.2] more"
        #expect(IngotMarker.markers(in: line).map(\.stage) == ["ready"])
    }

    @Test func interleavedTextBreaksMarker() {
        let marker = IngotMarker(stage: "ready", seq: 9, fields: ["name": "demo"])
        var line = marker.line
        line.insert(contentsOf: "[ 3.2] virtio_net ", at: line.index(line.startIndex, offsetBy: 20))
        #expect(IngotMarker.markers(in: line).isEmpty)
    }

    @Test func forgedCrcIsIgnored() {
        let payload = "v1 stage=ready seq=1 name=demo"
        let good = MarkerChecksum.hex(Array(payload.utf8))
        let bad = String(MarkerChecksum.checksum(payload) &+ 1, radix: 16)
        #expect(
            IngotMarker.markers(in: "@@INGOT \(payload) \(String(repeating: "0", count: 8 - bad.count) + bad)@@")
                .isEmpty)
        #expect(IngotMarker.markers(in: "@@INGOT \(payload) abc@@").isEmpty)
        #expect(IngotMarker.markers(in: "@@INGOT \(payload) \(good.uppercased())@@").isEmpty)
        #expect(IngotMarker.markers(in: "@@INGOT \(payload) \(good)@@").count == 1)
    }

    @Test func bogusOpeningBeforeGenuineMarker() {
        let marker = IngotMarker(stage: "init", seq: 1, fields: ["name": "demo"])
        let line = "junk @@INGOT half-written " + marker.line
        #expect(IngotMarker.markers(in: line) == [marker])
    }
}
