// Reading outputs through the manifest: from a prefix, the manifest or any output; refusing a
// path that does not exist, a file no manifest lists, a stale file beside a newer manifest, an
// output whose size changed, and a manifest entry pointing outside its directory.

import Foundation
import IngotContract
import Testing

@testable import IngotBuild

@Suite struct BuildOutputsTests {
    /// A kernel+initrd build of hello for rpi3 in `dir`, as the builder leaves it.
    static func writeBuild(_ dir: TempDir, board: String = "rpi3") throws -> ArtifactLayout {
        let layout = ArtifactLayout(directory: dir.path, name: "hello", board: board)
        var outputs: [BuildManifest.OutputRecord] = []
        for (role, dtb, text) in [
            (ArtifactRole.kernel, nil, "kernel"), (.initrd, nil, "initrd!"), (.cmdline, nil, "console=ttyAMA0 quiet\n"),
            (.dtb, "bcm2837-rpi-3-b.dtb", "dtb"),
        ] as [(ArtifactRole, String?, String)] {
            let name = layout.fileName(role, dtb: dtb)
            try dir.write(name, Array(text.utf8))
            outputs.append(.init(name: name, role: role, size: Int64(text.utf8.count), sha256: ""))
        }
        var manifest = ManifestTests.sample()
        manifest.board = board
        manifest.formats = [.kernelInitrd]
        manifest.outputs = outputs
        try dir.write(layout.fileName(.manifest), Array(try manifest.encoded()))
        return layout
    }

    @Test func findsTheBuildFromAnyOfItsPaths() throws {
        let dir = try TempDir("outputs")
        defer { dir.cleanup() }
        let layout = try Self.writeBuild(dir)
        for path in [
            layout.prefix, layout.path(.manifest), layout.path(.kernel), layout.path(.cmdline),
            layout.path(.dtb, dtb: "bcm2837-rpi-3-b.dtb"),
        ] {
            let outputs = try BuildOutputs.load(path)
            #expect(outputs.layout == layout, "\(path)")
            #expect(outputs.formats == [.kernelInitrd])
            #expect(outputs.path(for: .initrd) == layout.path(.initrd))
        }
        let fromKernel = try BuildOutputs.load(layout.path(.kernel))
        #expect(fromKernel.named?.role == .kernel)
        #expect(try BuildOutputs.load(layout.prefix).named == nil)
        #expect(fromKernel.cmdline() == "console=ttyAMA0 quiet")
        #expect(fromKernel.dtb(named: "broadcom/bcm2837-rpi-3-b.dtb") == layout.path(.dtb, dtb: "bcm2837-rpi-3-b.dtb"))
        try fromKernel.verify(.kernelInitrd)
    }

    @Test func refusesWhatNoManifestVouchesFor() throws {
        let dir = try TempDir("outputs-bad")
        defer { dir.cleanup() }
        let layout = try Self.writeBuild(dir)
        // Nothing there at all.
        #expect(throws: BuildOutputs.Error.notFound(path: "/nonexistent")) { try BuildOutputs.load("/nonexistent") }
        #expect(throws: BuildOutputs.Error.notFound(path: dir.path + "/other-x86_64-efi")) {
            try BuildOutputs.load(dir.path + "/other-x86_64-efi")
        }
        // A loose image with no manifest.
        let loose = try dir.write("disk.img", [UInt8](repeating: 0, count: 512))
        #expect(throws: BuildOutputs.Error.noManifest(path: loose, manifest: dir.path + "/disk.manifest.json")) {
            try BuildOutputs.load(loose)
        }
        // A stale image of an earlier raw build beside the kernel+initrd manifest.
        try dir.write(layout.fileName(.diskRaw), [1, 2, 3])
        #expect(throws: BuildOutputs.Error.notListed(path: layout.path(.diskRaw), manifest: layout.path(.manifest))) {
            try BuildOutputs.load(layout.path(.diskRaw))
        }
        // A format the build does not have, asked for by its file name.
        #expect(
            throws: BuildOutputs.Error.formatNotBuilt(
                format: .iso, manifest: layout.path(.manifest), built: [.kernelInitrd])
        ) {
            try BuildOutputs.load(layout.path(.iso))
        }
        let outputs = try BuildOutputs.load(layout.prefix)
        #expect(
            throws: BuildOutputs.Error.formatNotBuilt(
                format: .raw, manifest: layout.path(.manifest), built: [.kernelInitrd])
        ) {
            try outputs.verify(.raw)
        }
        // An output replaced after the build.
        try dir.write(layout.fileName(.initrd), Array("a different initrd".utf8))
        #expect(
            throws: BuildOutputs.Error.sizeMismatch(
                path: layout.path(.initrd), manifest: layout.path(.manifest), recorded: 7, actual: 18)
        ) {
            try outputs.verify(.kernelInitrd)
        }
        unlink(layout.path(.kernel))
        #expect(
            throws: BuildOutputs.Error.missingOutput(
                role: .kernel, path: layout.path(.kernel), manifest: layout.path(.manifest))
        ) {
            try outputs.verify(.kernelInitrd)
        }
    }

    @Test func manifestEntriesStayInTheirDirectory() throws {
        let dir = try TempDir("outputs-escape")
        defer { dir.cleanup() }
        let layout = ArtifactLayout(directory: dir.path, name: "hello", board: "rpi3")
        var manifest = ManifestTests.sample()
        manifest.outputs = [.init(name: "../../etc/passwd", role: .kernel, size: 1, sha256: "")]
        try dir.write(layout.fileName(.manifest), Array(try manifest.encoded()))
        #expect(throws: BuildOutputs.Error.badEntry(name: "../../etc/passwd", manifest: layout.path(.manifest))) {
            try BuildOutputs.load(layout.prefix)
        }
    }

    @Test func looseImagesAreKnownByContent() throws {
        let dir = try TempDir("sniff")
        defer { dir.cleanup() }
        var mbr = [UInt8](repeating: 0, count: 1024)
        mbr[510] = 0x55
        mbr[511] = 0xAA
        #expect(BuildOutputs.imageFormat(ofFile: try dir.write("a.bin", mbr)) == .raw)
        #expect(
            BuildOutputs.imageFormat(ofFile: try dir.write("b.bin", [0x51, 0x46, 0x49, 0xFB, 0, 0, 0, 3])) == .qcow2)
        var iso = [UInt8](repeating: 0, count: 34_816)
        iso.replaceSubrange(32_769..<32_774, with: Array("CD001".utf8))
        #expect(BuildOutputs.imageFormat(ofFile: try dir.write("c.bin", iso)) == .iso)
        #expect(BuildOutputs.imageFormat(ofFile: try dir.write("d.txt", Array("hello".utf8))) == nil)
        #expect(BuildOutputs.imageFormat(ofFile: dir.path) == nil)
        #expect(mkfifo(dir.path + "/fifo", 0o644) == 0)
        #expect(BuildOutputs.imageFormat(ofFile: dir.path + "/fifo") == nil)  // never blocks on a FIFO
    }
}
