// The `iso` output: a hybrid ISO 9660 image (CD, or written to a USB stick/disk) made with
// xorriso as a plain user. The ISO tree holds the root squashfs as a file; stage 1 finds the
// volume by its ISO volume id, mounts it and loop-mounts the squashfs. The board's boot chain:
//   x86_64-bios  ISOLINUX (El Torito BIOS, no emulation) + the isohybrid MBR (isohdpfx.bin)
//   *-efi        a FAT image (/ingot/efi.img) with systemd-boot, loader entry, kernel and stage-1
//                initrd: the El Torito UEFI boot image, and the GPT's EFI system partition for sticks
// Raspberry Pi boards boot from SD cards only and are refused before anything is written.
// Reproducible: file dates, volume dates and the MBR id come from SOURCE_DATE_EPOCH.

import Foundation
import IngotDisk
import IngotFilesystems
import IngotSources
import IngotSpec
import IngotTree
import Logging

/// What the ISO assembler produced, for the manifest and the build report.
struct ISOAssembly {
    /// The ISO 9660 volume id stage 1 looks for (`ingot.iso=`).
    var volumeID: String
    /// The kernel command line the boot entry carries.
    var cmdline: String
    /// Board packages the boot chain was taken from.
    var inputs: [InputRecord]
    /// El Torito platforms in catalog order ("BIOS", "UEFI").
    var platforms: [String]
}

struct ISOAssembler {
    enum Error: Swift.Error, CustomStringConvertible {
        case notBootable(board: String, reason: String)
        case hostFile(path: String, detail: String)
        case xorriso(output: String, status: Int32, log: String)

        var description: String {
            switch self {
            case .notBootable(let board, let reason):
                return "board \(board): \(reason)"
            case .hostFile(let path, let detail):
                return
                    "\(path): \(detail) (while assembling the ISO); check free space and permissions of the output directory"
            case .xorriso(let output, let status, let log):
                return "xorriso failed (exit \(status)) writing \(output):\n\(log)\n"
                    + "check that xorriso ≥ 1.5 is installed (ci/bootstrap) and the output directory has room"
            }
        }
    }

    /// Path of the root squashfs inside the ISO 9660 tree.
    static let rootFile = "/ingot/root.squashfs"

    let spec: ApplianceSpec
    let board: BoardProfile
    let kernel: KernelBundle
    let root: FileTree
    let resolver: SourceResolver
    let spool: ContentSpool
    let epoch: Int64
    let seed: String
    let baseCmdline: String
    let logger: Logger?

    /// The disk assembler over the same inputs, for the pieces both share (the bootloader's
    /// kernel, stage 1, board package files, systemd-boot's loader entry).
    var disk: DiskAssembler {
        DiskAssembler(
            spec: spec, board: board, kernel: kernel, root: root, resolver: resolver, spool: spool, epoch: epoch,
            seed: seed,
            baseCmdline: baseCmdline, logger: logger)
    }

    /// Refuses boards an ISO cannot boot on; call before anything is written.
    static func checkBootable(_ board: BoardProfile) throws {
        if board.bootloader == .ubootExtlinux || board.emulation.diskInterface == .sd {
            throw Error.notBootable(
                board: board.name,
                reason:
                    "\(board.name) boots from an SD card; iso is not a format for it — build the raw image (--format raw) and flash it"
            )
        }
    }

    /// Stage-1 modules an ISO boot needs beyond the board's disk list: the CD drivers (AHCI/ATAPI
    /// on PCs, virtio-scsi on virtual machines), USB sticks and disks for a hybrid image written
    /// to one, ISO 9660 and loop devices for the squashfs file.
    static func extraModules(for arch: Architecture) -> [String] {
        let controllers = arch == .amd64 ? ["ahci", "virtio_scsi"] : ["virtio_scsi"]
        return controllers + ["sr_mod", "sd_mod", "usb_storage", "uas", "xhci_pci", "ehci_pci", "isofs", "loop"]
    }

