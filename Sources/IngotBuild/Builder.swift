// The build pipeline for one spec and one board: resolve → compose → (kernel, initramfs, disk)
// → outputs + manifest, all staged and renamed into the output directory at the end.

import Foundation
import IngotContract
import IngotDisk
import IngotSources
import IngotSpec
import IngotTree
import Logging

public struct BuildOptions: Sendable {
    public var outputDirectory: String
    public var formats: [OutputFormat]
    /// File times and filesystem timestamps (SOURCE_DATE_EPOCH); fixed by default so builds repeat.
    public var sourceDateEpoch: Int64
    public var storeRoot: String?
    public var lockPath: String?

    public static let defaultEpoch: Int64 = 1_704_067_200  // 2024-01-01T00:00:00Z

    public init(
        outputDirectory: String, formats: [OutputFormat] = [.raw], sourceDateEpoch: Int64? = nil, storeRoot: String? = nil,
        lockPath: String? = nil
    ) {
        self.outputDirectory = outputDirectory
        self.formats = formats
        let env = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"].flatMap { Int64($0) }
        self.sourceDateEpoch = sourceDateEpoch ?? env ?? Self.defaultEpoch
        self.storeRoot = storeRoot
        self.lockPath = lockPath
    }
}

public struct BuildResult: Sendable {
    public var board: String
    /// Output path prefix, e.g. out/hello-x86_64-efi.
    public var prefix: String
    public var manifestPath: String
    public var manifest: BuildManifest
}

public struct Builder {
    public let spec: ApplianceSpec
    public let options: BuildOptions
    let logger: Logger?

    public init(spec: ApplianceSpec, options: BuildOptions, logger: Logger? = nil) {
        self.spec = spec
        self.options = options
        self.logger = logger
    }

