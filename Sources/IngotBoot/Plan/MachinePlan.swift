// The machine plan: a plain, printable value saying exactly how QEMU will be started for one
// boot — executable, arguments, firmware files (with sha256), accelerator, per-run scratch files.
// Building it runs nothing but read-only probes; executing it is QEMUProcess's job.

import Foundation
import IngotContract
import IngotSpec

/// What the build produced for one board, as the harness boots it.
public struct BootArtifacts: Codable, Equatable, Sendable {
    /// The shape of the bootable output.
    public enum Kind: Codable, Equatable, Sendable {
        /// Direct kernel boot: QEMU loads kernel and initrd itself.
        case kernelInitrd(kernel: String, initrd: String, cmdline: String, dtb: String?)
        /// A disk image (`raw` or `qcow2`).
        case disk(path: String, format: String)
        /// An ISO 9660 image.
        case iso(path: String)
    }

    /// The bootable output.
    public var kind: Kind
    /// RPi: the `u-boot.bin` the build extracted, loaded by QEMU in place of the VideoCore firmware.
    public var ubootKernel: String?
    /// The device tree the board needs (overrides the board profile's).
    public var dtb: String?

    /// Creates artifacts.
    public init(kind: Kind, ubootKernel: String? = nil, dtb: String? = nil) {
        self.kind = kind
        self.ubootKernel = ubootKernel
        self.dtb = dtb
    }

    /// True for direct kernel boot (no firmware or bootloader stage on the console).
    public var isDirectKernelBoot: Bool {
        if case .kernelInitrd = kind { return true }
        return false
    }
}

/// A firmware (or firmware-like) file the machine uses, pinned by content.
public struct FirmwareFile: Codable, Equatable, Sendable {
    /// What it is: `code`, `vars-template`, `bios`, `u-boot`, `dtb`.
    public var role: String
    /// Absolute path on the host.
    public var path: String
    /// Lowercase hex sha256 of the file's bytes.
    public var sha256: String

    /// Creates a record.
    public init(role: String, path: String, sha256: String) {
        self.role = role
        self.path = path
        self.sha256 = sha256
    }
}

/// A per-run file created before QEMU starts (never the user's own file).
public struct ScratchFile: Codable, Equatable, Sendable {
    /// The file copied (nil: create empty).
    public var source: String?
    /// Where the copy goes (inside the run directory).
    public var path: String
    /// Size to extend the copy to (sparse), if larger than the source.
    public var size: UInt64?
    /// Why it exists.
    public var purpose: String
    /// When set, the file is not a copy but a qcow2 overlay over `source` (read as this format,
    /// `raw` or `qcow2`) with the virtual size `size`: the guest sees a larger disk, writes land
    /// in the overlay, the source is never written.
    public var overlayOf: String?
    /// When set, the copy is a device tree with these edits applied (emulation only).
    public var deviceTreeEdits: DeviceTreeEdits?

    /// Creates a scratch-file step.
    public init(
        source: String?, path: String, size: UInt64? = nil, purpose: String, overlayOf: String? = nil,
        deviceTreeEdits: DeviceTreeEdits? = nil
    ) {
        self.source = source
        self.path = path
        self.size = size
        self.purpose = purpose
        self.overlayOf = overlayOf
        self.deviceTreeEdits = deviceTreeEdits
    }
}

/// How the guest console is connected.
public enum SerialMode: String, Codable, Sendable {
    /// Interactive: console (and QEMU monitor, Ctrl-A c) on the user's terminal; log via chardev logfile.
    case stdio
    /// Captured: serial on QEMU's stdout pipe, read by the harness.
    case pipe
}

/// Which accelerator to use.
public enum AcceleratorChoice: String, Codable, Sendable {
    /// KVM when the probe shows it works for this guest, else TCG.
    case auto
    /// Always TCG.
    case tcg
    /// Always KVM (fails at start if unusable).
    case kvm
}

