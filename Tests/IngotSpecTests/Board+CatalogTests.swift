// The shipped boards/*.yml load with the values FACTS.md records, and bad board files and
// unknown board names are reported precisely.

import Foundation
import Testing

@testable import IngotSpec

@Suite struct BoardCatalogTests {
    @Test func shippedBoardsLoad() throws {
        let catalog = try BoardCatalog.load(directory: Fixture.boardsDirectory)
        #expect(catalog.boards.map(\.name) == ["arm64-efi", "rpi3", "rpi4", "x86_64-bios", "x86_64-efi"])
        for board in catalog.boards {
            #expect(Set(board.stages.keys) == Set(BootStage.allCases), "\(board.name)")
            #expect(board.stages[.kernel]?.patterns == ["Linux version [0-9]"])
            #expect(board.stages[.ready]?.patterns == ["@@INGOT v1 stage=ready"])
            #expect(board.failurePatterns.contains("Kernel panic"))
            // The serial console is the last console= (it becomes /dev/console); x86 adds tty0 before it.
            #expect(board.cmdline.last?.hasPrefix("console=\(board.console)") == true)
            #expect(board.emulation.binary == "qemu-system-\(board.arch.qemuName)")
            #expect(board.initramfsModules.contains("squashfs") && board.initramfsModules.contains("ext4"))
        }

        let bios = try catalog.board(named: "x86_64-bios")
        #expect(bios.arch == .amd64 && bios.bootloader == .syslinux && bios.partitionTable == .mbr)
        #expect(bios.emulation.firmware == .seabios && bios.emulation.machine == "q35")
        #expect(bios.emulation.diskInterface == .virtio && bios.console == "ttyS0")
        #expect(bios.stages[.firmware]?.patterns == ["SeaBIOS \\(version"])
        #expect(bios.location.description == Fixture.boardsDirectory + "/x86_64-bios.yml:2:1")

        let efi = try catalog.board(named: "x86_64-efi")
        #expect(efi.emulation.firmware == .ovmf && efi.bootloader == .systemdBoot && efi.partitionTable == .gpt)
        #expect(efi.packages == ["systemd-boot-efi"])

        let arm = try catalog.board(named: "arm64-efi")
        #expect(arm.arch == .arm64 && arm.emulation.firmware == .aavmf && arm.console == "ttyAMA0")
        #expect(arm.emulation.machine == "virt" && arm.emulation.cpu == "cortex-a57")

        let rpi3 = try catalog.board(named: "rpi3")
        #expect(rpi3.emulation.machine == "raspi3b" && rpi3.emulation.firmware == .ubootKernel)
        #expect(rpi3.emulation.ubootPath == "usr/lib/u-boot/rpi_arm64/u-boot.bin")
        #expect(rpi3.emulation.dtb == "broadcom/bcm2837-rpi-3-b.dtb")
        #expect(rpi3.emulation.diskInterface == .sd && rpi3.emulation.memoryMiB == 1024 && rpi3.emulation.smp == 4)
        #expect(rpi3.packages == ["raspi-firmware", "u-boot-rpi"] && rpi3.partitionTable == .mbr)
        #expect(rpi3.bootloader == .ubootExtlinux && !rpi3.emulation.powersOff && rpi3.emulation.diskSizePowerOfTwo)
        #expect(rpi3.layout.firstPartitionOffsetMiB == 4)
        #expect((rpi3.stages[.kernel]?.timeoutSeconds ?? 0) >= 60)

        let rpi4 = try catalog.board(named: "rpi4")
        #expect(rpi4.emulation.machine == "raspi4b" && rpi4.emulation.minimumQEMU == "9.0")
        #expect(rpi4.emulation.dtb == "broadcom/bcm2711-rpi-4-b.dtb")
    }

