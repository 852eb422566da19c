// Building a MachinePlan from a board profile and the build's artifacts: machine, CPU, memory,
// accelerator, firmware (SeaBIOS, OVMF/AAVMF pflash with a per-run VARS copy, U-Boot as -kernel
// on raspi), disks (virtio, SD padded to a power of two on a per-run copy), ISO, direct kernel.

import Foundation
import IngotSpec

extension MachinePlan {
    /// Plans how QEMU boots `artifacts` as `board`.
    /// - Parameters:
    ///   - board: the board profile (machine, firmware, disk interface, ...).
    ///   - artifacts: what the build produced.
    ///   - options: run directory, serial mode, accelerator choice.
    ///   - host: host facts (a fake in tests).
    public init(board: BoardProfile, artifacts: BootArtifacts, options: PlanOptions, host: BootHost = SystemBootHost())
        throws
    {
        let emulation = board.emulation
        var planner = Planner(board: board, host: host, options: options)
        let executable = try planner.qemuExecutable()

        if options.diskSize != nil {
            guard case .disk = artifacts.kind else {
                throw Error.unsupported(
                    board: board.name,
                    reason:
                        "--disk-size applies to disk images (raw, qcow2); an ISO or a direct kernel boot has no disk to enlarge"
                )
            }
        }
        let accelerator = try planner.accelerator(executable: executable)
        // graphics=off makes x86 firmware (SeaBIOS, OVMF) print on the serial line.
        let machine = board.arch == .amd64 ? "\(emulation.machine),graphics=off" : emulation.machine
        // raspi machines always have 4 vCPUs; multi-threaded TCG runs them on this host's 2 cores
        // and they starve each other (rpi3 to ready: 26 s MTTCG, 12.5 s single-threaded, measured).
        let accel = accelerator == "tcg" && emulation.machine.hasPrefix("raspi") ? "tcg,thread=single" : accelerator
        var args = ["-M", machine, "-accel", accel]
        if let cpu = emulation.cpu { args += ["-cpu", cpu] }
        args += ["-m", String(emulation.memoryMiB), "-smp", String(emulation.smp), "-no-reboot", "-display", "none"]
        args += planner.serialArguments()

        switch artifacts.kind {
        case .kernelInitrd(let kernel, let initrd, let cmdline, let dtb):
            try planner.requireFile(kernel, role: "kernel")
            try planner.requireFile(initrd, role: "initrd")
            try planner.checkKernelArchitecture(kernel)
            args += ["-kernel", kernel, "-initrd", initrd, "-append", planner.commandLine(cmdline)]
            if let dtb = dtb ?? artifacts.dtb {
                try planner.requireFile(dtb, role: "dtb")
                try planner.record(role: "dtb", path: dtb)
                args += ["-dtb", planner.emulationDeviceTree(dtb)]
            } else if emulation.firmware == .ubootKernel {
                throw Error.unsupported(
                    board: board.name,
                    reason:
                        "direct kernel boot on \(emulation.machine) needs a DTB; pass the board's DTB with the artifacts"
                )
            }
            planner.notes.append("direct kernel boot: QEMU loads kernel and initrd, no firmware/bootloader stage")
        case .disk(let path, let format):
            args += try planner.firmwareArguments(artifacts: artifacts)
            args += try planner.diskArguments(path: path, format: format)
        case .iso(let path):
            guard emulation.diskInterface != .sd else {
                throw Error.unsupported(
                    board: board.name,
                    reason: "an ISO cannot boot on \(emulation.machine) (SD card only); build the raw format")
            }
            try planner.requireFile(path, role: "ISO image")
            args += try planner.firmwareArguments(artifacts: artifacts)
            if board.arch == .amd64 {
                args += ["-drive", "file=\(path),media=cdrom,format=raw,readonly=on"]
                // SeaBIOS tries the (absent) hard disk first and prints "Boot failed" otherwise.
                if emulation.firmware == .seabios { args += ["-boot", "order=d"] }
            } else {
                args += [
                    "-device", "virtio-scsi-pci,id=scsi0", "-drive",
                    "if=none,id=cd0,media=cdrom,format=raw,readonly=on,file=\(path)",
                    "-device", "scsi-cd,drive=cd0,bus=scsi0.0",
                ]
            }
        }
        let network = options.forwardPorts.isEmpty ? nil : try planner.network(guestPorts: options.forwardPorts)
        args += network?.arguments ?? []
        args += emulation.extraArgs

        self.init(
            board: board.name, executable: executable, arguments: args, firmware: planner.firmware,
            accelerator: accelerator,
            scratchFiles: planner.scratch, serial: options.serial, directKernelBoot: artifacts.isDirectKernelBoot,
            endsOnlyWhenKilled: !emulation.powersOff, consoleLogPath: options.consoleLogPath, notes: planner.notes)
        self.network = network
    }
}

/// The working state while one plan is assembled.
struct Planner {
    let board: BoardProfile
    let host: BootHost
    let options: PlanOptions
    var firmware: [FirmwareFile] = []
    var scratch: [ScratchFile] = []
    var notes: [String] = []

