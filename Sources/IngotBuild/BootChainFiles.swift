// Names of files the boot chains put on an image's boot partition that the harness needs to
// find again (on a Raspberry Pi, QEMU plays the VideoCore firmware and loads them itself).

import Foundation
import IngotSpec

/// Files of the boot partition, by what they are.
public enum BootChainFiles {
    /// The U-Boot binary on a Raspberry Pi boot partition (`config.txt` says `kernel=u-boot.bin`).
    public static let piUBoot = "u-boot.bin"

    /// The files QEMU loads in place of the Raspberry Pi firmware: U-Boot and the board's DTB,
    /// as paths on the boot partition.
    public static func emulatedFirmware(board: BoardProfile) -> (uboot: String, dtb: String) {
        let dtb = board.emulation.dtb ?? board.dtbs.first ?? ""
        return (piUBoot, (dtb as NSString).lastPathComponent)
    }
}