/// Options for building a plan.
public struct PlanOptions: Sendable {
    /// Directory for per-run files (VARS copy, padded SD copy, logs). Must exist when the plan runs.
    public var runDirectory: String
    /// Console connection.
    public var serial: SerialMode
    /// Accelerator choice.
    public var accelerator: AcceleratorChoice
    /// Let the guest write to the image; when false, disks are attached with `snapshot=on`.
    public var writable: Bool
    /// Copy (and pad) an SD image whose size is not a power of two; when false that is an error.
    public var allowSDCopy: Bool
    /// The disk bus to attach a disk image to; nil: the board's default (its first listed bus).
    public var bus: DiskBus?
    /// Boot the image inside a disk of this many bytes (a per-run overlay; the image is never
    /// written). Nil: the disk is the image's own size.
    public var diskSize: UInt64?
    /// Guest TCP ports to forward from 127.0.0.1 (readiness probes): the machine gets a NIC on a
    /// user-mode network. Empty: no network device.
    public var forwardPorts: [Int] = []

    /// Creates options.
    public init(
        runDirectory: String, serial: SerialMode = .pipe, accelerator: AcceleratorChoice = .auto,
        writable: Bool = false, allowSDCopy: Bool = true, bus: DiskBus? = nil, diskSize: UInt64? = nil
    ) {
        self.bus = bus
        self.diskSize = diskSize
        self.runDirectory = runDirectory
        self.serial = serial
        self.accelerator = accelerator
        self.writable = writable
        self.allowSDCopy = allowSDCopy
    }

    /// The serial log path inside the run directory.
    public var consoleLogPath: String { (runDirectory as NSString).appendingPathComponent("console.log") }
}

/// Exactly how one QEMU machine is started.
public struct MachinePlan: Codable, Equatable, Sendable, CustomStringConvertible {
    /// Board profile name.
    public var board: String
    /// Absolute path of the QEMU binary.
    public var executable: String
    /// Arguments after argv[0].
    public var arguments: [String]
    /// Firmware files with their sha256.
    public var firmware: [FirmwareFile]
    /// `kvm` or `tcg`.
    public var accelerator: String
    /// Per-run files created before start.
    public var scratchFiles: [ScratchFile]
    /// Console mode.
    public var serial: SerialMode
    /// True when QEMU loads the kernel itself (no firmware/bootloader stage on the console).
    public var directKernelBoot: Bool
    /// True when the machine never powers off (raspi): the harness must end it after the verdict.
    public var endsOnlyWhenKilled: Bool
    /// The serial log path (QEMU writes it itself in `.stdio` mode).
    public var consoleLogPath: String
    /// Human notes on choices made (firmware picked, padding, accelerator probe).
    public var notes: [String]
    /// The user-mode network and its forwarded ports (nil: the machine has no NIC).
    public var network: GuestNetwork? = nil

    /// Creates a plan directly (tests and custom machines).
    public init(
        board: String, executable: String, arguments: [String], firmware: [FirmwareFile] = [],
        accelerator: String = "tcg", scratchFiles: [ScratchFile] = [], serial: SerialMode = .pipe,
        directKernelBoot: Bool = false, endsOnlyWhenKilled: Bool = false, consoleLogPath: String = "",
        notes: [String] = []
    ) {
        self.board = board
        self.executable = executable
        self.arguments = arguments
        self.firmware = firmware
        self.accelerator = accelerator
        self.scratchFiles = scratchFiles
        self.serial = serial
        self.directKernelBoot = directKernelBoot
        self.endsOnlyWhenKilled = endsOnlyWhenKilled
        self.consoleLogPath = consoleLogPath
        self.notes = notes
    }

    /// The command line, shell-quoted, one option per line (for `--dry-run`).
    public var commandLine: String {
        var lines: [String] = [Self.quote(executable)]
        var index = 0
        while index < arguments.count {
            var line = Self.quote(arguments[index])
            if arguments[index].hasPrefix("-"), index + 1 < arguments.count, !arguments[index + 1].hasPrefix("-") {
                line += " " + Self.quote(arguments[index + 1])
                index += 1
            }
            lines.append(line)
            index += 1
        }
        return lines.joined(separator: " \\\n    ")
    }

