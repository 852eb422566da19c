// Errors raised while planning a machine: each names the board, the file and what to do.

import IngotContract

extension MachinePlan {
    /// Why a machine plan could not be made or prepared.
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        /// The QEMU binary is not installed.
        case qemuMissing(binary: String, board: String)
        /// `binary --version` printed no version.
        case qemuVersionUnknown(binary: String, output: String)
        /// The board needs a newer QEMU (e.g. raspi4b needs ≥ 9.0).
        case qemuTooOld(board: String, machine: String, have: String, need: String)
        /// A file the machine needs does not exist.
        case missingFile(role: String, path: String)
        /// No usable firmware was found for the board.
        case firmwareNotFound(board: String, kind: String, looked: [String])
        /// The artifacts cannot boot on this board.
        case unsupported(board: String, reason: String)
        /// The kernel image is for another architecture.
        case architectureMismatch(board: String, path: String, expected: String, found: String)
        /// The SD image size is not a power of two and copying was not allowed.
        case sdSizeNotPowerOfTwo(path: String, size: UInt64, next: UInt64)
        /// KVM was requested but does not work here.
        case kvmUnusable(detail: String)
        /// A per-run file could not be created.
        case scratchFailed(path: String, reason: String)
        /// The board's machine cannot attach a disk on that bus (or the board does not list it).
        case busNotEmulated(board: String, machine: String, bus: DiskBus, available: [DiskBus])
        /// `--disk-size` asks for a disk smaller than the image.
        case diskSmallerThanImage(path: String, imageSize: UInt64, diskSize: UInt64)
        /// The spec checks readiness over the network, but the emulated machine has no NIC the
        /// guest's kernel drives.
        case noNetwork(board: String, machine: String, reason: String)

        public var description: String {
            switch self {
            case .qemuMissing(let binary, let board):
                return
                    "\(binary) (needed by board \(board)) is not installed or not in PATH; install qemu-system-x86 or qemu-system-arm"
            case .qemuVersionUnknown(let binary, let output):
                return
                    "cannot read the version of \(binary) (it printed: \(output.prefix(200))); check the QEMU installation"
            case .qemuTooOld(let board, let machine, let have, let need):
                return "board \(board) needs QEMU ≥ \(need) for machine \(machine), but the newest found is \(have); "
                    + "run ci/bootstrap (it installs QEMU 10 from bookworm-backports beside the system's, under /opt/ingot/qemu-10) "
                    + "or name a prefix holding bin/qemu-system-* in INGOT_QEMU_PREFIXES"
            case .missingFile(let role, let path):
                return "\(role) file \(path) does not exist; build the image first or check the path"
            case .firmwareNotFound(let board, let kind, let looked):
                return
                    "no \(kind) firmware for board \(board) (looked at \(looked.joined(separator: ", "))); install the ovmf or qemu-efi-aarch64 package"
            case .unsupported(let board, let reason):
                return "board \(board): \(reason)"
            case .architectureMismatch(let board, let path, let expected, let found):
                return "\(path) is a \(found) kernel but board \(board) is \(expected); build for the right board"
            case .sdSizeNotPowerOfTwo(let path, let size, let next):
                return
                    "SD image \(path) is \(size) bytes, not a power of two as QEMU's SD card needs; allow a padded per-run copy or resize the image to \(next) bytes"
            case .kvmUnusable(let detail):
                return "KVM was requested but does not work here (\(detail)); use --accel tcg or auto"
            case .busNotEmulated(let board, let machine, let bus, let available):
                let list = available.map(\.rawValue).joined(separator: ", ")
                return "board \(board) (QEMU \(machine)) cannot attach a disk on the \(bus.rawValue) bus; "
                    + (list.isEmpty ? "it emulates no disk bus" : "its buses are: \(list)") + " — pick one with --bus"
            case .diskSmallerThanImage(let path, let imageSize, let diskSize):
                return "--disk-size \(diskSize) bytes is smaller than the image \(path) (\(imageSize) bytes); "
                    + "give at least \(imageSize) bytes (e.g. \((imageSize + (1 << 30) - 1) >> 30)G)"
            case .noNetwork(let board, let machine, let reason):
                return
                    "board \(board) (QEMU \(machine)) has no network device the guest can use, so readiness.http/readiness.tcp cannot be checked: \(reason); "
                    + "test this appliance over the network on another board, or check readiness with readiness.pattern on this one"
            case .scratchFailed(let path, let reason):
                return
                    "cannot create per-run file \(path): \(reason); check free space and permissions of the run directory"
            }
        }
    }
}
