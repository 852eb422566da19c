// The layout read backwards: which build prefix an output path belongs to (every role, DTBs
// split at each dash), and the contract enums print as users type them.

import Testing

@testable import IngotContract

@Suite struct LayoutParsingTests {
    @Test func outputPathsYieldTheirPrefixFirst() {
        let c = ArtifactLayout.candidates(forOutputPath: "out/hello-rpi3-initrd.img")
        #expect(c.first?.layout.prefix == "out/hello-rpi3" && c.first?.role == .initrd)
        #expect(c.contains { $0.layout.prefix == "out/hello-rpi3-initrd" && $0.role == .diskRaw })
        #expect(c.last?.role == nil && c.last?.layout.base == "hello-rpi3-initrd.img")
        let bmap = ArtifactLayout.candidates(forOutputPath: "out/hello-rpi3.img.bmap")
        #expect(bmap.first?.layout.prefix == "out/hello-rpi3" && bmap.first?.role == .bmap)
        let dtb = ArtifactLayout.candidates(forOutputPath: "/o/hello-rpi3-bcm2837-rpi-3-b.dtb").filter {
            $0.role == .dtb
        }.map(\.layout.base)
        #expect(
            dtb == ["hello-rpi3-bcm2837-rpi-3", "hello-rpi3-bcm2837-rpi", "hello-rpi3-bcm2837", "hello-rpi3", "hello"])
    }

    @Test func formatsKnowTheirOutputs() {
        #expect(OutputFormat.raw.artifactRoles == [.diskRaw, .bmap])
        #expect(OutputFormat.kernelInitrd.artifactRoles == [.kernel, .initrd, .cmdline, .dtb])
        #expect(OutputFormat.allCases.allSatisfy { $0.artifactRoles.contains($0.primaryRole) })
        #expect("\(OutputFormat.kernelInitrd)" == "kernel+initrd")
        #expect("\(DiskBus.nvme)/\(BootBackendKind.libvirt)" == "nvme/libvirt")
    }
}