    /// The volume id: the spec name in ISO d-characters and 8 hex digits of the build seed, so
    /// two different appliances plugged in at once are told apart. At most 32 characters.
    static func volumeID(name: String, seed: String) -> String {
        let upper = name.uppercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) ? $0 : "_" }
        let digest = BuildManifest.sha256(Data(("iso-volume-id|" + seed).utf8)).prefix(8).uppercased()
        return String(String(upper).prefix(23)) + "_" + digest
    }

    /// Writes the ISO to `path` (a staging path) and returns what went into it.
    func assemble(into path: String) async throws -> ISOAssembly {
        try Self.checkBootable(board)
        let volumeID = Self.volumeID(name: spec.name, seed: seed)
        let cmdline = [baseCmdline, "ingot.iso=\(volumeID)"].filter { !$0.isEmpty }.joined(separator: " ")
        try DiskAssembler.checkCommandLine(cmdline, board: board, spec: spec)
        let work = (path as NSString).deletingLastPathComponent + "/.iso-work-\(getpid())"
        let tree = work + "/tree"
        let fm = FileManager.default
        try? fm.removeItem(atPath: work)
        defer { try? fm.removeItem(atPath: work) }
        do {
            try fm.createDirectory(atPath: tree + "/ingot", withIntermediateDirectories: true)
        } catch {
            throw Error.hostFile(path: work, detail: "cannot create the work directory: \(error.localizedDescription)")
        }

        logger?.info("\(board.name): writing the squashfs root for the ISO")
        let squashPath = tree + Self.rootFile
        let squashImage = try ImageFile(path: squashPath, create: true)
        let squash = try SquashfsWriter.write(
            tree: root, to: squashImage, range: ByteRange(offset: 0, size: 64 << 30),
            options: SquashfsOptions(compression: .zstd, modificationTime: UInt32(clamping: epoch)))
        try squashImage.truncate(to: squash.bytesUsed)
        try squashImage.sync()

        let kernelContent = try disk.bootKernel(scratch: work)
        let initrd = try await disk.stage1(
            extraModules: Self.extraModules(for: board.arch), source: .iso(rootFile: Self.rootFile), scratch: work)

        var inputs: [InputRecord] = []
        var args = [
            "-as", "mkisofs", "-o", path, "-V", volumeID, "-A", "INGOT", "-p", "INGOT", "-publisher", "INGOT",
            "-r", "-iso-level", "3", "--modification-date=\(Self.isoTimestamp(epoch))",
        ]
        let platforms: [String]
        switch board.bootloader {
        case .syslinux:
            logger?.info("\(board.name): ISOLINUX boot chain (El Torito BIOS, isohybrid MBR)")
            let (isolinux, isoFiles) = try await disk.packageFiles(
                "isolinux", ["usr/lib/ISOLINUX/isolinux.bin", "usr/lib/ISOLINUX/isohdpfx.bin"])
            let ldlinuxPath = "usr/lib/syslinux/modules/bios/ldlinux.c32"
            let (common, commonFiles) = try await disk.packageFiles("syslinux-common", [ldlinuxPath])
            inputs += [isolinux.input, common.input]
            try fm.createDirectory(atPath: tree + "/isolinux", withIntermediateDirectories: true)
            try writeHost(isoFiles[0], to: tree + "/isolinux/isolinux.bin")
            try writeHost(commonFiles[0], to: tree + "/isolinux/ldlinux.c32")
            try writeHost(isoFiles[1], to: work + "/isohdpfx.bin")
            try writeHost(kernelContent, to: tree + "/ingot/vmlinuz")
            try writeHost(initrd, to: tree + "/ingot/initrd.img")
            try writeText(
                """
                # Generated by Ingot for \(spec.name) on \(board.name).
                SERIAL 0 115200
                DEFAULT ingot
                PROMPT 0
                TIMEOUT 0
                LABEL ingot
                  KERNEL /ingot/vmlinuz
                  INITRD /ingot/initrd.img
                  APPEND \(cmdline)

                """, to: tree + "/isolinux/isolinux.cfg")
            args += [
                "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot", "-boot-load-size", "4",
                "-boot-info-table", "-isohybrid-mbr", work + "/isohdpfx.bin",
            ]
            platforms = ["BIOS"]
        case .systemdBoot:
            logger?.info("\(board.name): systemd-boot EFI image (El Torito UEFI, GPT ESP)")
            let (efiName, loader) =
                board.arch == .amd64 ? ("BOOTX64.EFI", "systemd-bootx64.efi") : ("BOOTAA64.EFI", "systemd-bootaa64.efi")
            let (sdboot, files) = try await disk.packageFiles(
                "systemd-boot-efi", ["usr/lib/systemd/boot/efi/\(loader)"])
            inputs.append(sdboot.input)
            // Inside the ISO 9660 volume, not appended: an El Torito entry over 32 MiB (arm64's
            // inflated kernel) gets load size 0, which EDK2 reads as "up to the end of the ISO
            // volume" — an appended partition lies beyond it and would be empty.
            let efiPath = tree + "/ingot/efi.img"
            try writeEFIImage(
                to: efiPath,
                files: [
                    "/EFI/BOOT/\(efiName)": files[0], "/ingot/vmlinuz": kernelContent, "/ingot/initrd.img": initrd,
                ],
                cmdline: cmdline)
            args += [
                "-c", "ingot/boot.cat", "-e", "ingot/efi.img", "-no-emul-boot", "-efi-boot-part", "--efi-boot-image",
            ]
            platforms = ["UEFI"]
        case .ubootExtlinux:
            throw Error.notBootable(
                board: board.name, reason: "\(board.name) boots from an SD card; iso is not a format for it")
        }
        try clampTimes(under: tree)
        args.append(tree)

        logger?.info("\(board.name): xorriso → \((path as NSString).lastPathComponent)")
        let r = try BuildTools.run("xorriso", args, environment: ["SOURCE_DATE_EPOCH": String(epoch), "TZ": "UTC"])
        guard r.status == 0, fm.fileExists(atPath: path) else {
            throw Error.xorriso(
                output: path, status: r.status, log: r.output.split(separator: "\n").suffix(15).joined(separator: "\n"))
        }
        return ISOAssembly(volumeID: volumeID, cmdline: cmdline, inputs: inputs, platforms: platforms)
    }

    // MARK: Pieces

    /// The El Torito UEFI image: a FAT holding systemd-boot, its loader entry, kernel and initrd,
    /// sized to its content (FAT12/16 by size, as UEFI reads any FAT).
    func writeEFIImage(to path: String, files: [String: Content], cmdline: String) throws {
        let t = try FileTree(spool: spool)
        for (p, c) in files.sorted(by: { $0.key < $1.key }) {
            try t.insert(Node(kind: .file(c), permissions: 0o755, mtime: epoch), at: p)
        }
        try t.addFile("/loader/loader.conf", text: DiskAssembler.systemdBootLoaderConf, mtime: epoch)
        try t.addFile(
            "/loader/entries/ingot.conf", text: DiskAssembler.systemdBootEntry(name: spec.name, cmdline: cmdline),
            mtime: epoch)
        t.clampTimes(to: epoch)
        let mib: Int64 = 1 << 20
        let content = files.values.reduce(Int64(0)) { $0 + ($1.size + 4095) / 4096 * 4096 }
        let size = ((content + content / 16 + 2 * mib) + mib - 1) / mib * mib
        let image = try ImageFile(path: path, create: true, size: size)
        _ = try FATWriter.write(
            tree: t, to: image, range: ByteRange(offset: 0, size: size),
            options: FATOptions(
                volumeLabel: "INGOT-EFI", volumeID: SeededID.mbrSignature(seed: seed, for: "iso-efi-volume-id"),
                timestamp: epoch))
        try image.sync()
    }

    // MARK: Host files for xorriso

    func writeHost(_ content: Content, to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil),
            let h = FileHandle(forWritingAtPath: path)
        else { throw Error.hostFile(path: path, detail: "cannot create") }
        defer { try? h.close() }
        try root.readChunks(of: content) { try h.write(contentsOf: Data($0)) }
    }

    func writeText(_ text: String, to path: String) throws {
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        } catch {
            throw Error.hostFile(path: path, detail: "cannot write: \(error.localizedDescription)")
        }
    }

    /// Every file and directory of the staged tree gets mtime = atime = epoch (xorriso then
    /// copies mtime into all ISO and Rock Ridge dates under SOURCE_DATE_EPOCH).
    func clampTimes(under dir: String) throws {
        var paths = [dir]
        if let e = FileManager.default.enumerator(atPath: dir) {
            while let rel = e.nextObject() as? String { paths.append(dir + "/" + rel) }
        }
        // Children first, so setting a directory's time is not undone by later work in it.
        for p in paths.sorted().reversed() {
            var times = [timespec(tv_sec: Int(epoch), tv_nsec: 0), timespec(tv_sec: Int(epoch), tv_nsec: 0)]
            guard utimensat(AT_FDCWD, p, &times, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw Error.hostFile(path: p, detail: "cannot set its time: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// YYYYMMDDhhmmss00 (UTC), the form of `--modification-date=`.
    static func isoTimestamp(_ epoch: Int64) -> String {
        var t = time_t(epoch)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(
            format: "%04d%02d%02d%02d%02d%02d00", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
            Int(tm.tm_hour),
            Int(tm.tm_min), Int(tm.tm_sec))
    }
}
