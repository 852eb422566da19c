// Machine plans for every board kind, compared argument by argument, against a fake host; plus
// one plan against the real host (OVMF from QEMU's descriptors, sha256 checked with sha256sum).

import Foundation
import IngotSpec
import IngotTestSupport
import Testing

@testable import IngotBoot

/// A host with a fixed set of files and canned probe answers.
struct FakeHost: BootHost {
    var files: [String: UInt64] = [:]
    var heads: [String: [UInt8]] = [:]
    var version = "7.2.22"
    var kvm = false
    var descriptors: [FirmwareDescriptor] = []
    var hostArchitecture = "x86_64"

    func executable(_ name: String) -> String? { name.hasPrefix("qemu-system-") ? "/usr/bin/\(name)" : nil }
    func fileSize(_ path: String) -> UInt64? { files[path] }
    func sha256(_ path: String) throws -> String { "sha-\((path as NSString).lastPathComponent)" }
    func prefix(_ path: String, count: Int) -> [UInt8]? { heads[path] }
    func qemuVersion(_ binary: String) throws -> String { version }
    func firmwareDescriptors() -> [FirmwareDescriptor] { descriptors }
    func kvmWorks(binary: String, architecture: String) -> (usable: Bool, detail: String) {
        (kvm && architecture == hostArchitecture, kvm ? "probe ran" : "probe hung")
    }
}

struct PlanTests {
    static let boardsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("boards").path

    static func board(_ name: String) throws -> BoardProfile {
        try BoardCatalog.load(directory: boardsDirectory).board(named: name)
    }

    static let run = PlanOptions(runDirectory: "/run/x")
    static var host: FakeHost {
        var host = FakeHost()
        host.files = [
            "/img/disk.raw": 300 << 20, "/img/disk.qcow2": 1 << 20, "/img/sd.raw": 256 << 20, "/img/odd.raw": 300 << 20,
            "/img/app.iso": 50 << 20, "/img/vmlinuz": 8 << 20, "/img/initrd": 4 << 20, "/img/u-boot.bin": 600_000,
            "/img/rpi3.dtb": 30_000, "/usr/share/seabios/bios-256k.bin": 262_144,
            "/usr/share/OVMF/OVMF_CODE_4M.fd": 3_653_632, "/usr/share/OVMF/OVMF_VARS_4M.fd": 540_672,
            "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd": 3_653_632,
            "/usr/share/AAVMF/AAVMF_CODE.fd": 64 << 20, "/usr/share/AAVMF/AAVMF_VARS.fd": 64 << 20,
        ]
        host.descriptors = [
            FirmwareDescriptor(
                source: "50-edk2-x86_64-secure.json", interfaceTypes: ["uefi"], device: "flash",
                executable: "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", nvramTemplate: "/usr/share/OVMF/OVMF_VARS_4M.fd",
                architectures: ["x86_64"], features: ["requires-smm", "secure-boot"]),
            FirmwareDescriptor(
                source: "60-edk2-x86_64.json", interfaceTypes: ["uefi"], device: "flash",
                executable: "/usr/share/OVMF/OVMF_CODE_4M.fd", nvramTemplate: "/usr/share/OVMF/OVMF_VARS_4M.fd",
                architectures: ["x86_64"], features: ["acpi-s3"]),
        ]
        var bzImage = [UInt8](repeating: 0, count: 0x240)
        bzImage.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
        host.heads["/img/vmlinuz"] = bzImage
        return host
    }

    static let common = ["-no-reboot", "-display", "none", "-serial", "stdio", "-monitor", "none"]

