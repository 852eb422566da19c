// Spec → root tree: the `init:` images become the base, each onboot/service/onshutdown image is
// composed once and grafted under /containers (LinuxKit's layout), the spec's `files` are placed
// with the owners and modes the spec gives (never the host's), and the generated init is
// installed. Leaf work (layering, init rendering) lives in IngotTree; this file only maps.

import Foundation
import IngotSources
import IngotSpec
import IngotTree
import Logging

/// Errors of composition that name the spec location and what to do.
public struct ComposeError: Swift.Error, CustomStringConvertible {
    public var location: SourceLocation?
    public var message: String
    public var description: String {
        (location.map { "\($0): error: " } ?? "") + message
    }
}

struct Composer {
    let spec: ApplianceSpec
    let board: BoardProfile
    let resolver: SourceResolver
    let spool: ContentSpool
    let logger: Logger?
    let epoch: Int64

    /// Inputs seen while composing (for the manifest).
    final class Record {
        var inputs: [InputRecord] = []
        var configs: [String: ImageConfig] = [:]
        /// False when the root's own init prints no ready marker (not systemd).
        var readyMarker = true
        /// Host files `files: source` copied in, with their digests (the manifest's `hostFiles`).
        var hostFiles: [BuildManifest.HostFileRecord] = []
    }

    /// Resolves and applies one image to a fresh tree.
    func compose(image: ImageSpec, record: Record) async throws -> FileTree {
        let resolved = try await resolver.resolve(image)
        record.inputs += resolved.inputs
        if let c = resolved.config { record.configs[image.raw] = c }
        let tree = try FileTree(spool: spool)
        try apply(resolved, to: tree, image: image)
        return tree
    }

    func apply(_ resolved: ResolvedImage, to tree: FileTree, image: ImageSpec) throws {
        for layer in resolved.layers {
            do {
                switch layer.source {
                case .archive(let path, _):
                    try tree.applyLayer(archive: path, label: layer.origin)
                case .directory(let path):
                    try tree.applyDirectory(path, label: layer.origin)
                }
            } catch {
                throw ComposeError(location: image.location, message: "image '\(image.raw)': \(error)")
            }
        }
    }

    /// The whole appliance root for `spec` on `board`.
    /// - Parameters:
    ///   - modules: installs the board's kernel modules into the root and returns the insmod
    ///     paths in load order.
    ///   - networkModules: installs the NIC drivers (when the appliance needs the network) and
    ///     returns their insmod paths; the generated init loads them after `modules`.
    /// - Returns: the root, and the generated init's plan (nil when the root brings its own init).
    func composeRoot(
        record: Record, modules installModules: (FileTree) throws -> [String],
        networkModules installNetworkModules: (FileTree) throws -> [String] = { _ in [] }
    ) async throws -> (FileTree, InitPlan?) {
        let root = try FileTree(spool: spool)
        var modules = try installModules(root)
        // Which init image last removed /bin/busybox (a whiteout, or a file or link over it).
        var remover: ImageSpec?
        // Which init image made a top-level name (etc, bin...) something other than a directory.
        var culprits: [String: ImageSpec] = [:]
        for image in spec.initImages {
            let resolved = try await resolver.resolve(image)
            record.inputs += resolved.inputs
            let had = root.lookup("/bin/busybox")?.content != nil
            let before = root.root.children.mapValues { ObjectIdentifier($0) }
            try apply(resolved, to: root, image: image)
            let has = root.lookup("/bin/busybox")?.content != nil
            if had, !has { remover = image }
            if has { remover = nil }
            for (name, node) in root.root.children where before[name] != ObjectIdentifier(node) {
                if case .symlink = node.kind {
                    culprits[name] = nil
                } else if node.isDirectory {
                    culprits[name] = nil
                } else {
                    culprits[name] = image
                }
            }
        }
        let network = try installNetworkModules(root)
        if let boot = spec.boot {
            try composeOwnInit(root, boot: boot, record: record)
            return (root, nil)
        }
        modules += network.filter { !modules.contains($0) }
        guard root.lookup("/bin/busybox")?.content != nil else {
            if let remover {
                throw ComposeError(
                    location: remover.location,
                    message:
                        "image '\(remover.raw)' removes /bin/busybox (a whiteout, or a link or directory in its place), "
                        + "which Ingot's generated init runs on; drop that entry from the image, or list deb:busybox-static after it in 'init:'"
                )
            }
            if let busybox = spec.initImages.first(where: {
                if case .deb(let name, _, _) = $0.ref { name == "busybox-static" } else { false }
            }) {
                throw ComposeError(
                    location: busybox.location,
                    message:
                        "image '\(busybox.raw)' provided no regular /bin/busybox, which Ingot's generated init runs on; "
                        + "check that the package is busybox-static for the board's architecture")
            }
            throw ComposeError(
                location: spec.initImages.first?.location,
                message: "the init images provide no /bin/busybox, which Ingot's generated init runs on; "
                    + "add 'deb:busybox-static' to 'init:'")
        }

        // Each distinct image is composed once; containers share its files as hard links.
        var cache: [String: FileTree] = [:]
        var steps: [InitPlan.Step] = []
        let phases: [(InitPlan.Phase, [ServiceSpec], String)] = [
            (.onboot, spec.onboot, "onboot"), (.service, spec.services, "services"),
            (.onshutdown, spec.onshutdown, "onshutdown"),
        ]
        for (phase, entries, dir) in phases {
            for (i, svc) in entries.enumerated() {
                let tree: FileTree
                if let t = cache[svc.image.raw] {
                    tree = t
                } else {
                    tree = try await compose(image: svc.image, record: record)
                    cache[svc.image.raw] = tree
                }
                let name = phase == .service ? svc.name : String(format: "%03d-%@", i, svc.name)
                let rootPath = "/containers/\(dir)/\(name)/rootfs"
                try root.graft(tree, at: rootPath)
                steps.append(
                    try step(for: svc, phase: phase, root: rootPath, config: record.configs[svc.image.raw], tree: tree))
            }
        }

        try placeFiles(into: root, record: record, culprits: culprits)
        var plan = InitPlan(
            name: spec.name, hostname: spec.hostname, modules: modules, steps: steps, dataMount: spec.data?.mount)
        if spec.readiness.needsNetwork { plan.network = InitPlan.Network() }
        do {
            try plan.install(into: root, mtime: epoch)
        } catch let error as FileTree.Error {
            throw Self.blame(error, culprits: culprits, what: "Ingot's init files") ?? error
        }
        root.clampTimes(to: epoch)
        return (root, plan)
    }

