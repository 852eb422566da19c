// The contract's parsers and the artifact layout: list options refuse nonsense with the option
// named, and every role has one file name.

import Testing

@testable import IngotContract

@Suite struct NameListTests {
    @Test func parsesInOrder() throws {
        #expect(try OutputFormat.parseList("raw, kernel+initrd,qcow2") == [.raw, .kernelInitrd, .qcow2])
        #expect(try DiskBus.parseList("nvme,usb") == [.nvme, .usb])
        #expect(try BootBackendKind.parseList("libvirt") == [.libvirt])
    }

    @Test(arguments: ["", ",,,", " , "]) func refusesListsNamingNothing(_ text: String) {
        #expect(throws: ListError.self) { try OutputFormat.parseList(text) }
        do {
            _ = try OutputFormat.parseList(text)
        } catch {
            #expect("\(error)".hasPrefix("--format: "))
            #expect("\(error)".contains("raw, qcow2, iso, kernel+initrd, tar") || "\(error)".contains("empty item"))
        }
    }

    @Test func refusesEmptyItemsRepeatsAndUnknowns() {
        #expect(
            throws: ListError(option: "--format", message: "'raw,,qcow2' has an empty item; remove the extra comma")
        ) {
            try OutputFormat.parseList("raw,,qcow2")
        }
        #expect(throws: ListError(option: "--format", message: "'raw' is given twice; name each value once")) {
            try OutputFormat.parseList("raw,raw")
        }
        #expect(throws: ListError.self) { try DiskBus.parseList("sata") }
        do {
            _ = try OutputFormat.parseList("qcow")
            Issue.record("qcow was accepted")
        } catch {
            #expect("\(error)".contains("Did you mean 'qcow2'?"))
        }
    }
}

@Suite struct ArtifactLayoutTests {
    @Test func everyRoleHasItsOwnName() {
        let layout = ArtifactLayout(directory: "out", name: "hello", board: "rpi3")
        let names = ArtifactRole.allCases.map { layout.fileName($0, dtb: "bcm2837-rpi-3-b.dtb") }
        #expect(Set(names).count == names.count)
        #expect(names.allSatisfy { $0.hasPrefix("hello-rpi3") })
        #expect(layout.path(.diskRaw) == "out/hello-rpi3.img")
        #expect(layout.path(.manifest) == "out/hello-rpi3.manifest.json")
        #expect(layout.prefix == "out/hello-rpi3")
    }

    @Test func rolesBelongToTheirFormat() {
        #expect(ArtifactRole.bmap.format == .raw)
        #expect(ArtifactRole.kernel.format == .kernelInitrd)
        #expect(ArtifactRole.manifest.format == nil)
        #expect(OutputFormat.allCases.filter { !$0.isBootable } == [.tar])
    }
}
