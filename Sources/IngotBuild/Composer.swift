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
        for image in spec.initImages {
            let resolved = try await resolver.resolve(image)
            record.inputs += resolved.inputs
            try apply(resolved, to: root, image: image)
        }
        let network = try installNetworkModules(root)
        if let boot = spec.boot {
            try composeOwnInit(root, boot: boot, record: record)
            return (root, nil)
        }
        modules += network.filter { !modules.contains($0) }
        guard root.lookup("/bin/busybox")?.content != nil else {
            throw ComposeError(
                location: spec.initImages.first?.location,
                message: "the init images provide no /bin/busybox, which Ingot's generated init runs on; "
                    + "add 'deb:busybox-static' to 'init:'")
        }

        // Each distinct image is composed once; containers share its files as hard links.
        var cache: [String: FileTree] = [:]
        var steps: [InitPlan.Step] = []
        let phases: [(InitPlan.Phase, [ServiceSpec], String)] = [
            (.onboot, spec.onboot, "onboot"), (.service, spec.services, "services"), (.onshutdown, spec.onshutdown, "onshutdown"),
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
                steps.append(try step(for: svc, phase: phase, root: rootPath, config: record.configs[svc.image.raw], tree: tree))
            }
        }

        try placeFiles(into: root)
        var plan = InitPlan(
            name: spec.name, hostname: spec.hostname, modules: modules, steps: steps, dataMount: spec.data?.mount)
        if spec.readiness.needsNetwork { plan.network = InitPlan.Network() }
        try plan.install(into: root, mtime: epoch)
        root.clampTimes(to: epoch)
        return (root, plan)
    }

    /// A root with its own init (`boot.init`): the spec's files, /etc/hostname and (systemd) the
    /// ready unit; nothing of Ingot's generated init. Stage 1 loads the modules and hands over.
    func composeOwnInit(_ root: FileTree, boot: BootSpec, record: Record) throws {
        try placeFiles(into: root)
        let own: OwnInitPlan
        do {
            own = try OwnInitPlan(name: spec.name, hostname: spec.hostname, initPath: boot.initPath, tree: root)
        } catch {
            throw ComposeError(location: boot.location, message: "\(error)")
        }
        if !own.systemd, spec.readiness.pattern == nil, !spec.readiness.needsNetwork {
            throw ComposeError(
                location: boot.location,
                message: "boot.init \(boot.initPath) is not systemd, so Ingot cannot add the unit that reports readiness; "
                    + "add 'readiness.pattern' (a console line the root prints when it is up), 'readiness.http' or 'readiness.tcp'")
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
                message: "'\(svc.name)' has no command and its image '\(svc.image.raw)' defines no entrypoint; add 'command:'")
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
                    message: "'\(svc.name)' sets cwd, which needs /bin/sh or /bin/busybox in its image '\(svc.image.raw)'; drop cwd or use an image with a shell")
            }
            shell = ["/bin/busybox", "sh"]
        }
        var binds: [InitPlan.Bind] = []
        for b in svc.binds {
            let parts = b.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 2 || (parts.count == 3 && (parts[2] == "ro" || parts[2] == "rw")),
                parts[0].hasPrefix("/"), parts[1].hasPrefix("/")
            else {
                throw ComposeError(location: svc.location, message: "'\(svc.name)': bind '\(b)' must be '/source:/target' or '/source:/target:ro'")
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

    /// The spec's `files:` entries.
    func placeFiles(into root: FileTree) throws {
        for f in spec.files {
            let path = FileTree.normalize(f.path)
            do {
                if f.directory {
                    try root.addDirectory(path, permissions: f.mode ?? 0o755, uid: f.uid, gid: f.gid, mtime: epoch)
                } else if let target = f.symlink {
                    try root.addSymlink(path, target: target, uid: f.uid, gid: f.gid, mtime: epoch)
                } else if let contents = f.contents {
                    try root.addFile(path, text: contents, permissions: f.mode ?? 0o644, uid: f.uid, gid: f.gid, mtime: epoch)
                } else if let source = f.source {
                    var isDir: ObjCBool = false
                    guard FileManager.default.fileExists(atPath: source, isDirectory: &isDir) else {
                        if f.optional { continue }
                        throw ComposeError(location: f.location, message: "source '\(source)' does not exist")
                    }
                    if isDir.boolValue {
                        try root.applyDirectory(source, under: path, owner: OwnerOverride(uid: f.uid, gid: f.gid))
                    } else {
                        let size = (try FileManager.default.attributesOfItem(atPath: source)[.size] as? NSNumber)?.int64Value ?? 0
                        let content = try root.spoolHostFile(source, size: size, layer: source)
                        let perms: UInt32
                        if let m = f.mode {
                            perms = m
                        } else {
                            perms = FileManager.default.isExecutableFile(atPath: source) ? 0o755 : 0o644
                        }
                        try root.insert(
                            Node(kind: .file(content), permissions: perms, uid: f.uid, gid: f.gid, mtime: epoch), at: path)
                    }
                }
            } catch let e as ComposeError {
                throw e
            } catch {
                throw ComposeError(location: f.location, message: "file '\(f.path)': \(error)")
            }
        }
    }
}
