// Disk images: the composed root as squashfs, a FAT boot partition with the board's boot chain
// (syslinux, systemd-boot or Raspberry Pi firmware + U-Boot/extlinux), an ext4 data partition,
// laid out with libfdisk from a seed — written straight into one sparse file, no mounts.

import Foundation
import IngotDisk
import IngotFilesystems
import IngotSources
import IngotSpec
import IngotSystem
import IngotTree
import Logging

struct DiskAssembly {
    var layout: DiskLayout
    var partitions: [BuildManifest.PartitionRecord]
    var cmdline: String
    /// Every block Ingot (or a tool it ran) wrote: the bmap is made from this, not the host's extents.
    var written: BlockMap
    /// SHA-256 of the whole image, taken in the same pass as the partitions'.
    var imageSHA256: String
    /// Packages stage 1 took tools from (sfdisk, resize2fs and their libraries).
    var inputs: [InputRecord] = []
}

struct DiskAssembler {
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

    static let mib: Int64 = 1 << 20

    /// Partition plans for the board's default layout (boot, root-a, optional root-b, data).
    func partitionPlans() -> (TableKind, [PartitionPlan], LayoutConstraints) {
        Self.partitionPlans(spec: spec, board: board)
    }

    static func partitionPlans(spec: ApplianceSpec, board: BoardProfile) -> (
        TableKind, [PartitionPlan], LayoutConstraints
    ) {
        let efi = board.bootloader == .systemdBoot
        let rpi = board.bootloader == .ubootExtlinux
        let table: TableKind = board.partitionTable == .gpt ? .gpt : .mbr
        let bootSize = Int64(board.layout.bootPartitionMiB) * Self.mib
        var plans: [PartitionPlan] = []
        if efi {
            plans.append(
                PartitionPlan(
                    name: "esp", role: .esp, type: "esp", size: .fixed(bootSize), bootable: false, label: "ESP"))
        } else {
            plans.append(
                PartitionPlan(
                    name: "boot", role: .boot, type: "fat32-lba", size: .fixed(bootSize), bootable: true, label: "BOOT")
            )
        }
        let rootType = table == .gpt ? (board.arch == .amd64 ? "linux-root-x86-64" : "linux-root-arm64") : "linux"
        plans.append(
            PartitionPlan(
                name: "root-a", role: .rootA, type: rootType,
                size: .content(minimum: 16 * Self.mib, headroomPercent: 10), bootable: false, label: "root-a"))
        if board.layout.rootB {
            plans.append(
                PartitionPlan(
                    name: "root-b", role: .rootB, type: rootType,
                    size: .content(minimum: 16 * Self.mib, headroomPercent: 10), bootable: false, label: "root-b"))
        }
        let dataSize = Int64(clamping: spec.data?.size ?? 64 << 20)
        plans.append(
            PartitionPlan(
                name: "data", role: .data, type: table == .gpt ? "linux-data" : "linux", size: .fixed(dataSize),
                bootable: false, label: "data"))
        let constraints = LayoutConstraints(
            requireTable: rpi || board.bootloader == .syslinux ? .mbr : nil,
            firstPartitionRole: rpi ? .boot : nil,
            allowedFirstTypes: rpi ? ["fat32-lba", "fat16"] : nil,
            forbidTypes: rpi ? ["esp"] : [],
            requireESP: efi,
            boardName: board.name)
        return (table, plans, constraints)
    }

