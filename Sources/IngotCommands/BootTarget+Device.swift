// Booting what was written to a card or stick: `ingot test /dev/sdX --board B` attaches the
// block device itself as the machine's raw disk, read-only by snapshot (QEMU keeps the guest's
// writes in a throw-away overlay), on the board's default bus. A device carries no manifest, so
// the board must be named.

import ArgumentParser
import Foundation
import IngotBoot
import IngotContract
import IngotSpec

#if canImport(Glibc)
    import Glibc
#endif

extension BootTarget {
    /// The target for a block device path, or nil when `path` is not a block device.
    static func resolveDevice(_ path: String, board boardName: String?, catalog: BoardCatalog) throws -> BootTarget? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFBLK else { return nil }
        guard let name = boardName else {
            throw ValidationError(
                "\(path) is a device and carries no manifest; name its board with --board (see 'ingot boards')")
        }
        guard access(path, R_OK) == 0 else {
            throw ValidationError(
                "\(path): cannot read the device (\(String(cString: strerror(errno)))); run as root or join the disk group"
            )
        }
        let board = try catalog.board(named: name)
        return BootTarget(
            board: board, artifacts: BootArtifacts(kind: .disk(path: path, format: OutputFormat.raw.rawValue)),
            format: .raw,
            outputs: nil, label: (path as NSString).lastPathComponent)
    }
}
