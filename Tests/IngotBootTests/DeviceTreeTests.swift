// The DTB editor against the field's own tools: a device tree compiled by dtc is read, written
// back unchanged (dtc decompiles both to the same source), edited as a board's dtbEdits say, and
// the result is checked with fdtget; bad edits name the node and the DTB.

import Foundation
import IngotSpec
import Testing

@testable import IngotBoot

struct DeviceTreeTests {
    static let source = """
        /dts-v1/;
        /memreserve/ 0x1000 0x2000;
        / {
            compatible = "raspberrypi,4-model-b", "brcm,bcm2711";
            #address-cells = <1>;
            soc {
                intc: interrupt-controller@7ef00100 { compatible = "brcm,l2-intc"; reg = <0x7ef00100 0x30>; };
                hdmi@7ef00700 { compatible = "brcm,bcm2711-hdmi0"; status = "okay"; interrupt-parent = <&intc>; };
                mmc@7e300000 {
                    compatible = "brcm,bcm2835-sdhci";
                    status = "okay";
                    non-removable;
                    mmc-pwrseq = <&intc>;
                    wifi@1 { reg = <1>; compatible = "brcm,bcm4329-fmac"; };
                };
            };
        };
        """

    static let tools =
        FileManager.default.isExecutableFile(atPath: "/usr/bin/dtc")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/fdtget")

    func compile(in directory: String) throws -> String {
        try Self.source.write(toFile: directory + "/t.dts", atomically: true, encoding: .utf8)
        _ = try ProcessCapture.run(
            "/usr/bin/dtc", ["-q", "-I", "dts", "-O", "dtb", "-o", directory + "/t.dtb", directory + "/t.dts"])
        return directory + "/t.dtb"
    }

    func tempDirectory() throws -> String {
        let directory = NSTemporaryDirectory() + "ingot-dtb-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test(.enabled(if: tools || ProcessInfo.processInfo.environment["CI"] == "true")) func roundTripMatchesDtc() throws
    {
        let directory = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let dtb = try compile(in: directory)
        let tree = try DeviceTree(contentsOf: dtb)
        #expect(
            tree.reservations.count == 1 && tree.reservations[0].address == 0x1000
                && tree.reservations[0].size == 0x2000)
        #expect(tree.node(at: "/soc/mmc@7e300000")?.property("status") == Array("okay\0".utf8))
        try Data(tree.serialized()).write(to: URL(fileURLWithPath: directory + "/again.dtb"))
        let original = try ProcessCapture.run("/usr/bin/dtc", ["-q", "-I", "dtb", "-O", "dts", dtb])
        let written = try ProcessCapture.run(
            "/usr/bin/dtc", ["-q", "-I", "dtb", "-O", "dts", directory + "/again.dtb"])
        #expect(!original.isEmpty && original == written)
        #expect(try DeviceTree(contentsOf: directory + "/again.dtb") == tree)
    }

    @Test(.enabled(if: tools || ProcessInfo.processInfo.environment["CI"] == "true")) func boardEditsSeenByFdtget()
        throws
    {
        let directory = try tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let dtb = try compile(in: directory)
        let before = try Data(contentsOf: URL(fileURLWithPath: dtb))
        let edits = DeviceTreeEdits(
            disable: ["/soc/interrupt-controller@7ef00100", "/soc/hdmi@7ef00700"],
            deleteNodes: ["/soc/mmc@7e300000/wifi@1"],
            deleteProperties: ["/soc/mmc@7e300000:non-removable", "/soc/mmc@7e300000:mmc-pwrseq"])
        let plan = MachinePlan(
            board: "t", executable: "/bin/true", arguments: [],
            scratchFiles: [
                ScratchFile(source: dtb, path: directory + "/emu.dtb", purpose: "test", deviceTreeEdits: edits)
            ])
        try plan.prepareScratchFiles()
        let out = directory + "/emu.dtb"
        func fdtget(_ args: String...) throws -> String {
            try ProcessCapture.run("/usr/bin/fdtget", [out] + args).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try fdtget("-t", "s", "/soc/interrupt-controller@7ef00100", "status") == "disabled")
        #expect(try fdtget("-t", "s", "/soc/hdmi@7ef00700", "status") == "disabled")
        #expect(try fdtget("-t", "s", "/soc/mmc@7e300000", "status") == "okay")
        #expect(try fdtget("-p", "/soc/mmc@7e300000").split(separator: "\n") == ["compatible", "status"])
        #expect(try fdtget("-l", "/soc/mmc@7e300000").isEmpty)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dtb)) == before)  // the source is never changed

        var tree = try DeviceTree(contentsOf: dtb)
        #expect(throws: DeviceTree.Error.noSuchNode(path: dtb, node: "/soc/pcie@7d500000")) {
            try tree.apply(DeviceTreeEdits(disable: ["/soc/pcie@7d500000"]), path: dtb)
        }
        #expect(throws: DeviceTree.Error.noSuchProperty(path: dtb, node: "/soc/hdmi@7ef00700", property: "nope")) {
            try tree.apply(DeviceTreeEdits(deleteProperties: ["/soc/hdmi@7ef00700:nope"]), path: dtb)
        }
    }

    @Test func garbageIsNotADeviceTree() throws {
        #expect(throws: DeviceTree.Error.malformed(path: "x.dtb", reason: "no d00dfeed magic")) {
            try DeviceTree(bytes: Array(repeating: 0, count: 64), path: "x.dtb")
        }
        var truncated = try DeviceTree(bytes: DeviceTree(bytes: Self.minimal, path: "m").serialized(), path: "m")
            .serialized()
        truncated.removeLast(8)
        #expect(throws: DeviceTree.Error.self) { try DeviceTree(bytes: truncated, path: "m") }
    }

    /// Header + empty reservation map + FDT_BEGIN_NODE "" FDT_END_NODE FDT_END, by hand.
    static var minimal: [UInt8] {
        var bytes: [UInt8] = []
        func put(_ v: UInt32) {
            bytes += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
        }
        for v in [0xD00D_FEED, 40 + 16 + 16, 56, 72, 40, 17, 16, 0, 0, 16] as [UInt32] { put(v) }
        bytes += [UInt8](repeating: 0, count: 16)
        put(1); put(0); put(2); put(9)
        return bytes
    }
}
