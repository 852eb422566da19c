// The build pipeline for one spec and one board: resolve → compose → (kernel, initramfs, disk)
// → outputs + manifest, written through the artifact layout into a staging directory and
// committed as one set at the end (see OutputStaging). Which board × format can exist is decided
// up front from the board profile, before anything is resolved or written.

import Foundation
import IngotContract
import IngotDisk
import IngotRegistry
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
    /// Registry access for registry images (`--offline`, plain-HTTP hosts, mirrors, CA file).
    public var registry = RegistryOptions()
    /// The lock was named by the user (`--lock`): a missing file is an error, not an unpinned build.
    public var lockRequired: Bool

    public static let defaultEpoch: Int64 = 1_704_067_200  // 2024-01-01T00:00:00Z

    public init(
        outputDirectory: String, formats: [OutputFormat] = [.raw], sourceDateEpoch: Int64? = nil,
        storeRoot: String? = nil,
        lockPath: String? = nil, lockRequired: Bool = false
    ) {
        self.outputDirectory = outputDirectory
        self.formats = formats
        let env = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"].flatMap { Int64($0) }
        self.sourceDateEpoch = sourceDateEpoch ?? env ?? Self.defaultEpoch
        self.storeRoot = storeRoot
        self.lockPath = lockPath
        self.lockRequired = lockRequired
    }
}

public struct BuildResult: Sendable {
    public var board: String
    /// Output path prefix, e.g. out/hello-x86_64-efi.
    public var prefix: String
    public var manifestPath: String
    public var manifest: BuildManifest
    /// The committed outputs, read through the manifest.
    public var outputs: BuildOutputs
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

    /// Why `board` cannot have `format` at all, or nil when it can. Decided from the board
    /// profile alone, before anything is resolved or written.
    public static func unavailability(of format: OutputFormat, on board: BoardProfile) -> String? {
        switch format {
        case .iso:
            do {
                try ISOAssembler.checkBootable(board)
                return nil
            } catch let error as ISOAssembler.Error {
                if case .notBootable(_, let reason) = error { return reason }
                return "\(error)"
            } catch {
                return "\(error)"
            }
        case .raw, .qcow2, .kernelInitrd, .tar:
            return nil
        }
    }

    /// Why `board` cannot have `format` for `spec`, or nil when it can: the board's own limits,
    /// and a root with its own init, which boots only through stage 1 (no kernel+initrd).
    public static func unavailability(of format: OutputFormat, on board: BoardProfile, spec: ApplianceSpec) -> String? {
        if format == .kernelInitrd, let boot = spec.boot {
            return
                "boot.init \(boot.initPath) hands over from stage 1, which finds the root on a disk or ISO and mounts the data partition; "
                + "the kernel+initrd format has no stage 1 — build raw, qcow2 or iso"
        }
        return unavailability(of: format, on: board)
    }

    /// Checks every board × format before any work, so a build of several boards never commits
    /// one board and then refuses the next.
    /// - Throws: `Builder.Error.formatUnavailable` for the first pair that cannot exist, or
    ///   `.noFormats`.
    public static func checkFormats(_ formats: [OutputFormat], boards: [BoardProfile], spec: ApplianceSpec? = nil)
        throws
    {
        for board in boards {
            guard !formats.isEmpty else { throw Error.noFormats(board: board.name) }
            for format in formats {
                let why =
                    spec.map { unavailability(of: format, on: board, spec: $0) }
                    ?? unavailability(of: format, on: board)
                if let reason = why {
                    throw Error.formatUnavailable(format: format, board: board.name, reason: reason)
                }
            }
        }
    }

    /// The outputs a build of `formats` writes, by role, in the order written (`dtb` names the
    /// device tree file of a `.dtb` output). The builder writes exactly these; dry runs show them.
    public static func plannedOutputs(formats: [OutputFormat], dtbs: [String]) -> [(role: ArtifactRole, dtb: String?)] {
        var out: [(ArtifactRole, String?)] = []
        for format in formats {
            switch format {
            case .kernelInitrd:
                out += [(.kernel, nil), (.initrd, nil), (.cmdline, nil)]
                out += dtbs.map { (.dtb, ($0 as NSString).lastPathComponent) }
            case .tar: out.append((.rootfsTar, nil))
            case .raw: out += [(.diskRaw, nil), (.bmap, nil)]
            case .qcow2: out.append((.diskQcow2, nil))
            case .iso: out.append((.iso, nil))
            }
        }
        return out
    }

