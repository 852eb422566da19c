// Machine plans per disk bus (the QEMU lines each bus gets on q35, virt and raspi), the refusal
// of buses a board cannot emulate, `--disk-size` overlays (checked with qemu-img), the search for
// a newer QEMU beside the system's, and the emulation-only DTB edits (checked with fdtget).

import Foundation
import IngotContract
import IngotSpec
import Testing

@testable import IngotBoot

struct BusPlanTests {
    static let disk = BootArtifacts(kind: .disk(path: "/img/disk.raw", format: "raw"))
    static let sd = BootArtifacts(
        kind: .disk(path: "/img/sd.raw", format: "raw"), ubootKernel: "/img/u-boot.bin", dtb: "/img/rpi3.dtb")

    static func plan(
        _ board: String, bus: DiskBus?, artifacts: BootArtifacts = disk, diskSize: UInt64? = nil,
        host: FakeHost = PlanTests.host
    )
        throws -> MachinePlan
    {
        try MachinePlan(
            board: try PlanTests.board(board), artifacts: artifacts,
            options: PlanOptions(runDirectory: "/run/x", bus: bus, diskSize: diskSize), host: host)
    }

    /// The arguments after the firmware ones: the disk's.
    static func diskArguments(_ plan: MachinePlan) -> [String] {
        guard
            let first = plan.arguments.firstIndex(where: {
                $0.hasPrefix("file=/img/") || $0.hasPrefix("file=/run/x/disk")
            })
        else { return [] }
        return Array(plan.arguments[(first - 1)...])
    }

    @Test func pcBuses() throws {
        let drive = ["-drive", "file=/img/disk.raw,format=raw,if=none,id=disk0,snapshot=on"]
        let expected: [DiskBus: [String]] = [
            .virtio: ["-drive", "file=/img/disk.raw,format=raw,if=virtio,snapshot=on"],
            .ahci: drive + ["-device", "ide-hd,drive=disk0,bus=ide.0"],
            .nvme: drive + ["-device", "nvme,serial=ingot0,drive=disk0"],
            .usb: drive + [
                "-device", "qemu-xhci,id=xhci0", "-device", "usb-storage,bus=xhci0.0,drive=disk0,removable=on",
            ],
            .scsi: drive + ["-device", "virtio-scsi-pci,id=scsi0", "-device", "scsi-hd,drive=disk0,bus=scsi0.0"],
        ]
        for board in ["x86_64-bios", "x86_64-efi"] {
            #expect(try PlanTests.board(board).emulation.buses == [.virtio, .ahci, .nvme, .usb, .scsi])
            for (bus, arguments) in expected {
                #expect(Self.diskArguments(try Self.plan(board, bus: bus)) == arguments, "\(board) \(bus)")
            }
            // No --bus: the board's first (virtio).
            #expect(Self.diskArguments(try Self.plan(board, bus: nil)) == expected[.virtio])
        }
    }

