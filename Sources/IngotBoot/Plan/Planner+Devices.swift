// Firmware and disk arguments for a plan: UEFI firmware picked from QEMU's descriptors (never a
// secure-boot or SMM build) or Debian's known paths, per-run VARS copies, U-Boot for raspi, and
// disks attached read-only-by-snapshot, with SD images padded on a per-run copy.

import Foundation
import IngotContract
import IngotSpec

extension Planner {
    /// Known Debian locations used when no descriptor matches.
    static let knownUEFI: [FirmwareKind: (code: String, vars: String)] = [
        .ovmf: ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
        .aavmf: ("/usr/share/AAVMF/AAVMF_CODE.fd", "/usr/share/AAVMF/AAVMF_VARS.fd"),
    ]
    static let seabiosPath = "/usr/share/seabios/bios-256k.bin"
    static let armPflashSize: UInt64 = 64 << 20

    mutating func firmwareArguments(artifacts: BootArtifacts) throws -> [String] {
        switch emulation.firmware {
        case .seabios:
            if host.fileSize(Self.seabiosPath) != nil { try record(role: "bios", path: Self.seabiosPath) }
            notes.append("firmware: QEMU's built-in SeaBIOS")
            return []
        case .ovmf, .aavmf:
            let (code, vars) = try uefiFirmware()
            try record(role: "code", path: code)
            try record(role: "vars-template", path: vars)
            var codePath = code
            let varsCopy = runFile("efivars.fd")
            var varsSize: UInt64? = nil
            if emulation.firmware == .aavmf {
                // The virt machine's pflash banks are 64 MiB; Debian's AAVMF files already are.
                if let size = host.fileSize(code), size < Self.armPflashSize {
                    codePath = runFile("efi-code.fd")
                    scratch.append(
                        ScratchFile(
                            source: code, path: codePath, size: Self.armPflashSize,
                            purpose: "AAVMF code padded to 64 MiB"))
                }
                if let size = host.fileSize(vars), size < Self.armPflashSize { varsSize = Self.armPflashSize }
            }
            scratch.append(
                ScratchFile(source: vars, path: varsCopy, size: varsSize, purpose: "per-run UEFI variable store"))
            return [
                "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=\(Self.escape(codePath))",
                "-drive", "if=pflash,format=raw,unit=1,file=\(Self.escape(varsCopy))",
            ]
        case .ubootKernel:
            guard let uboot = artifacts.ubootKernel else {
                throw MachinePlan.Error.unsupported(
                    board: board.name,
                    reason:
                        "the artifacts carry no u-boot.bin (\(emulation.ubootPath ?? "ubootPath") from u-boot-rpi); rebuild the image for this board"
                )
            }
            guard let dtb = artifacts.dtb else {
                throw MachinePlan.Error.unsupported(
                    board: board.name,
                    reason: "the artifacts carry no DTB (\(emulation.dtb ?? "dtb")); rebuild the image for this board")
            }
            try record(role: "u-boot", path: uboot)
            try record(role: "dtb", path: dtb)
            notes.append(
                "QEMU plays the VideoCore firmware: U-Boot loaded with -kernel, DTB with -dtb (U-Boot hands it to the kernel)"
            )
            return ["-kernel", uboot, "-dtb", emulationDeviceTree(dtb)]
        }
    }

    /// The DTB QEMU loads: `dtb` itself, or a per-run copy with the board's `dtbEdits` applied
    /// (devices the emulated SoC lacks disabled). The image's own DTB is never changed.
    mutating func emulationDeviceTree(_ dtb: String) -> String {
        let edits = emulation.dtbEdits
        guard !edits.isEmpty else { return dtb }
        let copy = runFile("emulation-" + (dtb as NSString).lastPathComponent)
        scratch.append(
            ScratchFile(source: dtb, path: copy, purpose: "DTB adjusted for emulation", deviceTreeEdits: edits))
        var changes: [String] = []
        if !edits.disable.isEmpty { changes.append("disabled \(edits.disable.joined(separator: ", "))") }
        if !edits.deleteNodes.isEmpty { changes.append("removed \(edits.deleteNodes.joined(separator: ", "))") }
        if !edits.deleteProperties.isEmpty {
            changes.append("removed properties \(edits.deleteProperties.joined(separator: ", "))")
        }
        notes.append(
            "emulation-only DTB \(copy): \(changes.joined(separator: "; ")) (\(emulation.machine) lacks them); the image's DTB is untouched"
        )
        return copy
    }