    init(board: BoardProfile, host: BootHost, options: PlanOptions) {
        self.board = board
        self.host = host
        self.options = options
    }

    var emulation: Emulation { board.emulation }

    func runFile(_ name: String) -> String { (options.runDirectory as NSString).appendingPathComponent(name) }

    /// The QEMU binary to run: the one in PATH, unless the board needs a newer QEMU (its
    /// `minimumQEMU`; raspi4b needs 9.0) — then the first side-by-side build that is new enough.
    mutating func qemuExecutable() throws -> String {
        let binary = emulation.binary
        let candidates = [host.executable(binary)].compactMap { $0 } + host.additionalQEMUs(binary)
        guard let first = candidates.first else {
            throw MachinePlan.Error.qemuMissing(binary: binary, board: board.name)
        }
        guard let minimum = emulation.minimumQEMU ?? (emulation.machine.hasPrefix("raspi4") ? "9.0" : nil) else {
            return first
        }
        var seen: [String] = []
        for candidate in candidates {
            let version = try host.qemuVersion(candidate)
            if Self.compareVersions(version, minimum) >= 0 {
                let passed = seen.isEmpty ? "" : " (skipped \(seen.joined(separator: ", ")))"
                notes.append("QEMU \(version) at \(candidate) ≥ \(minimum) for \(emulation.machine)\(passed)")
                return candidate
            }
            seen.append("\(candidate) \(version)")
        }
        throw MachinePlan.Error.qemuTooOld(
            board: board.name, machine: emulation.machine, have: seen.joined(separator: ", "), need: minimum)
    }

    mutating func accelerator(executable: String) throws -> String {
        let tcgOnly = emulation.machine.hasPrefix("raspi")
        switch options.accelerator {
        case .tcg:
            return "tcg"
        case .kvm:
            guard !tcgOnly else {
                throw MachinePlan.Error.kvmUnusable(detail: "\(emulation.machine) is emulated with TCG only")
            }
            let probe = host.kvmWorks(binary: executable, architecture: board.arch.qemuName)
            guard probe.usable else { throw MachinePlan.Error.kvmUnusable(detail: probe.detail) }
            notes.append("accelerator kvm: \(probe.detail)")
            return "kvm"
        case .auto:
            if tcgOnly {
                notes.append("accelerator tcg: \(emulation.machine) is TCG only")
                return "tcg"
            }
            let probe = host.kvmWorks(binary: executable, architecture: board.arch.qemuName)
            notes.append("accelerator \(probe.usable ? "kvm" : "tcg"): \(probe.detail)")
            return probe.usable ? "kvm" : "tcg"
        }
    }

    func serialArguments() -> [String] {
        // The Raspberry Pi's second UART (the mini UART) carries U-Boot's console; the kernel
        // uses the PL011. Both go to the same console so the bootloader stage is visible.
        let uarts = emulation.machine.hasPrefix("raspi") ? 2 : 1
        let serials = Array(repeating: ["-serial", "chardev:console"], count: uarts).flatMap { $0 }
        switch options.serial {
        case .pipe:
            if uarts == 1 { return ["-serial", "stdio", "-monitor", "none"] }
            return ["-chardev", "stdio,id=console,mux=on,signal=off"] + serials + ["-monitor", "none"]
        case .stdio:
            // Console and monitor share the terminal (Ctrl-A c switches, Ctrl-A x quits); Ctrl-C
            // goes to the guest; QEMU itself keeps the serial log.
            return ["-chardev", "stdio,id=console,mux=on,signal=off,logfile=\(options.consoleLogPath)"] + serials
                + ["-mon", "chardev=console,mode=readline"]
        }
    }

    func commandLine(_ given: String) -> String {
        var parts = given.split(separator: " ").map(String.init)
        if parts.isEmpty { parts = board.cmdline }
        if !parts.contains(where: { $0.hasPrefix("console=") }) { parts.insert("console=\(board.console)", at: 0) }
        return parts.joined(separator: " ")
    }

    func requireFile(_ path: String, role: String) throws {
        guard host.fileSize(path) != nil else { throw MachinePlan.Error.missingFile(role: role, path: path) }
    }

    mutating func record(role: String, path: String) throws {
        try requireFile(path, role: role)
        firmware.append(FirmwareFile(role: role, path: path, sha256: try host.sha256(path)))
    }

    /// Detects the architecture of an uncompressed kernel image (bzImage or arm64 Image).
    func checkKernelArchitecture(_ path: String) throws {
        guard let head = host.prefix(path, count: 0x240), head.count >= 0x240 else { return }
        var found: Architecture?
        if Array(head[0x202..<0x206]) == Array("HdrS".utf8) { found = .amd64 }
        if Array(head[0x38..<0x3C]) == [0x41, 0x52, 0x4D, 0x64] { found = .arm64 }
        if let found, found != board.arch {
            throw MachinePlan.Error.architectureMismatch(
                board: board.name, path: path, expected: board.arch.rawValue, found: found.rawValue)
        }
    }
}
