// Domain XML from a MachinePlan: the plan's QEMU arguments are read back into machine, CPU,
// memory, direct kernel boot, UEFI pflash (loader + per-run nvram copy), disks and CD-ROMs, and
// written as a transient `<domain type='qemu'>` with a pty serial console. A pure function: no
// daemon is needed to render or test it. raspi machines have no libvirt equivalent.

import Foundation
import IngotSpec

/// Renders libvirt domain XML for a machine plan.
public enum LibvirtDomainXML {
    /// The parts of a plan a domain needs, read back from its QEMU arguments.
    struct Machine {
        var machine = ""
        var cpu: String?
        var memoryMiB = 0
        var smp = 1
        var kernel: String?
        var initrd: String?
        var cmdline: String?
        var dtb: String?
        var loader: String?
        var nvram: String?
        var disks: [(path: String, format: String, transient: Bool)] = []
        var cdroms: [String] = []
        /// First device of `-boot order=`: `c` disk, `d` CD-ROM.
        var bootFirst: Character?
        /// The user-mode network (`-netdev user,...,hostfwd=...`) and its NIC, passed to QEMU as
        /// they are: libvirt 9.0 keeps `<portForward>` only for the passt backend, which it does
        /// not accept yet, and drops it silently from a SLIRP `<interface type='user'>`.
        var network: [String] = []
    }