    /// Checks everything that can be checked before a byte is written: the board's layout rules
    /// (with a provisional root size) and that stage 1 can mount what the layout holds.
    func validate() throws {
        let (table, plans, constraints) = partitionPlans()
        let bootSize = Int64(board.layout.bootPartitionMiB) * Self.mib
        _ = try LayoutPlanner.plan(
            table: table, partitions: plans,
            contentSizes: ["root-a": 16 * Self.mib, "root-b": 16 * Self.mib, "esp": bootSize, "boot": bootSize],
            firstOffset: Int64(board.layout.firstPartitionOffsetMiB) * Self.mib, seed: seed, constraints: constraints,
            roundDiskToPowerOfTwo: board.emulation.diskSizePowerOfTwo)
        let loadable = Set(kernel.closure.ordered.map { ModuleClosure.moduleName(ofPath: $0) } + kernel.closure.builtin)
        var needed = ["squashfs": "the read-only root (squashfs)", "overlay": "the tmpfs overlay over the root"]
        if spec.data != nil { needed["ext4"] = "the data partition (ext4)" }
        for (module, what) in needed.sorted(by: { $0.key < $1.key }) where !loadable.contains(module) {
            throw ComposeError(
                location: board.location,
                message:
                    "board \(board.name) cannot mount \(what): kernel module '\(module)' is not in its initramfsModules "
                    + "and not built into kernel \(kernel.release); add '\(module)' to initramfsModules in \(board.location.file)"
            )
        }
    }

    /// Checks, before anything is resolved or written, that the disk this spec asks for can be
    /// laid out on the board (MBR's 2 TiB) and written where `imagePath` is: within the shell's
    /// file size limit (`ulimit -f`) and the maximum file size of that filesystem (probed with a
    /// sparse truncate, which costs nothing). Without this a 16T data partition failed after the
    /// whole root was composed and written, with "File too large".
    static func preflight(spec: ApplianceSpec, board: BoardProfile, imagePath: String) throws {
        let (table, plans, constraints) = partitionPlans(spec: spec, board: board)
        let bootSize = Int64(board.layout.bootPartitionMiB) * Self.mib
        let layout: DiskLayout
        do {
            layout = try LayoutPlanner.plan(
                table: table, partitions: plans,
                contentSizes: ["root-a": 16 * Self.mib, "root-b": 16 * Self.mib, "esp": bootSize, "boot": bootSize],
                firstOffset: Int64(board.layout.firstPartitionOffsetMiB) * Self.mib, seed: "preflight",
                constraints: constraints, roundDiskToPowerOfTwo: board.emulation.diskSizePowerOfTwo)
        } catch {
            throw ComposeError(location: spec.data?.location ?? board.location, message: "\(error)")
        }
        try HostLimits.checkWritable(bytes: layout.diskSize, at: imagePath, what: "the \(board.name) disk image")
    }

