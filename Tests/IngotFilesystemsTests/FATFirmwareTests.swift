// Firmware reads the written volume: OVMF's UEFI shell runs startup.nsh from a FAT12/16/32
// image and prints a file found through long-named directories (a 300-entry directory).

import Foundation
import IngotTree
import Testing

@testable import IngotFilesystems

@Suite struct FATFirmwareTests {
    static let code = "/usr/share/OVMF/OVMF_CODE_4M.fd"
    static let vars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
    static var available: Bool {
        FileManager.default.fileExists(atPath: code) && FATTool.exists("qemu-system-x86_64")
    }

    @Test(.enabled(if: available), arguments: [FATType.fat12, .fat16, .fat32])
    func ovmfReadsVolume(_ type: FATType) throws {
        let dir = try FATTempDir()
        let tree = try FileTree()
        try tree.addFile(
            "/startup.nsh",
            text:
                "echo INGOT-FAT-SHELL\r\nfs0:\r\ntype \"fs0:\\EFI\\Ingot Long Directory\\Hello World.txt\"\r\nreset -s\r\n"
        )
        try tree.addFile("/EFI/Ingot Long Directory/Hello World.txt", text: "HELLO-FROM-LONG-NAME-\(type.rawValue)\r\n")
        for i in 0..<300 { try tree.addFile("/EFI/Ingot Long Directory/padding file \(i).txt", text: "\(i)") }
        let img = dir.file("esp.img")
        let size: Int64 = 48 << 20
        let image = try ImageFile(path: img, create: true, size: size)
        try FATWriter.write(
            tree: tree, to: image, range: ByteRange(offset: 0, size: size),
            options: FATOptions(type: type, volumeLabel: "ESP"))
        try FileManager.default.copyItem(atPath: Self.vars, toPath: dir.file("vars.fd"))
        let r = try FATTool.run(
            "qemu-system-x86_64",
            [
                "-machine", "q35", "-accel", "tcg", "-m", "256", "-nographic", "-no-reboot", "-net", "none",
                "-drive", "if=pflash,format=raw,readonly=on,file=\(Self.code)",
                "-drive", "if=pflash,format=raw,file=\(dir.file("vars.fd"))",
                "-drive", "file=\(img),format=raw,if=virtio",
            ], timeout: 120)
        let out = r.text
        #expect(out.contains("INGOT-FAT-SHELL"), "startup.nsh did not run from the \(type) volume")
        #expect(out.contains("HELLO-FROM-LONG-NAME-\(type.rawValue)"), "OVMF could not read the long-named file")
    }
}