    /// The lock to pin packages with: nil when none is configured or the default one is absent.
    /// - Throws: `.lockMissing` when the user named a lock that does not exist.
    func loadLock() throws -> LockFile? {
        guard let path = options.lockPath else { return nil }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            if options.lockRequired { throw Error.lockMissing(path: path) }
            return nil
        }
        return try LockFile.load(path: path)
    }

    /// Builds every requested format for `board`.
    public func build(board: BoardProfile) async throws -> BuildResult {
        try Self.checkFormats(options.formats, boards: [board], spec: spec)
        let lock = try loadLock()
        let store = try ContentStore(root: options.storeRoot, logger: logger)
        var resolver = SourceResolver(store: store, lock: lock, arch: board.arch, logger: logger)
        resolver.registry = options.registry
        let spool = try ContentSpool()
        let epoch = options.sourceDateEpoch
        let layout = ArtifactLayout(directory: options.outputDirectory, name: spec.name, board: board.name)
        let base = layout.base
        let logger = self.logger
        let staging = try await OutputStaging.open(layout: layout) { logger?.notice("\(base): \($0)") }
        if options.formats.contains(where: { $0 == .raw || $0 == .qcow2 }) {
            // Board × disk size × host limits, before anything is resolved (issue 12 #14).
            try DiskAssembler.preflight(spec: spec, board: board, imagePath: staging.path(.diskRaw))
        }

        logger?.info("\(base): resolving kernel and images for \(board.arch.rawValue)")
        let kernelPackage = spec.kernel?.package ?? board.kernelPackage
        let kernel = try await KernelBundle.load(
            board: board, packageName: kernelPackage, resolver: resolver, spool: spool)
        let composer = Composer(
            spec: spec, board: board, resolver: resolver, spool: spool, logger: logger, epoch: epoch)
        let record = Composer.Record()
        record.inputs.append(kernel.package.input)

        // NIC drivers when the appliance needs the network: readiness over it, or a root's own init.
        let wantsNetwork = spec.readiness.needsNetwork || spec.boot != nil
        let (composed, _) = try await composer.composeRoot(
            record: record, modules: kernel.installModules(into:),
            networkModules: { wantsNetwork ? try kernel.installNetworkModules(into: $0, board: board) : [] })

        let ownInitArgs = spec.boot != nil && record.readyMarker ? OwnInitPlan.systemdCmdline : []
        let cmdline = (board.cmdline + ownInitArgs + [spec.kernel?.cmdline ?? ""]).filter { !$0.isEmpty }.joined(
            separator: " ")
        var outputs: [BuildManifest.OutputRecord] = []
        var disk: DiskAssembly?
        func write(_ bytes: [UInt8], _ role: ArtifactRole, dtb: String? = nil) throws {
            let path = staging.path(role, dtb: dtb)
            do {
                try Data(bytes).write(to: URL(fileURLWithPath: path))
            } catch {
                throw Error.writeFailed(path: path, reason: (error as NSError).localizedFailureReason ?? "\(error)")
            }
        }

        for format in options.formats {
            switch format {
            case .kernelInitrd:
                logger?.info("\(base): writing kernel, initramfs and cmdline")
                try write(try composed.bytes(of: kernel.kernel), .kernel)
                try InitramfsWriter.write(tree: composed, to: staging.path(.initrd), compression: .gzip)
                try write(Array((cmdline + "\n").utf8), .cmdline)
                outputs += [try staging.record(.kernel), try staging.record(.initrd), try staging.record(.cmdline)]
                for (name, content) in kernel.dtbs {
                    try write(try composed.bytes(of: content), .dtb, dtb: name)
                    outputs.append(try staging.record(.dtb, dtb: name))
                }
            case .tar:
                try composed.writeTar(to: staging.path(.rootfsTar))
                outputs.append(try staging.record(.rootfsTar))
            case .raw, .qcow2:
                // One disk assembly serves raw and qcow2.
                if disk == nil {
                    let specDigest = BuildManifest.sha256(try Data(contentsOf: URL(fileURLWithPath: spec.sourcePath)))
                    let assembler = DiskAssembler(
                        spec: spec, board: board, kernel: kernel, root: composed, resolver: resolver, spool: spool,
                        epoch: epoch, seed: "\(specDigest)|\(board.name)", baseCmdline: cmdline, logger: logger)
                    disk = try await assembler.assemble(into: staging.path(.diskRaw))
                    record.inputs += disk?.inputs ?? []
                }
                if format == .raw, let disk {
                    // The bmap from the blocks Ingot wrote, not the host's extents (issue 12 #7); the
                    // image's digest was taken while its partitions were hashed.
                    _ = try BmapWriter.write(
                        image: staging.path(.diskRaw), mapped: disk.written, to: staging.path(.bmap))
                    outputs += [try staging.record(.diskRaw, sha256: disk.imageSHA256), try staging.record(.bmap)]
                } else {
                    let r = try BuildTools.run(
                        "qemu-img",
                        ["convert", "-f", "raw", "-O", "qcow2", staging.path(.diskRaw), staging.path(.diskQcow2)])
                    guard r.status == 0 else { throw Error.toolFailed(tool: "qemu-img convert", output: r.output) }
                    outputs.append(try staging.record(.diskQcow2))
                }
            case .iso:
                let specDigest = BuildManifest.sha256(try Data(contentsOf: URL(fileURLWithPath: spec.sourcePath)))
                let assembler = ISOAssembler(
                    spec: spec, board: board, kernel: kernel, root: composed, resolver: resolver, spool: spool,
                    epoch: epoch,
                    seed: "\(specDigest)|\(board.name)", baseCmdline: cmdline, logger: logger)
                let iso = try await assembler.assemble(into: staging.path(.iso))
                record.inputs += iso.inputs
                outputs.append(try staging.record(.iso))
            }
        }
        if disk != nil, !options.formats.contains(.raw) {
            // The raw image was only the source of the qcow2.
            unlink(staging.path(.diskRaw))
        }

        let specData = try Data(contentsOf: URL(fileURLWithPath: spec.sourcePath))
        var inputs: [InputRecord] = []
        for i in record.inputs where !inputs.contains(i) { inputs.append(i) }
        var manifest = BuildManifest(
            name: spec.name, board: board.name, arch: board.arch.rawValue, formats: options.formats,
            sourceDateEpoch: epoch,
            spec: .init(path: (spec.sourcePath as NSString).lastPathComponent, sha256: BuildManifest.sha256(specData)),
            kernel: .init(
                package: kernel.package.name, version: kernel.package.version, release: kernel.release,
                modules: kernel.closure.ordered, dtbs: kernel.dtbs.map(\.name)),
            cmdline: disk?.cmdline ?? cmdline, inputs: inputs, outputs: outputs, partitions: disk?.partitions,
            diskID: disk?.layout.diskID, table: disk?.layout.table.rawValue,
            hostFiles: record.hostFiles.isEmpty ? nil : record.hostFiles)
        // The package inventory, also as an SPDX 2.3 SBOM next to the manifest.
        manifest.packages = resolver.ledger.packages
        manifest.readiness = ReadinessRecord(spec: spec, marker: record.readyMarker)
        let sbom = SBOM(
            name: spec.name, board: board.name, arch: board.arch.rawValue, packages: manifest.packages ?? [],
            epoch: epoch)
        try sbom.encoded().write(to: URL(fileURLWithPath: staging.path(.sbom)))
        manifest.outputs.append(try staging.record(.sbom))
        let boardDTBs = board.dtbs.map { layout.fileName(.dtb, dtb: ($0 as NSString).lastPathComponent) }
        try staging.commit(manifest, alsoStale: boardDTBs)
        return BuildResult(
            board: board.name, prefix: layout.prefix, manifestPath: layout.path(.manifest), manifest: manifest,
            outputs: try BuildOutputs(layout: layout, manifest: manifest))
    }
}