    /// Writes the whole disk into `image` and returns its layout.
    func assemble(into path: String) async throws -> DiskAssembly {
        try validate()
        let scratch = (path as NSString).deletingLastPathComponent
        let (table, plans, constraints) = partitionPlans()
        let firstOffset = Int64(board.layout.firstPartitionOffsetMiB) * Self.mib
        let bootSize = Int64(board.layout.bootPartitionMiB) * Self.mib
        let image = try ImageFile(path: path, create: true)

        // Root first: its size decides the layout. It starts right after the fixed boot partition.
        let rootOffset = firstOffset + bootSize
        logger?.info("\(board.name): writing the squashfs root")
        let squash = try SquashfsWriter.write(
            tree: root, to: image, range: ByteRange(offset: rootOffset, size: 64 << 30),
            options: SquashfsOptions(compression: .zstd, modificationTime: UInt32(clamping: epoch)))
        var sizes = ["root-a": squash.bytesUsed, "root-b": squash.bytesUsed]
        sizes["esp"] = bootSize
        sizes["boot"] = bootSize
        let layout = try LayoutPlanner.plan(
            table: table, partitions: plans, contentSizes: sizes, firstOffset: firstOffset, seed: seed,
            constraints: constraints, roundDiskToPowerOfTwo: board.emulation.diskSizePowerOfTwo)
        guard let rootPart = layout.partition(named: "root-a"), rootPart.range.offset == rootOffset,
            let bootPart = layout.partitions.first, let dataPart = layout.partition(named: "data")
        else {
            throw ComposeError(
                location: board.location,
                message: "internal: the planned root partition does not start at \(rootOffset)")
        }
        try HostLimits.checkWritable(bytes: layout.diskSize, at: path, what: "the \(board.name) disk image")
        try image.truncate(to: layout.diskSize)
        try PartitionTableWriter.write(layout, to: image)

        // The disk identifier as stage 1 will read it from the device.
        let idBytes = table == .gpt ? try image.read(at: 568, count: 16) : try image.read(at: 440, count: 4)
        let diskArg = (table == .gpt ? "gpt:" : "mbr:") + idBytes.map { String(format: "%02x", $0) }.joined()
        var args = [baseCmdline, "ingot.disk=\(diskArg)", "ingot.root=\(rootPart.number)"]
        if let mount = spec.data?.mount { args += ["ingot.data=\(dataPart.number)", "ingot.datamount=\(mount)"] }
        // First boot grows the data partition to the end of the medium (spec: data.grow).
        var grow: (tools: Stage1Plan.GrowTools, packages: [ResolvedPackage])?
        if spec.data?.grow == true {
            args.append("ingot.grow=1")
            grow = try await Stage1Tools.load(board: board, resolver: resolver, spool: spool)
        }
        let cmdline = args.filter { !$0.isEmpty }.joined(separator: " ")
        try Self.checkCommandLine(cmdline, board: board, spec: spec)

        // Boot partition.
        logger?.info("\(board.name): writing the \(board.bootloader.rawValue) boot partition")
        let bootTree = try await bootTree(cmdline: cmdline, growTools: grow?.tools, scratch: scratch)
        let label = String((bootPart.label ?? "BOOT").uppercased().prefix(11))
        try FATWriter.write(
            tree: bootTree, to: image, range: bootPart.range,
            options: FATOptions(
                // FAT32 where it fits (the Pi firmware and most UEFIs prefer it); tiny partitions let the writer choose.
                type: bootPart.range.size >= 64 * Self.mib || board.bootloader == .ubootExtlinux ? .fat32 : nil,
                volumeLabel: label, volumeID: SeededID.mbrSignature(seed: seed, for: "fat-volume-id"),
                timestamp: epoch))
        if board.bootloader == .syslinux {
            try await installSyslinux(image: image, path: path, boot: bootPart)
        }

        // Data partition: an empty ext4, reproducible (fixed UUID, hash seed and time).
        logger?.info("\(board.name): writing the \(DiskLayout.human(dataPart.range.size)) ext4 data partition")
        try makeData(path: path, range: dataPart.range, uuid: SeededID.uuid(seed: seed, for: "data-filesystem"))
        try image.recordContent(in: dataPart.range)
        try image.sync()

        let size = layout.diskSize
        logger?.info("\(board.name): hashing the \(DiskLayout.human(size)) image and its partitions")
        let started = Date()
        let logger = self.logger
        let digests = try ImageDigest.sha256(
            path: path, ranges: [ByteRange(offset: 0, size: size)] + layout.partitions.map(\.range)
        ) { done, total in
            logger?.info(
                "hashing: \(DiskLayout.human(done)) of \(DiskLayout.human(total)) (\(done * 100 / max(1, total)) %)")
        }
        logger?.debug("hashed in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")

        var records: [BuildManifest.PartitionRecord] = []
        for (i, p) in layout.partitions.enumerated() {
            let fs: String? =
                switch p.role {
                case .esp, .boot: "vfat"
                case .rootA: "squashfs"
                case .data: "ext4"
                default: nil
                }
            records.append(
                .init(
                    number: p.number, name: p.name, role: p.role, offset: p.range.offset, size: p.range.size,
                    type: p.gptType ?? p.mbrType.map { String(format: "0x%02x", $0) } ?? p.typeName, uuid: p.uuid,
                    filesystem: fs, sha256: digests[i + 1]))
        }
        return DiskAssembly(
            layout: layout, partitions: records, cmdline: cmdline, written: image.written, imageSHA256: digests[0],
            inputs: grow?.packages.map(\.input) ?? [])
    }

