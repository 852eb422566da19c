// The board's kernel taken out of its Debian package: the kernel image, the module closure the
// board needs (from modules.dep), and the device trees. The package is unpacked once into an
// uncompressed tar in the store, whose bytes the tree references in place; the modules.dep that
// Debian does not ship (depmod runs at install) is synthesised once per package and cached, so a
// warm build reads only tar headers.

import Foundation
import IngotSources
import IngotSpec
import IngotTree

struct KernelBundle {
    /// Kernel release, e.g. "6.1.0-56-amd64".
    var release: String
    var package: ResolvedPackage
    /// The tree holding boot/vmlinuz-*, lib/modules/RELEASE/{modules.*, closure .ko}, DTBs.
    var tree: FileTree
    var kernel: Content
    var closure: ModuleClosure
    /// DTB name (basename) → content.
    var dtbs: [(name: String, content: Content)]

    static func load(
        board: BoardProfile, packageName: String, resolver: SourceResolver, spool: ContentSpool
    ) async throws -> KernelBundle {
        let pkg = try await resolver.package(packageName, version: nil)
        guard case .archive(let dataPath, _) = pkg.data.source else {
            throw ComposeError(location: nil, message: "kernel package \(pkg.name) has no data archive")
        }
        let wantedDTBs = Set(board.dtbs)
        let tree = try FileTree(spool: spool)
        let index = resolver.store.cachedRecord(ModuleIndex.self, kind: "kernel-modules", key: pkg.debDigest.hex)
        // Parent directories are created on demand, so only the wanted files need to pass.
        try tree.applyLayer(archive: dataPath, label: "\(pkg.name) \(pkg.version)") { path in
            if path.hasPrefix("/boot/vmlinuz-") { return true }
            if path.hasPrefix("/lib/modules/") {
                return path.hasSuffix(".ko") || path.hasSuffix(".ko.xz") || path.hasSuffix(".ko.zst")
                    || path.contains("/modules.")
            }
            if path.hasPrefix("/usr/lib/linux-image-") {
                let rel = path.split(separator: "/").dropFirst(3).joined(separator: "/")
                return wantedDTBs.contains(rel)
            }
            return false
        }
        guard let boot = tree.lookup("/boot"),
            let (vmlinuzName, vmlinuz) = boot.sortedChildren.first(where: { $0.name.hasPrefix("vmlinuz-") }),
            let kernel = vmlinuz.content
        else {
            throw ComposeError(
                location: nil,
                message: "package \(pkg.name) \(pkg.version) (\(pkg.arch)) holds no boot/vmlinuz-*; "
                    + "the board's kernelPackage must be a Debian linux-image package")
        }
        let release = String(vmlinuzName.dropFirst("vmlinuz-".count))
        let depPath = "/lib/modules/\(release)/modules.dep"
        if tree.lookup(depPath) == nil {
            let dep: String
            if let index, index.release == release, index.format == ModuleIndex.currentFormat {
                dep = index.modulesDep
            } else {
                dep = try ModuleIndex.synthesize(tree: tree, base: "/lib/modules/\(release)")
                try? resolver.store.cacheRecord(
                    ModuleIndex(format: ModuleIndex.currentFormat, release: release, modulesDep: dep),
                    kind: "kernel-modules", key: pkg.debDigest.hex)
            }
            try tree.addFile(depPath, text: dep)
        }
        let closure = try ModuleClosure.resolve(names: board.initramfsModules, in: tree, kernelVersion: release)
        var dtbs: [(String, Content)] = []
        for dtb in board.dtbs {
            guard let c = tree.lookup("/usr/lib/linux-image-\(release)/\(dtb)")?.content else {
                throw ComposeError(
                    location: board.location,
                    message: "board \(board.name) needs the device tree '\(dtb)', which kernel package \(pkg.name) "
                        + "\(pkg.version) does not ship (looked in usr/lib/linux-image-\(release)/); fix 'dtbs:'")
            }
            dtbs.append(((dtb as NSString).lastPathComponent, c))
        }
        return KernelBundle(release: release, package: pkg, tree: tree, kernel: kernel, closure: closure, dtbs: dtbs)
    }

    /// Copies the module closure into `root` under /lib/modules/RELEASE and returns the insmod
    /// paths in load order.
    func installModules(into root: FileTree) throws -> [String] {
        let base = "/lib/modules/\(release)"
        var paths: [String] = []
        for rel in closure.ordered {
            guard let node = tree.lookup(base + "/" + rel) else { continue }
            try root.insert(
                Node(kind: node.kind, permissions: node.permissions, uid: 0, gid: 0, mtime: node.mtime),
                at: base + "/" + rel)
            paths.append(base + "/" + rel)
        }
        return paths
    }
}

/// modules.dep of a kernel package, synthesised from each module's `.modinfo` once per package.
struct ModuleIndex: Codable {
    static let currentFormat = 1
    var format: Int
    var release: String
    var modulesDep: String

    /// modules.dep text for the modules under `base` (paths relative to it), from `depends=`
    /// (ModuleClosure's reader, with the file's final newline).
    static func synthesize(tree: FileTree, base: String) throws -> String {
        try ModuleClosure.synthesizeModulesDep(tree: tree, base: base) + "\n"
    }
}