    @Test func arm64VirtBuses() throws {
        let drive = ["-drive", "file=/img/disk.raw,format=raw,if=none,id=disk0,snapshot=on"]
        #expect(try PlanTests.board("arm64-efi").emulation.buses == [.virtio, .nvme, .usb, .scsi])
        #expect(
            Self.diskArguments(try Self.plan("arm64-efi", bus: .nvme)) == drive + [
                "-device", "nvme,serial=ingot0,drive=disk0",
            ])
        #expect(Self.diskArguments(try Self.plan("arm64-efi", bus: .usb)).contains("qemu-xhci,id=xhci0"))
    }

    @Test func raspiBuses() throws {
        let sdPlan = try Self.plan("rpi3", bus: .sd, artifacts: Self.sd)
        #expect(sdPlan.arguments.suffix(2) == ["-drive", "file=/img/sd.raw,if=sd,format=raw,snapshot=on"])
        // usb is not listed for the Pis (Linux's dwc2 does not enumerate QEMU's stick); a profile
        // that lists it gets the SoC's DWC2 port.
        var withUSB = try PlanTests.board("rpi3")
        withUSB.emulation.buses = [.sd, .usb]
        let usb = try MachinePlan(
            board: withUSB, artifacts: Self.sd, options: PlanOptions(runDirectory: "/run/x", bus: .usb),
            host: PlanTests.host)
        #expect(
            usb.arguments.suffix(4) == [
                "-drive", "file=/img/sd.raw,format=raw,if=none,id=disk0,snapshot=on", "-device",
                "usb-storage,drive=disk0,removable=on",
            ])
        #expect(!usb.arguments.contains { $0.contains("if=sd") })
    }

    @Test func busesABoardCannotEmulateAreRefusedWithTheList() throws {
        #expect(
            throws: MachinePlan.Error.busNotEmulated(board: "rpi3", machine: "raspi3b", bus: .nvme, available: [.sd])
        ) {
            try Self.plan("rpi3", bus: .nvme, artifacts: Self.sd)
        }
        #expect(
            throws: MachinePlan.Error.busNotEmulated(
                board: "x86_64-efi", machine: "q35", bus: .sd, available: [.virtio, .ahci, .nvme, .usb, .scsi])
        ) {
            try Self.plan("x86_64-efi", bus: .sd)
        }
        #expect(
            throws: MachinePlan.Error.busNotEmulated(
                board: "arm64-efi", machine: "virt", bus: .ahci, available: [.virtio, .nvme, .usb, .scsi])
        ) {
            try Self.plan("arm64-efi", bus: .ahci)
        }
        let error = MachinePlan.Error.busNotEmulated(board: "rpi3", machine: "raspi3b", bus: .nvme, available: [.sd])
        #expect(
            error.description
                == "board rpi3 (QEMU raspi3b) cannot attach a disk on the nvme bus; its buses are: sd — pick one with --bus"
        )
    }

    @Test func diskSizeMakesAnOverlayAndNeverTheImage() throws {
        let plan = try Self.plan("x86_64-efi", bus: .usb, diskSize: 32 << 30)
        #expect(
            plan.scratchFiles.contains(
                ScratchFile(
                    source: "/img/disk.raw", path: "/run/x/disk.qcow2", size: 32 << 30,
                    purpose: "the image inside a larger disk", overlayOf: "raw")))
        #expect(plan.arguments.contains("file=/run/x/disk.qcow2,format=qcow2,if=none,id=disk0"))
        #expect(!plan.arguments.contains { $0.contains("/img/disk.raw") })
        // Smaller than the image: refused, naming both sizes.
        #expect(
            throws: MachinePlan.Error.diskSmallerThanImage(
                path: "/img/disk.raw", imageSize: 300 << 20, diskSize: 100 << 20)
        ) {
            try Self.plan("x86_64-efi", bus: nil, diskSize: 100 << 20)
        }
        // Only disks can be enlarged.
        let error = #expect(throws: MachinePlan.Error.self) {
            try Self.plan(
                "x86_64-efi", bus: nil, artifacts: BootArtifacts(kind: .iso(path: "/img/app.iso")), diskSize: 1 << 30)
        }
        #expect(error?.description.contains("--disk-size applies to disk images") == true)
        // The Pi's SD card stays a power of two.
        let pi = try Self.plan("rpi3", bus: .sd, artifacts: Self.sd, diskSize: 3 << 30)
        #expect(pi.scratchFiles.first { $0.overlayOf != nil }?.size == 4 << 30)
        #expect(pi.arguments.last == "file=/run/x/disk.qcow2,if=sd,format=qcow2")
    }

    @Test func overlayIsARealLargerDiskOverTheUntouchedImage() throws {
        let directory = NSTemporaryDirectory() + "ingot-overlay-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let image = directory + "/disk.raw"
        _ = FileManager.default.createFile(atPath: image, contents: Data(repeating: 0xA5, count: 1 << 20))
        let before = try Data(contentsOf: URL(fileURLWithPath: image))
        let plan = try MachinePlan(
            board: try PlanTests.board("x86_64-bios"),
            artifacts: BootArtifacts(kind: .disk(path: image, format: "raw")),
            options: PlanOptions(runDirectory: directory + "/run", accelerator: .tcg, bus: .nvme, diskSize: 8 << 30))
        try plan.prepareScratchFiles()
        let info = try ProcessCapture.run(
            "/usr/bin/qemu-img", ["info", "--output=json", directory + "/run/disk.qcow2"])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(info.utf8)) as? [String: Any])
        #expect(json["virtual-size"] as? Int == 8 << 30)
        #expect(json["format"] as? String == "qcow2")
        #expect(json["backing-filename"] as? String == image)
        #expect(json["backing-filename-format"] as? String == "raw")
        #expect(try Data(contentsOf: URL(fileURLWithPath: image)) == before)
    }

    @Test func newerQEMUIsFoundBesideTheSystemOne() throws {
        struct Host: BootHost {
            var base = PlanTests.host
            func executable(_ name: String) -> String? { base.executable(name) }
            func fileSize(_ path: String) -> UInt64? { base.fileSize(path) }
            func sha256(_ path: String) throws -> String { try base.sha256(path) }
            func prefix(_ path: String, count: Int) -> [UInt8]? { base.prefix(path, count: count) }
            func qemuVersion(_ binary: String) throws -> String { binary.hasPrefix("/opt/") ? "10.0.2" : "7.2.22" }
            func firmwareDescriptors() -> [FirmwareDescriptor] { [] }
            func kvmWorks(binary: String, architecture: String) -> (usable: Bool, detail: String) { (false, "no") }
            var hostArchitecture: String { "x86_64" }
            func additionalQEMUs(_ binary: String) -> [String] { ["/opt/ingot/qemu-10/bin/\(binary)"] }
        }
        let pi4 = try MachinePlan(
            board: try PlanTests.board("rpi4"), artifacts: Self.sd, options: PlanOptions(runDirectory: "/run/x"),
            host: Host())
        #expect(pi4.executable == "/opt/ingot/qemu-10/bin/qemu-system-aarch64")
        #expect(
            pi4.notes.contains { $0.contains("10.0.2") && $0.contains("skipped /usr/bin/qemu-system-aarch64 7.2.22") })
        // A board without a minimum keeps the system QEMU.
        let pi3 = try MachinePlan(
            board: try PlanTests.board("rpi3"), artifacts: Self.sd, options: PlanOptions(runDirectory: "/run/x"),
            host: Host())
        #expect(pi3.executable == "/usr/bin/qemu-system-aarch64")
    }

    @Test func rpi4GetsAnEmulationDTBCopy() throws {
        var host = PlanTests.host
        host.version = "10.0.2"
        let plan = try Self.plan("rpi4", bus: nil, artifacts: Self.sd, host: host)
        let copy = try #require(plan.scratchFiles.first { $0.deviceTreeEdits != nil })
        #expect(copy.source == "/img/rpi3.dtb" && copy.path == "/run/x/emulation-rpi3.dtb")
        #expect(copy.deviceTreeEdits?.disable.contains("/soc/interrupt-controller@7ef00100") == true)
        let dtb = try #require(plan.arguments.firstIndex(of: "-dtb"))
        #expect(plan.arguments[dtb + 1] == "/run/x/emulation-rpi3.dtb")
        #expect(plan.firmware.contains { $0.role == "dtb" && $0.path == "/img/rpi3.dtb" })
    }
}