    /// A unique domain name, `ingot-<board>-<uuid8>`.
    public static func uniqueName(board: String) -> String {
        "ingot-\(board)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// The domain XML for `plan`.
    /// - Parameters:
    ///   - plan: the machine plan (direct kernel boot, disk or ISO; serial mode is ignored: the
    ///     domain always gets a pty serial console the backend attaches to).
    ///   - board: the board profile (architecture; raspi machines are rejected).
    ///   - name: the domain name, e.g. from `uniqueName(board:)`.
    /// - Throws: `LibvirtConnection.Error.unsupported` for raspi boards and arguments libvirt
    ///   cannot express.
    public static func render(plan: MachinePlan, board: BoardProfile, name: String) throws -> String {
        try render(plan: plan, boardName: board.name, arch: board.arch, name: name)
    }

    /// The domain XML for `plan`, with the architecture read from the plan's QEMU binary
    /// (`qemu-system-x86_64`, `qemu-system-aarch64`).
    /// - Parameters:
    ///   - plan: the machine plan.
    ///   - name: the domain name.
    public static func render(plan: MachinePlan, name: String) throws -> String {
        let binary = (plan.executable as NSString).lastPathComponent
        guard let arch = Architecture.allCases.first(where: { binary == "qemu-system-\($0.qemuName)" }) else {
            throw LibvirtConnection.Error.unsupported(
                board: plan.board, reason: "unknown QEMU binary \(plan.executable)")
        }
        return try render(plan: plan, boardName: plan.board, arch: arch, name: name)
    }

    static func render(plan: MachinePlan, boardName: String, arch architecture: Architecture, name: String) throws
        -> String
    {
        let machine = try parse(plan: plan, boardName: boardName)
        let arch = architecture.qemuName
        let domainType = plan.accelerator == "kvm" ? "kvm" : "qemu"
        var xml = "<domain type='\(domainType)' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
        xml += "  <name>\(escape(name))</name>\n"
        xml += "  <memory unit='MiB'>\(machine.memoryMiB)</memory>\n"
        xml += "  <vcpu>\(machine.smp)</vcpu>\n"
        xml += "  <os>\n"
        xml += "    <type arch='\(arch)' machine='\(escape(machine.machine))'>hvm</type>\n"
        if let loader = machine.loader {
            xml += "    <loader readonly='yes' secure='no' type='pflash'>\(escape(loader))</loader>\n"
            if let nvram = machine.nvram { xml += "    <nvram>\(escape(nvram))</nvram>\n" }
        }
        if let kernel = machine.kernel {
            xml += "    <kernel>\(escape(kernel))</kernel>\n"
            if let initrd = machine.initrd { xml += "    <initrd>\(escape(initrd))</initrd>\n" }
            if let cmdline = machine.cmdline { xml += "    <cmdline>\(escape(cmdline))</cmdline>\n" }
            if let dtb = machine.dtb { xml += "    <dtb>\(escape(dtb))</dtb>\n" }
        } else {
            let cdrom = machine.bootFirst.map { $0 == "d" } ?? !machine.cdroms.isEmpty
            xml += "    <boot dev='\(cdrom ? "cdrom" : "hd")'/>\n"
        }
        xml += "  </os>\n"
        // aarch64 ACPI needs UEFI (libvirt refuses it otherwise); x86 needs it to power off.
        if architecture == .amd64 || machine.loader != nil { xml += "  <features><acpi/></features>\n" }
        if let cpu = machine.cpu {
            xml += "  <cpu mode='custom' match='exact'><model fallback='forbid'>\(escape(cpu))</model></cpu>\n"
        }
        xml += "  <clock offset='utc'/>\n"
        xml +=
            "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>destroy</on_reboot>\n  <on_crash>destroy</on_crash>\n"
        xml += "  <devices>\n"
        xml += "    <emulator>\(escape(plan.executable))</emulator>\n"
        for (index, disk) in machine.disks.enumerated() {
            xml += "    <disk type='file' device='disk'>\n"
            xml += "      <driver name='qemu' type='\(escape(disk.format))'/>\n"
            xml += "      <source file='\(escape(disk.path))'/>\n"
            xml += "      <target dev='vd\(letter(index))' bus='virtio'/>\n"
            if disk.transient { xml += "      <transient/>\n" }
            xml += "    </disk>\n"
        }
        let cdromBus = architecture == .amd64 ? "sata" : "scsi"
        for (index, path) in machine.cdroms.enumerated() {
            xml += "    <disk type='file' device='cdrom'>\n"
            xml += "      <driver name='qemu' type='raw'/>\n"
            xml += "      <source file='\(escape(path))'/>\n"
            xml += "      <target dev='sd\(letter(index))' bus='\(cdromBus)'/>\n"
            xml += "      <readonly/>\n"
            xml += "    </disk>\n"
        }
        if cdromBus == "scsi" && !machine.cdroms.isEmpty {
            xml += "    <controller type='scsi' model='virtio-scsi'/>\n"
        }
        xml += "    <serial type='pty'><target port='0'/></serial>\n"
        xml += "    <console type='pty'><target type='serial' port='0'/></console>\n"
        xml += "    <controller type='usb' model='none'/>\n"
        xml += "    <memballoon model='none'/>\n"
        xml += "  </devices>\n"
        // As in the QEMU plan: x86 firmware (SeaBIOS, OVMF) prints on the serial line.
        let passthrough = (architecture == .amd64 ? ["-machine", "graphics=off"] : []) + machine.network
        if !passthrough.isEmpty {
            xml +=
                "  <qemu:commandline>" + passthrough.map { "<qemu:arg value='\(escape($0))'/>" }.joined()
                + "</qemu:commandline>\n"
        }
        xml += "</domain>\n"
        return xml
    }

    /// Reads the plan's QEMU arguments back into a machine description.
    static func parse(plan: MachinePlan, boardName: String) throws -> Machine {
        let unsupported = { (reason: String) in LibvirtConnection.Error.unsupported(board: boardName, reason: reason) }
        var machine = Machine()
        machine.memoryMiB = 512
        var index = 0
        func value() throws -> String {
            index += 1
            guard index < plan.arguments.count else {
                throw unsupported("QEMU option \(plan.arguments[index - 1]) has no value")
            }
            return plan.arguments[index]
        }
        while index < plan.arguments.count {
            let option = plan.arguments[index]
            switch option {
            case "-M", "-machine":
                machine.machine = try splitOptions(value()).first ?? ""
                if machine.machine.hasPrefix("raspi") {
                    throw unsupported(
                        "libvirt has no \(machine.machine) machine (Raspberry Pi boards boot only under the QEMU backend)"
                    )
                }
            case "-cpu": machine.cpu = try value()
            case "-m":
                let text = try value()
                guard let mebibytes = Int(text) else {
                    throw unsupported("memory size -m \(text) is not a number of MiB")
                }
                machine.memoryMiB = mebibytes
            case "-smp":
                let text = try value()
                guard let count = Int(text) else { throw unsupported("-smp \(text) is not a CPU count") }
                machine.smp = count
            case "-kernel": machine.kernel = try value()
            case "-initrd": machine.initrd = try value()
            case "-append": machine.cmdline = try value()
            case "-dtb": machine.dtb = try value()
            case "-accel", "-serial", "-monitor", "-display", "-chardev", "-mon":
                _ = try value()  // the domain has its own accelerator and a pty console
            case "-boot":
                let order = try splitOptions(value()).first { $0.hasPrefix("order=") }
                machine.bootFirst = order?.dropFirst("order=".count).first
            case "-no-reboot":
                break  // on_reboot destroy
            case "-drive":
                try addDrive(splitOptions(value()), to: &machine, unsupported: unsupported)
            case "-netdev":
                machine.network += ["-netdev", try value()]
            case "-device"
            where index + 1 < plan.arguments.count
                && plan.arguments[index + 1].contains("netdev=\(GuestNetwork.netdevID)"):
                machine.network += ["-device", try value()]
            case "-device":
                let device = try value()
                // The ISO's virtio-scsi controller and CD device: libvirt adds its own.
                guard device.hasPrefix("virtio-scsi-pci") || device.hasPrefix("scsi-cd") else {
                    throw unsupported("QEMU device \(device) has no libvirt translation here")
                }
            default:
                throw unsupported("QEMU option \(option) has no libvirt translation here")
            }
            index += 1
        }
        guard !machine.machine.isEmpty else { throw unsupported("the plan names no machine (-M)") }
        if machine.kernel == nil && machine.disks.isEmpty && machine.cdroms.isEmpty {
            throw unsupported("the plan has nothing to boot (no kernel, disk or CD-ROM)")
        }
        return machine
    }

    private static func addDrive(
        _ parts: [String], to machine: inout Machine, unsupported: (String) -> LibvirtConnection.Error
    ) throws {
        var fields: [String: String] = [:]
        for part in parts {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            fields[pair[0]] = pair.count > 1 ? pair[1] : "on"
        }
        guard let file = fields["file"] else { return }  // `if=none` halves are completed by -device
        if fields["if"] == "pflash" {
            if fields["unit"] == "0" || fields["readonly"] == "on" {
                machine.loader = file
            } else {
                machine.nvram = file
            }
        } else if fields["media"] == "cdrom" {
            machine.cdroms.append(file)
        } else if fields["if"] == "virtio" || fields["if"] == nil {
            machine.disks.append((file, fields["format"] ?? "raw", fields["snapshot"] == "on"))
        } else {
            throw unsupported("a drive on interface \(fields["if"] ?? "?") has no libvirt translation here")
        }
    }

    /// Splits a QEMU option value at single commas (`,,` is a literal comma).
    static func splitOptions(_ value: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var characters = Array(value)[...]
        while let character = characters.popFirst() {
            if character == "," {
                if characters.first == "," {
                    current.append(",")
                    characters.removeFirst()
                } else {
                    parts.append(current)
                    current = ""
                }
            } else {
                current.append(character)
            }
        }
        parts.append(current)
        return parts
    }

    private static func letter(_ index: Int) -> String {
        String(UnicodeScalar(UInt8(97 + min(index, 25))))
    }

    /// XML text and attribute escaping.
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "'": out += "&apos;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}