    /// Picks UEFI code + VARS template: descriptors first (by priority), then known paths.
    func uefiFirmware() throws -> (code: String, vars: String) {
        let excluded: Set<String> = ["secure-boot", "enrolled-keys", "requires-smm", "amd-sev-es", "intel-tdx"]
        var looked: [String] = []
        for descriptor in host.firmwareDescriptors() {
            guard descriptor.architectures.contains(board.arch.qemuName), descriptor.interfaceTypes.contains("uefi"),
                descriptor.device == "flash", excluded.isDisjoint(with: descriptor.features),
                let vars = descriptor.nvramTemplate
            else { continue }
            looked.append(descriptor.source)
            if host.fileSize(descriptor.executable) != nil && host.fileSize(vars) != nil {
                return (descriptor.executable, vars)
            }
        }
        if let known = Self.knownUEFI[emulation.firmware] {
            looked.append(known.code)
            if host.fileSize(known.code) != nil && host.fileSize(known.vars) != nil { return known }
        }
        throw MachinePlan.Error.firmwareNotFound(board: board.name, kind: emulation.firmware.rawValue, looked: looked)
    }

    mutating func diskArguments(path: String, format: String) throws -> [String] {
        guard ["raw", "qcow2"].contains(format) else {
            throw MachinePlan.Error.unsupported(
                board: board.name, reason: "disk format '\(format)' cannot be booted; use raw or qcow2")
        }
        guard let size = host.fileSize(path) else {
            throw MachinePlan.Error.missingFile(role: "disk image", path: path)
        }
        let bus = options.bus ?? emulation.diskInterface
        guard emulation.buses.contains(bus) else {
            throw MachinePlan.Error.busNotEmulated(
                board: board.name, machine: emulation.machine, bus: bus, available: emulation.buses)
        }
        var file = path
        var fileFormat = format
        var snapshot = !options.writable
        if let wanted = options.diskSize, wanted != size {
            guard wanted > size else {
                throw MachinePlan.Error.diskSmallerThanImage(path: path, imageSize: size, diskSize: wanted)
            }
            var virtualSize = wanted
            if bus == .sd && emulation.diskSizePowerOfTwo && virtualSize & (virtualSize &- 1) != 0 {
                virtualSize = Self.nextPowerOfTwo(virtualSize)
                notes.append(
                    "disk size \(wanted) rounded up to \(virtualSize) bytes: \(emulation.machine)'s SD card must be a power of two"
                )
            }
            file = runFile("disk.qcow2")
            scratch.append(
                ScratchFile(
                    source: path, path: file, size: virtualSize, purpose: "the image inside a larger disk",
                    overlayOf: format))
            notes.append(
                "disk: \(path) (\(size) bytes) inside a \(virtualSize)-byte disk, a per-run qcow2 overlay; the image is never written"
            )
            fileFormat = "qcow2"
            snapshot = false
        } else if bus == .sd {
            guard format == "raw" else {
                throw MachinePlan.Error.unsupported(
                    board: board.name, reason: "the SD card of \(emulation.machine) needs a raw image, not \(format)")
            }
            if emulation.diskSizePowerOfTwo && size & (size &- 1) != 0 {
                let next = Self.nextPowerOfTwo(size)
                guard options.allowSDCopy else {
                    throw MachinePlan.Error.sdSizeNotPowerOfTwo(path: path, size: size, next: next)
                }
                file = runFile("sd.img")
                scratch.append(
                    ScratchFile(source: path, path: file, size: next, purpose: "SD image padded to a power of two"))
                notes.append(
                    "SD image \(path) (\(size) bytes) copied to \(file) and padded to \(next) bytes; the original is untouched"
                )
                snapshot = false
            }
        }
        return try busArguments(bus, file: file, format: fileFormat, snapshot: snapshot)
    }

    static func nextPowerOfTwo(_ value: UInt64) -> UInt64 {
        // Past 2^63 no power of two fits; shifting on would wrap to 0 and loop forever.
        guard value <= 1 << 63 else { return value }
        var result: UInt64 = 1
        while result < value { result <<= 1 }
        return result
    }

    /// QEMU option values double their commas.
    static func escape(_ path: String) -> String { path.replacingOccurrences(of: ",", with: ",,") }

    /// Compares dotted versions numerically (`7.2.22` < `9.0`).
    static func compareVersions(_ lhs: String, _ rhs: String) -> Int {
        let left = lhs.split(separator: ".").map { Int($0) ?? 0 }
        let right = rhs.split(separator: ".").map { Int($0) ?? 0 }
        for index in 0..<max(left.count, right.count) {
            let a = index < left.count ? left[index] : 0
            let b = index < right.count ? right[index] : 0
            if a != b { return a < b ? -1 : 1 }
        }
        return 0
    }
}
