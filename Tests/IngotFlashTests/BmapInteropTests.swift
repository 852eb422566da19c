// Interop with Debian's bmap-tools, both ways, on real block devices: `bmaptool copy` writes
// with Ingot's bmap (checking Ingot's range checksums as it goes), Ingot writes with a bmap made
// by `bmaptool create`, and the two devices end up byte-identical (and equal to the image).

import Foundation
import IngotDisk
import Testing

@testable import IngotFlash

@Suite(.serialized, .enabled(if: Host.loopTests)) struct BmapInteropTests {
    static let size: Int64 = 32 << 20

    @Test func bmaptoolAndIngotWriteTheSameDevices() throws {
        #expect(Host.has("bmaptool"), "bmap-tools is missing; run ci/bootstrap")
        let s = try Scratch("interop")
        let img = try Fixture.image(s.path("a.img"))
        let viaBmaptool = try Loop(backing: s.path("bt"), size: Self.size + (4 << 20), fill: 0x5A)
        let viaIngot = try Loop(backing: s.path("in"), size: Self.size + (4 << 20), fill: 0x5A)

        // 1. bmaptool copy with Ingot's bmap: bmaptool checks every range's sha256 while copying.
        let copy = try Host.run(["bmaptool", "copy", "--bmap", img + ".bmap", img, viaBmaptool.path])
        #expect(copy.status == 0, "bmaptool copy: \(copy.err)")
        #expect(!copy.err.contains("checksum mismatch"))

        // 2. Ingot with the bmap bmaptool made for the same image.
        try Host.sh("bmaptool create -o \(s.path("bt.bmap")) \(img)")
        let theirs = try BmapReader.read(contentsOf: s.path("bt.bmap"))
        let ours = try BmapReader.read(contentsOf: img + ".bmap")
        #expect(theirs.ranges.map { [$0.first, $0.last] } == ours.ranges.map { [$0.first, $0.last] })
        #expect(theirs.ranges.map(\.sha256) == ours.ranges.map(\.sha256))
        let (plan, refusals) = try Loop.plan(img, to: [viaIngot], bmap: s.path("bt.bmap"))
        #expect(refusals.isEmpty)
        #expect(plan.image.bmapPath == s.path("bt.bmap"))
        let report = Flasher(plan: plan).runBlocking()
        #expect(report.succeeded, "\(report.summary)")

        // 3. Identical devices: the mapped data, and the unmapped bytes both tools left alone.
        let total = Self.size + (4 << 20)
        #expect(try Fixture.sha256(viaBmaptool.path, count: total) == Fixture.sha256(viaIngot.path, count: total))
        try BmapReader.verify(ours, image: viaIngot.path, checkSize: false)

        // 4. bmaptool reading Ingot's bmap beside an xz image, and Ingot the same input: still equal.
        try Host.sh("xz -k -q -T1 \(img)")
        try Host.sh("dd if=/dev/zero of=\(viaBmaptool.path) bs=1M count=36 status=none conv=fsync")
        try Host.sh("dd if=/dev/zero of=\(viaIngot.path) bs=1M count=36 status=none conv=fsync")
        let xzCopy = try Host.run(["bmaptool", "copy", img + ".xz", viaBmaptool.path])
        #expect(xzCopy.status == 0, "bmaptool copy (xz): \(xzCopy.err)")
        let (xzPlan, _) = try Loop.plan(img + ".xz", to: [viaIngot])
        #expect(xzPlan.image.bmapPath == img + ".bmap")
        #expect(Flasher(plan: xzPlan).runBlocking().succeeded)
        #expect(try Fixture.sha256(viaBmaptool.path, count: total) == Fixture.sha256(viaIngot.path, count: total))
        #expect(try Fixture.sha256(viaIngot.path, count: Self.size) == Fixture.sha256(img, count: Self.size))
    }
}