    /// The assembled command line goes into syslinux.cfg, extlinux.conf or a loader entry as one
    /// line; a board profile's arguments are checked here (the spec's were checked at load).
    static func checkCommandLine(_ cmdline: String, board: BoardProfile, spec: ApplianceSpec) throws {
        if let problem = TextRules.commandLineProblem(cmdline, allowReserved: true) {
            throw ComposeError(
                location: spec.kernel?.location ?? board.location,
                message: "the kernel command line for \(board.name) '\(TextRules.display(cmdline))' \(problem); "
                    + "fix 'kernel.cmdline' in the spec or 'cmdline' in \(board.location.file)")
        }
    }

    // MARK: Boot chains

    /// Files of a board package by their path inside it, in the order asked, with the package
    /// (for the manifest's inputs).
    func packageFiles(_ name: String, _ paths: [String]) async throws -> (package: ResolvedPackage, files: [Content]) {
        let pkg = try await resolver.package(name, version: nil)
        func missing(_ what: String) -> ComposeError {
            ComposeError(
                location: board.location,
                message:
                    "board \(board.name) needs \(what) from package \(pkg.name) \(pkg.version) (\(pkg.arch)), which it does not ship"
            )
        }
        guard case .archive(let data, _) = pkg.data.source else { throw missing(paths.joined(separator: ", ")) }
        let want = Set(paths.map { FileTree.normalize($0) })
        let tree = try FileTree(spool: spool)
        try tree.applyLayer(archive: data, label: "\(pkg.name) \(pkg.version)") { want.contains($0) }
        let files = try paths.map { p in
            guard let c = tree.lookup(p)?.content else { throw missing(p) }
            return c
        }
        return (pkg, files)
    }

    /// The kernel as the bootloader loads it: arm64 Debian kernels are gzip-compressed Images,
    /// which neither systemd-boot (needs the PE/EFI stub) nor U-Boot's booti take, so inflate them.
    func bootKernel(scratch: String = NSTemporaryDirectory()) throws -> Content {
        let head = try root.bytes(of: kernel.kernel, offset: 0, count: 2)
        guard head == [0x1F, 0x8B] else { return kernel.kernel }
        // Temporary files live in the build's staging directory, which a dead build's successor removes.
        let tmp = scratch + "/.ingot-vmlinuz-\(getpid()).gz"
        defer { unlink(tmp) }
        try Data(try root.bytes(of: kernel.kernel)).write(to: URL(fileURLWithPath: tmp))
        let reader = try ArchiveReader(path: tmp, formats: .raw)
        _ = try reader.next()
        let w = spool.beginFile()
        try reader.readData { try w.write($0) }
        return w.finish()
    }

    /// The stage-1 initramfs: busybox, the board's module closure (plus `extraModules`), and
    /// the script that finds the root on the disk or, for ISOs, on the ISO 9660 volume.
    /// A root with its own init (`boot.init`) also gets the board's NIC drivers loaded here (the
    /// root's own init has no way to load Ingot's kernel modules) and is handed over to that init.
    func stage1(
        extraModules: [String] = [], source: Stage1Plan.RootSource = .disk, growTools: Stage1Plan.GrowTools? = nil,
        scratch: String = NSTemporaryDirectory()
    ) async throws -> Content {
        var extra = extraModules
        var handoff = Stage1Plan.Handoff.generated
        if let boot = spec.boot {
            extra += board.networkModules
            handoff = .own(init: boot.initPath, appliance: spec.name)
        }
        let closure =
            extra.isEmpty
            ? kernel.closure
            : try ModuleClosure.resolve(
                names: board.initramfsModules + extra, in: kernel.tree, kernelVersion: kernel.release)
        let modules = closure.ordered.map { "/lib/modules/\(kernel.release)/\($0)" }
        let busybox = try await stage1Busybox()
        var plan = Stage1Plan(modules: modules, source: source, growTools: growTools)
        plan.handoff = handoff
        let tree = try plan.tree(busybox: busybox, kernelTree: kernel.tree, spool: spool, mtime: epoch)
        let tmp = scratch + "/.ingot-stage1-\(getpid())-\(UUID().uuidString.prefix(6)).img"
        defer { unlink(tmp) }
        try InitramfsWriter.write(tree: tree, to: tmp, compression: .gzip)
        let size = (try FileManager.default.attributesOfItem(atPath: tmp)[.size] as? NSNumber)?.int64Value ?? 0
        return try root.spoolHostFile(tmp, size: size, layer: "stage-1 initramfs")
    }