    @Test func unknownBoardListsAvailableAndSuggests() throws {
        let catalog = try BoardCatalog.load(directory: Fixture.boardsDirectory)
        #expect(
            throws: BoardCatalog.Error.unknownBoard(
                name: "rpi5", available: ["arm64-efi", "rpi3", "rpi4", "x86_64-bios", "x86_64-efi"], suggestion: "rpi3")
        ) { try catalog.board(named: "rpi5") }
        do {
            _ = try catalog.board(named: "x86-64-efi")
            Issue.record("expected an error")
        } catch {
            #expect(
                "\(error)"
                    == "unknown board 'x86-64-efi'; did you mean 'x86_64-efi'? — available boards: arm64-efi, rpi3, rpi4, x86_64-bios, x86_64-efi"
            )
        }
    }

    @Test func locateDefaultDirectoryHonoursEnvironment() throws {
        setenv("INGOT_BOARDS", "/some/boards", 1)
        defer { unsetenv("INGOT_BOARDS") }
        #expect(BoardCatalog.locateDefaultDirectory() == "/some/boards")
    }

    /// A valid profile with one line replaced, to test each check in isolation.
    static func profile(replacing old: String = "", with new: String = "") throws -> String {
        let text = try String(contentsOfFile: Fixture.boardsDirectory + "/rpi3.yml", encoding: .utf8)
        guard !old.isEmpty else { return text }
        #expect(text.contains(old), "fixture line '\(old)' vanished from rpi3.yml")
        return text.replacingOccurrences(of: old, with: new)
    }

    static func error(_ yaml: String) -> SpecError? {
        do {
            _ = try BoardCatalog.parseProfile(yaml: yaml, file: "rpi3.yml", name: "rpi3")
            Issue.record("expected an error")
        } catch let error as SpecError {
            return error
        } catch {
            Issue.record("unexpected \(error)")
        }
        return nil
    }

    static func line(of text: String, in yaml: String) -> Int {
        (yaml.components(separatedBy: "\n").firstIndex { $0.contains(text) } ?? -1) + 1
    }

    @Test func badBoardProfiles() throws {
        #expect(try BoardCatalog.parseProfile(yaml: Self.profile(), file: "rpi3.yml", name: "rpi3").name == "rpi3")

        let typo = try Self.profile(replacing: "  firmware: u-boot-kernel", with: "  firmware: u-boot-kernal")
        let firmware = try #require(Self.error(typo))
        #expect(firmware.position == "\(Self.line(of: "u-boot-kernal", in: typo)):13")
        #expect(firmware.message == "'u-boot-kernal' is not a valid 'firmware'; did you mean 'u-boot-kernel'?")
        #expect(firmware.hint == "use one of: seabios, ovmf, aavmf, u-boot-kernel")

        let key = try Self.profile(replacing: "partitionTable: mbr", with: "partitonTable: mbr")
        let unknown = try #require(Self.error(key))
        #expect(unknown.position == "\(Self.line(of: "partitonTable", in: key)):1")
        #expect(unknown.message == "unknown key 'partitonTable' in the board profile; did you mean 'partitionTable'?")

        let regex = try Self.profile(replacing: "\"Linux version [0-9]\"", with: "\"Linux version [0-9\"")
        let pattern = try #require(Self.error(regex))
        #expect(pattern.position == "\(Self.line(of: "[0-9\"", in: regex)):28")
        #expect(pattern.message == "'Linux version [0-9' is not a valid regular expression")

        let stage = try Self.profile(
            replacing: "  ready:      { patterns: [\"@@INGOT v1 stage=ready\"], timeout: 180 }\n", with: "")
        let missing = try #require(Self.error(stage))
        #expect(missing.message == "missing required field 'ready' in 'stages'")

        let arch = try Self.profile(replacing: "arch: arm64", with: "arch: amd64")
        let binary = try #require(Self.error(arch))
        #expect(binary.message == "'qemu-system-aarch64' does not emulate amd64")

        let dtb = try Self.profile(replacing: "  dtb: broadcom/bcm2837-rpi-3-b.dtb\n", with: "")
        #expect(try #require(Self.error(dtb)).message == "missing required field 'dtb' in 'emulation'")

        let name = try #require(Self.error(try Self.profile(replacing: "name: rpi3", with: "name: rpi-3")))
        #expect(name.message == "board name 'rpi-3' does not match its file name 'rpi3.yml'")
    }

    @Test func catalogDirectoryErrors() throws {
        let directory = try Fixture.temporaryDirectory()
        defer { Fixture.cleanup(directory) }
        #expect(throws: BoardCatalog.Error.empty(directory)) { try BoardCatalog.load(directory: directory) }
        #expect(throws: BoardCatalog.Error.unreadableDirectory(directory + "/nope")) {
            try BoardCatalog.load(directory: directory + "/nope")
        }
        try "name: broken\nsummary: [\n".write(toFile: directory + "/broken.yml", atomically: true, encoding: .utf8)
        do {
            _ = try BoardCatalog.load(directory: directory)
            Issue.record("expected an error")
        } catch let error as SpecError {
            #expect(error.location.file == directory + "/broken.yml")
            #expect(error.message.hasPrefix("malformed YAML"))
        }
    }

    @Test func stagesAreOrdered() {
        #expect(BootStage.allCases.sorted() == [.firmware, .bootloader, .kernel, .`init`, .ready])
        #expect(BootStage.firmware < .ready && !(BootStage.kernel < .bootloader))
        #expect(Architecture.amd64.qemuName == "x86_64" && Architecture.arm64.qemuName == "aarch64")
    }
}
