// Finding what to boot from a command-line path: a build prefix (out/hello-x86_64-efi), a
// manifest, or an image file; the board comes from the manifest unless --board names it.

import ArgumentParser
import Foundation
import IngotBoot
import IngotBuild
import IngotDisk
import IngotFilesystems
import IngotSpec

struct BootTarget {
    enum Error: Swift.Error, CustomStringConvertible {
        case notOnBootPartition(image: String, file: String)
        var description: String {
            switch self {
            case .notOnBootPartition(let image, let file):
                return "\(image): the boot partition (partition 1, FAT) has no \(file); this image was not built for this board — rebuild it with --board"
            }
        }
    }

    var board: BoardProfile
    var artifacts: BootArtifacts
    var manifest: BuildManifest?
    var label: String

    static func resolve(_ path: String, boards: Flags.Boards) throws -> BootTarget {
        if let device = try resolveDevice(path, boards: boards) { return device }
        let catalog = try boards.catalog()
        var prefix = path
        for suffix in [".manifest.json", "-kernel", "-initrd.img", "-cmdline", ".iso", ".img", ".qcow2", "/"]
        where prefix.hasSuffix(suffix) {
            prefix.removeLast(suffix.count)
        }
        let fm = FileManager.default
        let manifestPath = prefix + ".manifest.json"
        let manifest = fm.fileExists(atPath: manifestPath) ? try BuildManifest.load(path: manifestPath) : nil
        let boardName = boards.board.first ?? manifest?.board
        guard let boardName else {
            throw ValidationError("cannot tell the board of \(path): no manifest beside it; pass --board")
        }
        let board = try catalog.board(named: boardName)
        if let m = manifest, m.board != board.name {
            throw ValidationError("\(path) was built for board \(m.board), not \(board.name); drop --board or rebuild")
        }
        let label = (prefix as NSString).lastPathComponent
        // A path naming an image file boots that file, even when the same build also left a
        // kernel or another format beside it.
        for (ext, kind) in [(".iso", BootArtifacts.Kind.iso(path: path)), (".img", .disk(path: path, format: "raw")),
                            (".qcow2", .disk(path: path, format: "qcow2"))] where path.hasSuffix(ext) && !path.hasSuffix("-initrd.img") {
            guard fm.fileExists(atPath: path) else {
                throw ValidationError("\(path) does not exist; build it with --format \(ext == ".img" ? "raw" : String(ext.dropFirst()))")
            }
            return BootTarget(board: board, artifacts: BootArtifacts(kind: kind), manifest: manifest, label: label)
        }
        if fm.fileExists(atPath: prefix + "-kernel") {
            guard fm.fileExists(atPath: prefix + "-initrd.img") else {
                throw ValidationError("\(prefix)-initrd.img is missing; rebuild with --format kernel+initrd")
            }
            let cmdline = (try? String(contentsOfFile: prefix + "-cmdline", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? board.cmdline.joined(separator: " ")
            return BootTarget(
                board: board,
                artifacts: BootArtifacts(kind: .kernelInitrd(kernel: prefix + "-kernel", initrd: prefix + "-initrd.img", cmdline: cmdline, dtb: nil)),
                manifest: manifest, label: label)
        }
        for (ext, format) in [(".img", "raw"), (".qcow2", "qcow2")] {
            let p = prefix + ext
            if fm.fileExists(atPath: p) {
                return BootTarget(board: board, artifacts: BootArtifacts(kind: .disk(path: p, format: format)), manifest: manifest, label: label)
            }
        }
        if fm.fileExists(atPath: prefix + ".iso") {
            return BootTarget(board: board, artifacts: BootArtifacts(kind: .iso(path: prefix + ".iso")), manifest: manifest, label: label)
        }
        throw ValidationError(
            "nothing bootable at \(path): expected \(prefix)-kernel + -initrd.img, \(prefix).img, .qcow2 or .iso; run 'ingot build' first")
    }

    /// Raspberry Pi boards: QEMU cannot run the VideoCore firmware, so the harness plays its part
    /// and loads the image's own u-boot.bin and DTB from its boot partition (copied into `runDirectory`).
    func preparedArtifacts(runDirectory: String) throws -> BootArtifacts {
        try Self.preparedArtifacts(board: board, artifacts: artifacts, runDirectory: runDirectory)
    }

    /// The same for any board and artifacts (the matrix uses it per cell).
    static func preparedArtifacts(board: BoardProfile, artifacts: BootArtifacts, runDirectory: String) throws -> BootArtifacts {
        guard board.emulation.firmware == .ubootKernel, case .disk(let path, let format) = artifacts.kind else { return artifacts }
        let dtbName = ((board.emulation.dtb ?? board.dtbs.first ?? "") as NSString).lastPathComponent
        guard FileManager.default.fileExists(atPath: path) else {
            // Not built yet (a dry run): name where the files will be.
            var out = artifacts
            out.ubootKernel = runDirectory + "/u-boot.bin"
            out.dtb = runDirectory + "/" + dtbName
            return out
        }
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        guard format == "raw" else {
            throw ValidationError("\(board.name) boots from an SD card image: test the raw image (.img), not \(format)")
        }
        let report = try ImageInspector.inspect(path: path)
        guard let boot = report.partitions.first else {
            throw ValidationError("\(path) has no partition table; it is not an Ingot image for \(board.name)")
        }
        let image = try ImageFile(path: path)
        let fat = try FATReader(image: image, range: ByteRange(offset: boot.offset, size: boot.size))
        var out = artifacts
        for (file, assign) in [("u-boot.bin", 0), (dtbName, 1)] {
            guard !file.isEmpty, let bytes = try? fat.read("/" + file) else {
                throw Error.notOnBootPartition(image: path, file: file)
            }
            let dest = runDirectory + "/" + file
            try Data(bytes).write(to: URL(fileURLWithPath: dest))
            if assign == 0 { out.ubootKernel = dest } else { out.dtb = dest }
        }
        return out
    }
}