    /// A root with its own init (`boot.init`): the spec's files, /etc/hostname and (systemd) the
    /// ready unit; nothing of Ingot's generated init. Stage 1 loads the modules and hands over.
    func composeOwnInit(_ root: FileTree, boot: BootSpec, record: Record) throws {
        try placeFiles(into: root, record: record)
        let own: OwnInitPlan
        do {
            own = try OwnInitPlan(name: spec.name, hostname: spec.hostname, initPath: boot.initPath, tree: root)
        } catch {
            throw ComposeError(location: boot.location, message: "\(error)")
        }
        if !own.systemd, spec.readiness.pattern == nil, !spec.readiness.needsNetwork {
            throw ComposeError(
                location: boot.location,
                message:
                    "boot.init \(boot.initPath) is not systemd, so Ingot cannot add the unit that reports readiness; "
                    + "add 'readiness.pattern' (a console line the root prints when it is up), 'readiness.http' or 'readiness.tcp'"
            )
        }
        try own.install(into: root, mtime: epoch)
        record.readyMarker = own.systemd
        root.clampTimes(to: epoch)
    }

    func step(for svc: ServiceSpec, phase: InitPlan.Phase, root: String, config: ImageConfig?, tree: FileTree) throws
        -> InitPlan.Step
    {
        var command = svc.command
        if command.isEmpty, let config { command = config.entrypoint + config.cmd }
        guard !command.isEmpty else {
            throw ComposeError(
                location: svc.location,
                message:
                    "'\(svc.name)' has no command and its image '\(svc.image.raw)' defines no entrypoint; add 'command:'"
            )
        }
        if command[0].hasPrefix("/"), tree.lookup(command[0]) == nil {
            throw ComposeError(
                location: svc.location,
                message: "'\(svc.name)': command '\(command[0])' does not exist in image '\(svc.image.raw)'")
        }
        let cwd = svc.cwd ?? config?.workingDir
        // Changing into cwd takes a shell inside the image: /bin/sh, or a bare busybox.
        var shell = ["/bin/sh"]
        if cwd != nil, tree.lookup("/bin/sh") == nil {
            guard tree.lookup("/bin/busybox")?.content != nil else {
                throw ComposeError(
                    location: svc.location,
                    message:
                        "'\(svc.name)' sets cwd, which needs /bin/sh or /bin/busybox in its image '\(svc.image.raw)'; drop cwd or use an image with a shell"
                )
            }
            shell = ["/bin/busybox", "sh"]
        }
        var binds: [InitPlan.Bind] = []
        for b in svc.binds {
            let parts = b.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 || (parts.count == 3 && (parts[2] == "ro" || parts[2] == "rw")),
                parts[0].hasPrefix("/"), parts[1].hasPrefix("/")
            else {
                throw ComposeError(
                    location: svc.location,
                    message: "'\(svc.name)': bind '\(b)' must be '/source:/target' or '/source:/target:ro'")
            }
            binds.append(.init(source: parts[0], target: parts[1], readOnly: parts.count == 3 && parts[2] == "ro"))
        }
        var ns: [InitPlan.Namespace] = []
        if svc.net == .new { ns.append(.net) }
        if svc.pid == .new { ns.append(.pid) }
        if svc.ipc == .new { ns.append(.ipc) }
        if svc.uts == .new { ns.append(.uts) }
        var step = InitPlan.Step(
            name: svc.name, phase: phase, root: root, command: command, env: (config?.env ?? []) + svc.env, cwd: cwd,
            newNamespaces: ns, binds: binds)
        step.shell = shell
        return step
    }

