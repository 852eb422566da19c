// What `ingot test` and `ingot run` boot, from a command-line path: a build prefix
// (out/hello-x86_64-efi), its manifest or any of its outputs — read through the manifest — or an
// image file with no manifest (then --board names the board). Wiring only: the outputs come
// from IngotBuild's manifest reader, the Raspberry Pi firmware files from IngotDisk.

import ArgumentParser
import Foundation
import IngotBoot
import IngotBuild
import IngotContract
import IngotDisk
import IngotSpec

struct BootTarget {
    var board: BoardProfile
    var artifacts: BootArtifacts
    /// The format booted.
    var format: OutputFormat
    /// The build's outputs (nil for an image file without a manifest).
    var outputs: BuildOutputs?
    var label: String

    /// Finds what `path` names.
    /// - Parameters:
    ///   - path: a prefix, manifest, output or image file.
    ///   - boardName: `--board`, if given (required for an image without a manifest).
    ///   - catalog: the board profiles.
    static func resolve(_ path: String, board boardName: String?, catalog: BoardCatalog) throws -> BootTarget {
        if let device = try resolveDevice(path, board: boardName, catalog: catalog) { return device }
        let outputs: BuildOutputs
        do {
            outputs = try BuildOutputs.load(path)
        } catch BuildOutputs.Error.noManifest(let file, let manifest) {
            // A path naming an image file boots that file as it is, on the board the user names.
            guard let format = BuildOutputs.imageFormat(ofFile: file), format.isBootable else {
                throw CommandError(
                    "\(file) is not a disk image, ISO or build output: no manifest lists it (looked for \(manifest)); build one with 'ingot build'"
                )
            }
            guard let boardName else {
                throw CommandError(
                    "cannot tell the board of \(file): no manifest lists it (looked for \(manifest)); pass --board")
            }
            let board = try catalog.board(named: boardName)
            let kind: BootArtifacts.Kind =
                format == .iso ? .iso(path: file) : .disk(path: file, format: format.rawValue)
            return BootTarget(
                board: board, artifacts: BootArtifacts(kind: kind), format: format, outputs: nil,
                label: (file as NSString).lastPathComponent)
        }
        let manifestBoard = outputs.manifest?.board ?? ""
        let board = try catalog.board(named: boardName ?? manifestBoard)
        guard manifestBoard == board.name else {
            throw CommandError(
                "\(path) was built for board \(manifestBoard), not \(board.name); drop --board or rebuild")
        }
        let format = try bootFormat(outputs, path: path)
        try outputs.verify(format)
        let artifacts = try BootArtifacts(outputs: outputs, format: format, board: board)
        return BootTarget(
            board: board, artifacts: artifacts, format: format, outputs: outputs, label: outputs.layout.base)
    }

    /// The format to boot: the one the named output belongs to, else the first bootable one the
    /// build has (kernel+initrd, raw, qcow2, iso).
    static func bootFormat(_ outputs: BuildOutputs, path: String) throws -> OutputFormat {
        if let role = outputs.named?.role, let format = role.format {
            guard format.isBootable else {
                throw CommandError(
                    "\(path) is the \(format) output, which cannot be booted; name the build prefix \(outputs.layout.prefix) or an image"
                )
            }
            return format
        }
        let preference: [OutputFormat] = [.kernelInitrd, .raw, .qcow2, .iso]
        guard let format = preference.first(where: outputs.formats.contains) else {
            throw CommandError(
                "nothing bootable in \(outputs.manifestPath) (it lists \(outputs.formats.map(\.rawValue).joined(separator: ", "))); build --format raw, qcow2, iso or kernel+initrd"
            )
        }
        return format
    }

    /// Raspberry Pi boards: QEMU cannot run the VideoCore firmware, so the harness plays its part
    /// and loads the image's own u-boot.bin and DTB from its boot partition (copied into `runDirectory`).
    func preparedArtifacts(runDirectory: String) throws -> BootArtifacts {
        try Self.preparedArtifacts(board: board, artifacts: artifacts, runDirectory: runDirectory)
    }

    /// The same for any board and artifacts (the matrix uses it per cell).
    static func preparedArtifacts(board: BoardProfile, artifacts: BootArtifacts, runDirectory: String) throws
        -> BootArtifacts
    {
        guard board.emulation.firmware == .ubootKernel, case .disk(let path, let format) = artifacts.kind else {
            return artifacts
        }
        let files = BootChainFiles.emulatedFirmware(board: board)
        var out = artifacts
        guard FileManager.default.fileExists(atPath: path) else {
            // Not built yet (a dry run): name where the files will be.
            out.ubootKernel = runDirectory + "/" + (files.uboot as NSString).lastPathComponent
            out.dtb = runDirectory + "/" + (files.dtb as NSString).lastPathComponent
            return out
        }
        guard format == OutputFormat.raw.rawValue else {
            throw CommandError("\(board.name) boots from an SD card image: test the raw image, not \(format)")
        }
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        let copies = try BootPartition.copy([files.uboot, files.dtb], from: path, into: runDirectory)
        out.ubootKernel = copies[0]
        out.dtb = copies[1]
        return out
    }
}

extension BootArtifacts {
    /// What the harness boots for `format` of a build, from the outputs its manifest lists.
    /// - Parameters:
    ///   - outputs: the build's outputs (or the planned ones of a dry run).
    ///   - format: a bootable format the build has.
    ///   - board: the board (its emulation DTB, its default cmdline).
    init(outputs: BuildOutputs, format: OutputFormat, board: BoardProfile) throws {
        let dtb = board.emulation.dtb.flatMap { outputs.dtb(named: $0) }
        func need(_ role: ArtifactRole) throws -> String {
            guard let path = outputs.path(for: role) else {
                throw BuildOutputs.Error.formatNotBuilt(
                    format: format, manifest: outputs.manifestPath, built: outputs.formats)
            }
            return path
        }
        let kind: Kind
        switch format {
        case .kernelInitrd:
            let cmdline = outputs.cmdline() ?? board.cmdline.joined(separator: " ")
            kind = .kernelInitrd(kernel: try need(.kernel), initrd: try need(.initrd), cmdline: cmdline, dtb: dtb)
        case .raw, .qcow2:
            kind = .disk(path: try need(format.primaryRole), format: format.rawValue)
        case .iso:
            kind = .iso(path: try need(.iso))
        case .tar:
            throw CommandError("the tar output cannot be booted; boot formats are raw, qcow2, iso and kernel+initrd")
        }
        self.init(kind: kind, ubootKernel: nil, dtb: dtb)
    }
}