    public var description: String {
        var text = "machine plan for \(board) (accelerator \(accelerator), serial \(serial.rawValue))\n"
        text += commandLine + "\n"
        for file in firmware { text += "firmware \(file.role): \(file.path) sha256:\(file.sha256)\n" }
        for file in scratchFiles {
            text += "scratch: \(file.path) <- \(file.source ?? "(empty)")"
            if let format = file.overlayOf, let size = file.size {
                text += " (qcow2 overlay over \(format), \(size) bytes)"
            } else if let size = file.size {
                text += " padded to \(size) bytes"
            }
            if let edits = file.deviceTreeEdits {
                text +=
                    " with \(edits.disable.count) nodes disabled, \(edits.deleteNodes.count) removed, \(edits.deleteProperties.count) properties removed"
            }
            text += " (\(file.purpose))\n"
        }
        for note in notes { text += "note: \(note)\n" }
        return text
    }

    /// Creates the scratch files (copies, padding) in the run directory. Never touches sources.
    public func prepareScratchFiles() throws {
        let manager = FileManager.default
        for file in scratchFiles {
            let directory = (file.path as NSString).deletingLastPathComponent
            do {
                try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
                if manager.fileExists(atPath: file.path) { try manager.removeItem(atPath: file.path) }
                if let format = file.overlayOf, let source = file.source, let size = file.size {
                    try Self.createOverlay(of: source, format: format, size: size, at: file.path)
                    continue
                }
                if let edits = file.deviceTreeEdits, let source = file.source {
                    var tree = try DeviceTree(contentsOf: source)
                    try tree.apply(edits, path: source)
                    guard manager.createFile(atPath: file.path, contents: Data(tree.serialized())) else {
                        throw MachinePlan.Error.scratchFailed(
                            path: file.path, reason: "cannot write the adjusted device tree")
                    }
                    continue
                }
                if let source = file.source {
                    try manager.copyItem(atPath: source, toPath: file.path)
                } else {
                    guard manager.createFile(atPath: file.path, contents: nil) else {
                        throw MachinePlan.Error.scratchFailed(path: file.path, reason: "cannot create file")
                    }
                }
                if let size = file.size {
                    let current =
                        (try manager.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.uint64Value ?? 0
                    if size > current, truncate(file.path, off_t(size)) != 0 {
                        throw MachinePlan.Error.scratchFailed(path: file.path, reason: String(cString: strerror(errno)))
                    }
                }
                _ = chmod(file.path, 0o644)
            } catch let error as MachinePlan.Error {
                throw error
            } catch let error as DeviceTree.Error {
                throw MachinePlan.Error.scratchFailed(path: file.path, reason: error.description)
            } catch {
                throw MachinePlan.Error.scratchFailed(path: file.path, reason: "\(error)")
            }
        }
    }

    /// `qemu-img create -f qcow2 -b SOURCE -F FORMAT PATH SIZE`: a sparse overlay, the source untouched.
    static func createOverlay(of source: String, format: String, size: UInt64, at path: String) throws {
        let backing = source.hasPrefix("/") ? source : FileManager.default.currentDirectoryPath + "/" + source
        let run: CapturedRun
        do {
            run = try ProbeRunner.run(
                "qemu-img", ["create", "-q", "-f", "qcow2", "-b", backing, "-F", format, path, String(size)],
                timeout: 30)
        } catch {
            throw MachinePlan.Error.scratchFailed(
                path: path, reason: "cannot run qemu-img (\(error)); install qemu-utils")
        }
        guard run.status == .exited(0) else {
            throw MachinePlan.Error.scratchFailed(
                path: path,
                reason: "qemu-img create failed: \(run.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }

    static func quote(_ argument: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=,./:@%+")
        if !argument.isEmpty && argument.allSatisfy({ safe.contains($0) }) { return argument }
        return "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