    /// Logs a host file taken from outside the spec's directory and records every host file
    /// with its digest, so a reviewer sees what went in (`/etc/shadow` through a symlink, say).
    func recordHostFile(_ source: String, target: String, content: Content, tree: FileTree, record: Record?) throws {
        let base = spec.baseDirectory.hasSuffix("/") ? spec.baseDirectory : spec.baseDirectory + "/"
        func realPath(_ path: String) -> String {
            guard let resolved = realpath(path, nil) else { return path }
            defer { free(resolved) }
            return String(cString: resolved)
        }
        let real = realPath(source)
        let realBase = realPath(spec.baseDirectory) + "/"
        let outside = !source.hasPrefix(base) || !real.hasPrefix(realBase)
        var hasher = BuildManifest.Hasher()
        try tree.readChunks(of: content) { hasher.update(Array($0)) }
        let digest = hasher.hex
        if outside {
            let via = real == source ? "" : " (→ \(real))"
            logger?.notice(
                "files: \(target) is copied from \(source)\(via), outside the spec's directory (sha256 \(digest.prefix(16))…)"
            )
        }
        record?.hostFiles.append(
            .init(
                path: source, resolvedPath: real == source ? nil : real, target: target, sha256: digest,
                size: content.size, outsideSpecDirectory: outside))
    }

    /// The spec's `files:` entries.
    /// A `notADirectory` error turned into one that names the init image (and its spec line)
    /// that made the top-level directory a file; nil when no image is to blame.
    static func blame(_ error: Swift.Error, culprits: [String: ImageSpec], what: String) -> ComposeError? {
        guard case FileTree.Error.notADirectory(let path) = error, let top = FileTree.components(path).first,
            let image = culprits[top]
        else { return nil }
        return ComposeError(
            location: image.location,
            message:
                "image '\(image.raw)' makes /\(top) a file, not a directory, so \(what) cannot be placed under it; "
                + "fix the image so /\(top) stays a directory (or drop it from 'init:')")
    }

    func placeFiles(into root: FileTree, record: Record? = nil, culprits: [String: ImageSpec] = [:]) throws {
        for f in spec.files {
            let path = FileTree.normalize(f.path)
            do {
                if f.directory {
                    try root.addDirectory(path, permissions: f.mode ?? 0o755, uid: f.uid, gid: f.gid, mtime: epoch)
                } else if let target = f.symlink {
                    try root.addSymlink(path, target: target, uid: f.uid, gid: f.gid, mtime: epoch)
                } else if let contents = f.contents {
                    try root.addFile(
                        path, text: contents, permissions: f.mode ?? 0o644, uid: f.uid, gid: f.gid, mtime: epoch)
                } else if let source = f.source {
                    var isDir: ObjCBool = false
                    guard FileManager.default.fileExists(atPath: source, isDirectory: &isDir) else {
                        if f.optional { continue }
                        throw ComposeError(location: f.location, message: "source '\(source)' does not exist")
                    }
                    if isDir.boolValue {
                        try root.applyDirectory(source, under: path, owner: OwnerOverride(uid: f.uid, gid: f.gid))
                    } else {
                        let content = try root.spoolHostFile(source, layer: source)
                        try recordHostFile(source, target: path, content: content, tree: root, record: record)
                        let perms: UInt32
                        if let m = f.mode {
                            perms = m
                        } else {
                            perms = FileManager.default.isExecutableFile(atPath: source) ? 0o755 : 0o644
                        }
                        try root.insert(
                            Node(kind: .file(content), permissions: perms, uid: f.uid, gid: f.gid, mtime: epoch),
                            at: path)
                    }
                }
            } catch let e as ComposeError {
                throw e
            } catch {
                if let blamed = Self.blame(
                    error, culprits: culprits, what: "'files:' entry '\(f.path)' (\(f.location))")
                {
                    throw blamed
                }
                throw ComposeError(location: f.location, message: "file '\(f.path)': \(error)")
            }
        }
    }
}
