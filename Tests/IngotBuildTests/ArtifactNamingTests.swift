// Artifact naming: the builder's planned outputs per format, their file names through the
// layout, and finding the build back from any of its paths.

import Foundation
import IngotContract
import Testing

@testable import IngotBuild

@Suite struct ArtifactNamingTests {
    @Test func plannedOutputsPerFormatUseTheLayout() {
        let layout = ArtifactLayout(directory: "out", name: "hello", board: "rpi3")
        let all = BuildOutputs.planned(
            layout: layout, formats: [.kernelInitrd, .raw, .qcow2, .iso, .tar], dtbs: ["broadcom/bcm2837-rpi-3-b.dtb"])
        #expect(
            all.records.map(\.name) == [
                "hello-rpi3-kernel", "hello-rpi3-initrd.img", "hello-rpi3-cmdline", "hello-rpi3-bcm2837-rpi-3-b.dtb",
                "hello-rpi3.img", "hello-rpi3.img.bmap", "hello-rpi3.qcow2", "hello-rpi3.iso", "hello-rpi3-rootfs.tar",
            ])
        #expect(
            all.records.map(\.role) == [
                .kernel, .initrd, .cmdline, .dtb, .diskRaw, .bmap, .diskQcow2, .iso, .rootfsTar,
            ])
        // Every record's role belongs to a format that was asked for, and each format's primary output is there.
        #expect(all.formats == [.raw, .qcow2, .iso, .kernelInitrd, .tar])
        #expect(all.dtb(named: "broadcom/bcm2837-rpi-3-b.dtb") == "out/hello-rpi3-bcm2837-rpi-3-b.dtb")
        #expect(all.dtb(named: "bcm2711-rpi-4-b.dtb") == nil)
        #expect(all.path(for: .bmap) == "out/hello-rpi3.img.bmap")
        #expect(all.manifest == nil && all.cmdline() == nil)
    }

    @Test func onlyTheAskedFormatsArePlanned() {
        let raw = Builder.plannedOutputs(formats: [.raw], dtbs: ["a.dtb"])
        #expect(raw.map(\.role) == [.diskRaw, .bmap])
        let kernel = Builder.plannedOutputs(formats: [.kernelInitrd], dtbs: [])
        #expect(kernel.map(\.role) == [.kernel, .initrd, .cmdline])
        #expect(Builder.plannedOutputs(formats: [], dtbs: ["a.dtb"]).isEmpty)
    }

    @Test func everyOutputPathLeadsBackToItsPrefix() {
        let layout = ArtifactLayout(directory: "/srv/out", name: "hello", board: "x86_64-efi")
        for role in ArtifactRole.allCases {
            let path = layout.path(role, dtb: role == .dtb ? "bcm2711-rpi-4-b.dtb" : nil)
            let candidates = ArtifactLayout.candidates(forOutputPath: path)
            #expect(candidates.contains { $0.layout == layout && $0.role == role }, "\(role): \(path)")
        }
        // A prefix is its own layout.
        #expect(ArtifactLayout.candidates(forOutputPath: "/srv/out/hello-x86_64-efi").last?.layout == layout)
        #expect(ArtifactLayout(prefix: "hello-rpi3").directory == ".")
        #expect(ArtifactLayout(prefix: "/hello-rpi3").directory == "/")
    }
}