    @Test func x86BiosDisk() throws {
        let board = try Self.board("x86_64-bios")
        let plan = try MachinePlan(
            board: board, artifacts: BootArtifacts(kind: .disk(path: "/img/disk.raw", format: "raw")),
            options: Self.run, host: Self.host)
        #expect(plan.executable == "/usr/bin/qemu-system-x86_64")
        let expected =
            [
                "-M", "q35,graphics=off", "-accel", "tcg", "-m", "\(board.emulation.memoryMiB)", "-smp",
                "\(board.emulation.smp)",
            ]
            + Self.common + ["-drive", "file=/img/disk.raw,format=raw,if=virtio,snapshot=on"]
            + board.emulation.extraArgs
        #expect(plan.arguments == expected)
        #expect(
            plan.firmware == [
                FirmwareFile(role: "bios", path: "/usr/share/seabios/bios-256k.bin", sha256: "sha-bios-256k.bin")
            ])
        #expect(plan.accelerator == "tcg")
        #expect(plan.notes.contains { $0.contains("probe hung") })
        #expect(!plan.directKernelBoot)
    }

    @Test func x86EfiSkipsSecureBootAndCopiesVars() throws {
        let board = try Self.board("x86_64-efi")
        let options = PlanOptions(runDirectory: "/run/x", writable: true)
        let plan = try MachinePlan(
            board: board, artifacts: BootArtifacts(kind: .disk(path: "/img/disk.qcow2", format: "qcow2")),
            options: options, host: Self.host)
        let expected =
            ["-M", "q35,graphics=off", "-accel", "tcg", "-m", "512", "-smp", "1"] + Self.common + [
                "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
                "-drive", "if=pflash,format=raw,unit=1,file=/run/x/efivars.fd",
                "-drive", "file=/img/disk.qcow2,format=qcow2,if=virtio",
            ]
        #expect(plan.arguments == expected)
        #expect(
            plan.scratchFiles == [
                ScratchFile(
                    source: "/usr/share/OVMF/OVMF_VARS_4M.fd", path: "/run/x/efivars.fd",
                    purpose: "per-run UEFI variable store")
            ])
        #expect(plan.firmware.map(\.role) == ["code", "vars-template"])
    }

    @Test func kvmWhenProbeWorks() throws {
        var host = Self.host
        host.kvm = true
        let plan = try MachinePlan(
            board: try Self.board("x86_64-bios"),
            artifacts: BootArtifacts(kind: .disk(path: "/img/disk.raw", format: "raw")),
            options: Self.run, host: host)
        #expect(plan.accelerator == "kvm")
        #expect(plan.arguments[2...3] == ["-accel", "kvm"])
    }

    @Test func arm64EfiUsesAavmfAndCpu() throws {
        let board = try Self.board("arm64-efi")
        let plan = try MachinePlan(
            board: board, artifacts: BootArtifacts(kind: .iso(path: "/img/app.iso")), options: Self.run, host: Self.host
        )
        #expect(plan.executable == "/usr/bin/qemu-system-aarch64")
        let expected =
            [
                "-M", "virt", "-accel", "tcg", "-cpu", "cortex-a57", "-m", "\(board.emulation.memoryMiB)", "-smp",
                "\(board.emulation.smp)",
            ]
            + Self.common + [
                "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd",
                "-drive", "if=pflash,format=raw,unit=1,file=/run/x/efivars.fd",
                "-device", "virtio-scsi-pci,id=scsi0", "-drive",
                "if=none,id=cd0,media=cdrom,format=raw,readonly=on,file=/img/app.iso",
                "-device", "scsi-cd,drive=cd0,bus=scsi0.0",
            ] + board.emulation.extraArgs
        #expect(plan.arguments == expected)
        #expect(plan.scratchFiles.count == 1)
    }

    @Test func rpi3PadsSDOnACopy() throws {
        let board = try Self.board("rpi3")
        let artifacts = BootArtifacts(
            kind: .disk(path: "/img/odd.raw", format: "raw"), ubootKernel: "/img/u-boot.bin", dtb: "/img/rpi3.dtb")
        let plan = try MachinePlan(board: board, artifacts: artifacts, options: Self.run, host: Self.host)
        let expected =
            [
                "-M", "raspi3b", "-accel", "tcg,thread=single", "-m", "1024", "-smp", "4", "-no-reboot", "-display",
                "none",
                // Both UARTs (PL011 for the kernel, mini UART for U-Boot) on one console.
                "-chardev", "stdio,id=console,mux=on,signal=off", "-serial", "chardev:console", "-serial",
                "chardev:console",
                "-monitor", "none",
            ] + [
                "-kernel", "/img/u-boot.bin", "-dtb", "/img/rpi3.dtb", "-drive", "file=/run/x/sd.img,if=sd,format=raw",
            ]
        #expect(plan.arguments == expected)
        #expect(
            plan.scratchFiles == [
                ScratchFile(
                    source: "/img/odd.raw", path: "/run/x/sd.img", size: 512 << 20,
                    purpose: "SD image padded to a power of two")
            ])
        #expect(plan.endsOnlyWhenKilled)
        #expect(plan.firmware.map(\.role) == ["u-boot", "dtb"])

        let strict = PlanOptions(runDirectory: "/run/x", allowSDCopy: false)
        #expect(throws: MachinePlan.Error.sdSizeNotPowerOfTwo(path: "/img/odd.raw", size: 300 << 20, next: 512 << 20)) {
            try MachinePlan(board: board, artifacts: artifacts, options: strict, host: Self.host)
        }
        let even = BootArtifacts(
            kind: .disk(path: "/img/sd.raw", format: "raw"), ubootKernel: "/img/u-boot.bin", dtb: "/img/rpi3.dtb")
        let direct = try MachinePlan(board: board, artifacts: even, options: Self.run, host: Self.host)
        #expect(direct.arguments.last == "file=/img/sd.raw,if=sd,format=raw,snapshot=on")
        #expect(direct.scratchFiles.isEmpty)
        #expect(throws: MachinePlan.Error.self) {
            try MachinePlan(
                board: board, artifacts: BootArtifacts(kind: .disk(path: "/img/sd.raw", format: "raw")),
                options: Self.run, host: Self.host)
        }
    }

    @Test func rpi4NeedsNewQEMU() throws {
        let board = try Self.board("rpi4")
        let artifacts = BootArtifacts(
            kind: .disk(path: "/img/sd.raw", format: "raw"), ubootKernel: "/img/u-boot.bin", dtb: "/img/rpi3.dtb")
        #expect(
            throws: MachinePlan.Error.qemuTooOld(
                board: "rpi4", machine: "raspi4b", have: "/usr/bin/qemu-system-aarch64 7.2.22", need: "9.0")
        ) {
            try MachinePlan(board: board, artifacts: artifacts, options: Self.run, host: Self.host)
        }
        var newer = Self.host
        newer.version = "10.0.2"
        let plan = try MachinePlan(board: board, artifacts: artifacts, options: Self.run, host: newer)
        #expect(plan.arguments[0...1] == ["-M", "raspi4b"])
    }

    @Test func directKernelBoot() throws {
        let board = try Self.board("x86_64-bios")
        let artifacts = BootArtifacts(
            kind: .kernelInitrd(kernel: "/img/vmlinuz", initrd: "/img/initrd", cmdline: "quiet", dtb: nil))
        let plan = try MachinePlan(board: board, artifacts: artifacts, options: Self.run, host: Self.host)
        #expect(plan.directKernelBoot)
        let tail = Array(plan.arguments.suffix(6 + board.emulation.extraArgs.count).prefix(6))
        #expect(
            tail == ["-kernel", "/img/vmlinuz", "-initrd", "/img/initrd", "-append", "console=\(board.console) quiet"])
        // An x86 bzImage on an arm64 board is refused.
        #expect(
            throws: MachinePlan.Error.architectureMismatch(
                board: "arm64-efi", path: "/img/vmlinuz", expected: "arm64", found: "amd64")
        ) {
            try MachinePlan(
                board: try Self.board("arm64-efi"), artifacts: artifacts, options: Self.run, host: Self.host)
        }
    }

    @Test func missingInputsAreClear() throws {
        let board = try Self.board("x86_64-bios")
        let error = #expect(throws: MachinePlan.Error.self) {
            try MachinePlan(
                board: board, artifacts: BootArtifacts(kind: .disk(path: "/nope.raw", format: "raw")),
                options: Self.run, host: Self.host)
        }
        #expect(error?.description.contains("/nope.raw") == true)
        var noFirmware = Self.host
        noFirmware.descriptors = []
        noFirmware.files["/usr/share/OVMF/OVMF_CODE_4M.fd"] = nil
        #expect(throws: MachinePlan.Error.self) {
            try MachinePlan(
                board: try Self.board("x86_64-efi"),
                artifacts: BootArtifacts(kind: .disk(path: "/img/disk.raw", format: "raw")),
                options: Self.run, host: noFirmware)
        }
    }

    @Test func interactiveSerialUsesChardevLog() throws {
        let options = PlanOptions(runDirectory: "/run/x", serial: .stdio)
        let plan = try MachinePlan(
            board: try Self.board("x86_64-bios"),
            artifacts: BootArtifacts(kind: .disk(path: "/img/disk.raw", format: "raw")),
            options: options, host: Self.host)
        #expect(plan.arguments.contains("stdio,id=console,mux=on,signal=off,logfile=/run/x/console.log"))
        #expect(!plan.arguments.contains("-monitor"))
        #expect(plan.description.contains("-chardev"))
    }

    @Test func realHostEfiPlanAndScratchFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ingot-plan-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let image = directory + "/disk.raw"
        _ = FileManager.default.createFile(atPath: image, contents: Data(count: 4096))
        let plan = try MachinePlan(
            board: try Self.board("x86_64-efi"), artifacts: BootArtifacts(kind: .disk(path: image, format: "raw")),
            options: PlanOptions(runDirectory: directory + "/run", accelerator: .tcg))
        let code = try #require(plan.firmware.first { $0.role == "code" })
        #expect(!code.path.contains("secboot"))
        let sum = try ProcessCapture.run("/usr/bin/sha256sum", [code.path])
        #expect(sum.split(separator: " ").first.map(String.init) == code.sha256)
        try plan.prepareScratchFiles()
        let vars = try #require(plan.scratchFiles.first)
        #expect(FileManager.default.contentsEqual(atPath: vars.path, andPath: try #require(vars.source)))
    }
}

/// Runs a tool and returns its stdout (test helper).
enum ProcessCapture {
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        try Command.run(executable, arguments).stdout
    }
}