    /// Stage 1's busybox: the root's static one, or (a root with its own init, whose busybox, if
    /// any, is dynamically linked) the board's busybox-static package.
    func stage1Busybox() async throws -> Content {
        if spec.boot == nil {
            guard let busybox = root.lookup("/bin/busybox")?.content else {
                throw ComposeError(
                    location: spec.initImages.first?.location,
                    message:
                        "the composed root has no /bin/busybox for stage 1; a later layer or a 'files:' entry removed or "
                        + "replaced it — keep /bin/busybox a regular file from deb:busybox-static")
            }
            return busybox
        }
        return try await packageFiles("busybox-static", ["/bin/busybox"]).files[0]
    }

    /// systemd-boot's loader.conf and the appliance's loader entry (ESP and ISO EFI image alike).
    static let systemdBootLoaderConf = "timeout 0\nconsole-mode keep\neditor no\ndefault ingot.conf\n"

    static func systemdBootEntry(name: String, cmdline: String) -> String {
        """
        title \(name) (Ingot)
        linux /ingot/vmlinuz
        initrd /ingot/initrd.img
        options \(cmdline)

        """
    }

    func bootTree(
        cmdline: String, growTools: Stage1Plan.GrowTools? = nil, scratch: String = NSTemporaryDirectory()
    ) async throws -> FileTree {
        let t = try FileTree(spool: spool)
        let kernelContent = try bootKernel(scratch: scratch)
        let initrd = try await stage1(growTools: growTools, scratch: scratch)
        func add(_ path: String, _ c: Content) throws {
            try t.insert(Node(kind: .file(c), permissions: 0o755, mtime: epoch), at: path)
        }
        func text(_ path: String, _ s: String) throws { try t.addFile(path, text: s, mtime: epoch) }
        switch board.bootloader {
        case .syslinux:
            try add("/vmlinuz", kernelContent)
            try add("/initrd.img", initrd)
            try text(
                "/syslinux.cfg",
                """
                # Generated by Ingot for \(spec.name) on \(board.name).
                SERIAL 0 115200
                DEFAULT ingot
                PROMPT 0
                TIMEOUT 0
                LABEL ingot
                  KERNEL /vmlinuz
                  INITRD /initrd.img
                  APPEND \(cmdline)

                """)
        case .systemdBoot:
            let (efiName, stub) =
                board.arch == .amd64 ? ("BOOTX64.EFI", "systemd-bootx64.efi") : ("BOOTAA64.EFI", "systemd-bootaa64.efi")
            let loader = "usr/lib/systemd/boot/efi/\(stub)"
            try add("/EFI/BOOT/\(efiName)", try await packageFiles("systemd-boot-efi", [loader]).files[0])
            try add("/ingot/vmlinuz", kernelContent)
            try add("/ingot/initrd.img", initrd)
            try text("/loader/loader.conf", Self.systemdBootLoaderConf)
            try text("/loader/entries/ingot.conf", Self.systemdBootEntry(name: spec.name, cmdline: cmdline))
        case .ubootExtlinux:
            let fw = "usr/lib/raspi-firmware/"
            let pi4 = board.dtbs.contains { $0.contains("bcm2711") }
            let fwFiles = pi4 ? ["start4.elf", "fixup4.dat"] : ["bootcode.bin", "start.elf", "fixup.dat"]
            let firmware = try await packageFiles("raspi-firmware", fwFiles.map { fw + $0 }).files
            for (f, c) in zip(fwFiles, firmware) { try add("/" + f, c) }
            let ubootPath = board.emulation.ubootPath ?? "usr/lib/u-boot/rpi_arm64/u-boot.bin"
            try add("/" + BootChainFiles.piUBoot, try await packageFiles("u-boot-rpi", [ubootPath]).files[0])
            for (name, c) in kernel.dtbs { try add("/" + name, c) }
            try add("/vmlinuz", kernelContent)
            try add("/initrd.img", initrd)
            try text(
                "/config.txt",
                """
                # Generated by Ingot for \(spec.name) on \(board.name).
                arm_64bit=1
                enable_uart=1
                kernel=u-boot.bin
                [pi4]
                arm_boost=1
                [all]

                """)
            // No FDT line: U-Boot hands the kernel the DTB the firmware gave it ($fdt_addr). On a
            // board the VideoCore firmware picks the board's own DTB from this partition (4 B, 400
            // or CM4) and applies config.txt; under QEMU the harness plays the firmware (-dtb).
            try text(
                "/extlinux/extlinux.conf",
                """
                # Generated by Ingot for \(spec.name) on \(board.name).
                DEFAULT ingot
                TIMEOUT 1
                LABEL ingot
                  KERNEL /vmlinuz
                  INITRD /initrd.img
                  APPEND \(cmdline)

                """)
        }
        t.clampTimes(to: epoch)
        return t
    }