    /// Builds every requested format for `board`.
    public func build(board: BoardProfile) async throws -> BuildResult {
        let store = try ContentStore(root: options.storeRoot, logger: logger)
        let lock = try options.lockPath.flatMap { FileManager.default.fileExists(atPath: $0) ? try LockFile.load(path: $0) : nil }
        let resolver = SourceResolver(store: store, lock: lock, arch: board.arch, logger: logger)
        let spool = try ContentSpool()
        let epoch = options.sourceDateEpoch
        let base = "\(spec.name)-\(board.name)"
        let staging = try OutputStaging(outputDirectory: options.outputDirectory, tag: base)
        if options.formats.contains(where: { $0 == .raw || $0 == .qcow2 }) {
            // Board × disk size × host limits, before anything is resolved (harden: issue 12 #14).
            try DiskAssembler.preflight(spec: spec, board: board, imagePath: staging.path("\(base).img"))
        }

        logger?.info("\(base): resolving kernel and images for \(board.arch.rawValue)")
        let kernelPackage = spec.kernel?.package ?? board.kernelPackage
        let kernel = try await KernelBundle.load(board: board, packageName: kernelPackage, resolver: resolver, spool: spool)
        let composer = Composer(spec: spec, board: board, resolver: resolver, spool: spool, logger: logger, epoch: epoch)
        let record = Composer.Record()
        record.inputs.append(kernel.package.input)

        let (composed, _) = try await composer.composeRoot(record: record, modules: kernel.installModules(into:))

        let cmdline = (board.cmdline + [spec.kernel?.cmdline ?? ""]).filter { !$0.isEmpty }.joined(separator: " ")
        var outputs: [BuildManifest.OutputRecord] = []
        var disk: DiskAssembly?
        func recordOutput(_ name: String, role: String, sha256 known: String? = nil) throws {
            let path = staging.path(name)
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
            outputs.append(.init(name: name, role: role, size: size, sha256: try known ?? BuildManifest.sha256(ofFile: path)))
        }

        for format in options.formats {
            switch format {
            case .kernelInitrd:
                logger?.info("\(base): writing kernel, initramfs and cmdline")
                try composed.bytes(of: kernel.kernel).withUnsafeBytes { buf in
                    try Data(buf).write(to: URL(fileURLWithPath: staging.path("\(base)-kernel")))
                }
                try InitramfsWriter.write(tree: composed, to: staging.path("\(base)-initrd.img"), compression: .gzip)
                try Data((cmdline + "\n").utf8).write(to: URL(fileURLWithPath: staging.path("\(base)-cmdline")))
                try recordOutput("\(base)-kernel", role: "kernel")
                try recordOutput("\(base)-initrd.img", role: "initrd")
                try recordOutput("\(base)-cmdline", role: "cmdline")
                for (name, content) in kernel.dtbs {
                    let out = "\(base)-\(name)"
                    try Data(try composed.bytes(of: content)).write(to: URL(fileURLWithPath: staging.path(out)))
                    try recordOutput(out, role: "dtb")
                }
            case .tar:
                let name = "\(base)-rootfs.tar"
                try TarWriter.write(tree: composed, to: staging.path(name))
                try recordOutput(name, role: "rootfs-tar")
            case .raw, .qcow2:
                // One disk assembly serves raw and qcow2.
                if disk == nil {
                    let specDigest = BuildManifest.sha256(try Data(contentsOf: URL(fileURLWithPath: spec.sourcePath)))
                    let assembler = DiskAssembler(
                        spec: spec, board: board, kernel: kernel, root: composed, resolver: resolver, spool: spool,
                        epoch: epoch, seed: "\(specDigest)|\(board.name)", baseCmdline: cmdline, logger: logger)
                    disk = try await assembler.assemble(into: staging.path("\(base).img"))
                }
                if format == .raw, let disk {
                    let bmap = "\(base).img.bmap"
                    // From the blocks Ingot wrote, not the host's extents (harden: issue 12 #7).
                    _ = try BmapWriter.write(image: staging.path("\(base).img"), mapped: disk.written, to: staging.path(bmap))
                    try recordOutput("\(base).img", role: "disk-raw", sha256: disk.imageSHA256)
                    try recordOutput(bmap, role: "bmap")
                } else {
                    let r = try BuildTools.run(
                        "qemu-img", ["convert", "-f", "raw", "-O", "qcow2", staging.path("\(base).img"), staging.path("\(base).qcow2")])
                    guard r.status == 0 else {
                        throw ComposeError(location: nil, message: "qemu-img convert failed: \(r.output)")
                    }
                    try recordOutput("\(base).qcow2", role: "disk-qcow2")
                }
            case .iso:
                // Refused (RPi: SD card only) before the ISO's first byte; the staging dir is dropped.
                try ISOAssembler.checkBootable(board)
                let specDigest = BuildManifest.sha256(try Data(contentsOf: URL(fileURLWithPath: spec.sourcePath)))
                let assembler = ISOAssembler(
                    spec: spec, board: board, kernel: kernel, root: composed, resolver: resolver, spool: spool, epoch: epoch,
                    seed: "\(specDigest)|\(board.name)", baseCmdline: cmdline, logger: logger)
                let iso = try await assembler.assemble(into: staging.path("\(base).iso"))
                record.inputs += iso.inputs
                try recordOutput("\(base).iso", role: "iso")
            }
        }
        if disk != nil, !options.formats.contains(.raw) {
            // The raw image was only the source of the qcow2.
            unlink(staging.path("\(base).img"))
        }

        let specData = try Data(contentsOf: URL(fileURLWithPath: spec.sourcePath))
        var inputs: [InputRecord] = []
        for i in record.inputs where !inputs.contains(i) { inputs.append(i) }
        let manifest = BuildManifest(
            name: spec.name, board: board.name, arch: board.arch.rawValue, formats: options.formats.map(\.rawValue),
            sourceDateEpoch: epoch,
            spec: .init(path: (spec.sourcePath as NSString).lastPathComponent, sha256: BuildManifest.sha256(specData)),
            kernel: .init(
                package: kernel.package.name, version: kernel.package.version, release: kernel.release,
                modules: kernel.closure.ordered, dtbs: kernel.dtbs.map(\.name)),
            cmdline: disk?.cmdline ?? cmdline, inputs: inputs, outputs: outputs, partitions: disk?.partitions,
            diskID: disk?.layout.diskID, table: disk?.layout.table.rawValue,
            hostFiles: record.hostFiles.isEmpty ? nil : record.hostFiles)
        let manifestName = "\(base).manifest.json"
        try manifest.encoded().write(to: URL(fileURLWithPath: staging.path(manifestName)))
        try staging.commit()
        return BuildResult(
            board: board.name, prefix: options.outputDirectory + "/" + base,
            manifestPath: options.outputDirectory + "/" + manifestName, manifest: manifest)
    }
}

/// The `tar` output: the composed root as a POSIX tar (owners, modes, links, devices, xattrs).
enum TarWriter {
    static func write(tree: FileTree, to path: String) throws {
        let w = try ArchiveWriter(path: path, format: .paxRestricted, compression: .none)
        var firstPath: [ObjectIdentifier: String] = [:]
        try tree.walk { p, node in
            guard p != "/" else { return }
            let name = String(p.dropFirst())
            let id = ObjectIdentifier(node)
            if !node.isDirectory, let first = firstPath[id] {
                try w.writeHeader(path: name, mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime, hardlink: first)
                return
            }
            if !node.isDirectory { firstPath[id] = name }
            switch node.kind {
            case .file(let c):
                try w.writeHeader(path: name, mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime, size: c.size, xattrs: node.xattrs)
                try tree.readChunks(of: c) { try w.writeData($0) }
            case .symlink(let t):
                try w.writeHeader(path: name, mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime, symlink: t)
            case .characterDevice(let ma, let mi), .blockDevice(let ma, let mi):
                try w.writeHeader(path: name, mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime, rdev: (ma, mi))
            case .directory, .fifo, .socket:
                try w.writeHeader(path: name, mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime, xattrs: node.xattrs)
            }
        }
        try w.close()
    }
}