    /// MBR boot code and `syslinux --install` on the boot partition (the installer works on an
    /// image file with an offset; no loop device).
    func installSyslinux(image: ImageFile, path: String, boot: ResolvedPartition) async throws {
        let mbr = "usr/lib/SYSLINUX/mbr.bin"
        let code = try root.bytes(of: try await packageFiles("syslinux", [mbr]).files[0])
        try PartitionTableWriter.installMBRBootCode(Array(code.prefix(440)), image: image)
        try image.sync()
        // syslinux copies its files with mtools, which stamps them with SOURCE_DATE_EPOCH.
        let r = try BuildTools.run(
            "syslinux", ["--offset", "\(boot.range.offset)", "--install", path],
            environment: ["SOURCE_DATE_EPOCH": "\(epoch)", "TZ": "UTC"])
        guard r.status == 0 else {
            throw ComposeError(location: board.location, message: "syslinux --install failed on \(path): \(r.output)")
        }
        try FATWriter.syncBackupBootSector(image: image, range: boot.range)
        // syslinux wrote through its own descriptor (ldlinux.sys, the boot sector, FAT entries).
        try image.recordContent(in: boot.range)
    }

    func makeData(path: String, range: ByteRange, uuid: String) throws {
        let blocks = range.size / 4096
        let r = try BuildTools.run(
            "mke2fs",
            [
                "-q", "-F", "-t", "ext4", "-b", "4096", "-L", "data", "-U", uuid.lowercased(),
                // Lazy table and journal init: mke2fs writes only metadata (the kernel zeroes inode
                // tables itself on first mount), so a 20G partition costs milliseconds, the bytes do not
                // depend on the host kernel's lazy-init support, and every block it writes is non-zero
                // (so `recordContent` finds them all for the bmap).
                "-E",
                "offset=\(range.offset),nodiscard,lazy_itable_init=1,lazy_journal_init=1,hash_seed=\(uuid.lowercased()),root_owner=0:0",
                path, "\(blocks)",
            ],
            environment: ["E2FSPROGS_FAKE_TIME": "\(epoch)"])
        guard r.status == 0 else {
            throw ComposeError(location: nil, message: "mke2fs failed for the data partition of \(path): \(r.output)")
        }
    }
}
