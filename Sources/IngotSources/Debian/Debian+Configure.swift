// What `dpkg --configure` would have left behind, made without running target code: one extra
// layer on top of a closure's packages with /etc/passwd and /etc/group (base-passwd's defaults
// plus the users and groups the scripts create), update-alternatives links, the CA bundle,
// diverted files moved aside, and (where libraries live outside the linker's default paths)
// /etc/ld.so.cache. Checked first: no two packages may ship one file unless one Replaces the
// other or diverts it, as dpkg insists.
//
// The layer and the warnings are cached by the set of .deb digests, so a warm build only looks
// the result up.

import Foundation
import IngotSpec
import IngotTree
import Logging

#if canImport(Glibc)
    import Glibc
#endif

struct DebianConfigurator {
    let store: ContentStore
    let arch: Architecture
    let logger: Logger?

    /// Bumped whenever what the layer holds changes.
    static let format = 2

    /// Reads package `i`'s files accepted by `include` into a tree (cached under `purpose`).
    typealias Reader = (_ i: Int, _ purpose: String, _ include: @escaping (String) -> Bool) throws -> FileTree

    struct Result: Codable {
        var layer: Digest?
        var warnings: [String]
    }

    /// One package with what configuring needs of it.
    struct Package {
        var name: String
        var control: [String: String]
        var entries: [Debian.Entry]
        var tar: String
        var preinst: ScriptAnalysis
        var postinst: ScriptAnalysis
        /// The script actions whose file tests hold for the closure (set once its files are known).
        var actions: [MaintainerAction] = []

        /// Keeps the actions whose guards are not false given what the closure ships.
        mutating func decide(_ kind: @escaping (String) -> Debian.Entry.Kind?) {
            actions = []
            for a in [preinst, postinst] {
                for (i, action) in a.actions.enumerated() where (a.guards[i]?.evaluate(kind) ?? true) {
                    actions.append(action)
                }
            }
        }
    }

    /// The configuration layer of a closure (cached by its packages).
    func configure(request: DebianRequest, packages: [ResolvedPackage], unpacked: [Debian.Unpacked]) throws
        -> (layer: Layer?, warnings: [String])
    {
        let key = Digest.of(
            Array(
                ("configure-v\(Self.format)|\(arch.debian)|"
                    + packages.map(\.debDigest.hex).sorted().joined(separator: ",")).utf8)
        ).hex
        if let r = store.record(Result.self, kind: "deb-configured", key: key), r.layer.map(store.contains) ?? true {
            return (try r.layer.map(layer), r.warnings)
        }
        var pkgs: [Package] = []
        for (p, u) in zip(packages, unpacked) {
            guard case .archive(let tar, _) = p.data.source else { continue }
            pkgs.append(
                Package(
                    name: p.name, control: u.control, entries: try Debian.entries(of: u, store: store), tar: tar,
                    preinst: MaintainerScripts.analyse(u.scripts["preinst"] ?? "", script: "preinst"),
                    postinst: MaintainerScripts.analyse(u.scripts["postinst"] ?? "", script: "postinst")))
        }
        let result = try build(request: request, pkgs)
        _ = try store.putRecord(result, kind: "deb-configured", key: key)
        return (try result.layer.map(layer), result.warnings)
    }

    private func layer(_ digest: Digest) throws -> Layer {
        Layer(
            source: .archive(path: try store.stampedPath(for: digest), digest: digest),
            origin: "maintainer-script stand-in")
    }

    /// Computes the layer: conflicts, accounts, alternatives, diversions, CA bundle, linker cache.
    func build(request: DebianRequest, _ pkgs: [Package]) throws -> Result {
        var warnings: [String] = []
        let spool = try ContentSpool()
        let out = try FileTree(spool: spool)

        var providers: [String: [Int]] = [:]
        var present: [String: Debian.Entry.Kind] = [:]
        for (i, p) in pkgs.enumerated() {
            for e in p.entries {
                if e.kind != .directory {
                    providers[e.path, default: []].append(i)
                } else if present[e.path] == nil {
                    present[e.path] = .directory
                }
                if e.kind != .directory { present[e.path] = e.kind }
            }
        }
        var pkgs = pkgs
        for i in pkgs.indices { pkgs[i].decide { present[$0] } }
        // Which package's file wins where two ship one path.
        var diversions: [String: (to: String, owner: String?)] = [:]
        for p in pkgs {
            for case .divert(let path, let to, let owner) in p.actions { diversions[path] = (to, owner ?? p.name) }
        }
        var overrides: [(path: String, from: Int, at: String)] = []
        for (path, who) in providers.sorted(by: { $0.key < $1.key }) where who.count > 1 {
            if let d = diversions[path] {
                for i in who where pkgs[i].name != d.owner { overrides.append((path, i, d.to)) }
                if let o = who.first(where: { pkgs[$0].name == d.owner }) { overrides.append((path, o, path)) }
                continue
            }
            let winners = who.filter { i in
                let replaces = Set(Debian.relationNames(pkgs[i].control["Replaces"] ?? ""))
                return who.allSatisfy { $0 == i || replaces.contains(pkgs[$0].name) }
            }
            guard let w = winners.first else {
                throw ClosureError.fileConflict(
                    path: path, packages: who.map { pkgs[$0].name }, request: request.description)
            }
            overrides.append((path, w, path))
        }
        // Diversions of files only one package ships (moved aside, nothing takes their place).
        for (path, d) in diversions.sorted(by: { $0.key < $1.key }) {
            guard let who = providers[path], who.count == 1, pkgs[who[0]].name != d.owner else { continue }
            overrides.append((path, who[0], d.to))
            warnings.append(
                "\(d.owner ?? "?") diverts \(path) to \(d.to) without shipping its own; \(path) is left out")
        }

        // Per-package trees of just the files the layer copies or reads.
        var wanted: [Int: Set<String>] = [:]
        for o in overrides { wanted[o.from, default: []].insert(o.path) }
        // Trees are cached per package and purpose: each holds only the files its purpose reads.
        var trees: [String: FileTree] = [:]
        let tree: Reader = { i, purpose, include in
            if let t = trees["\(i)|\(purpose)"] { return t }
            let t = try FileTree(spool: spool)
            try t.applyLayer(archive: pkgs[i].tar, label: pkgs[i].name, include: include)
            trees["\(i)|\(purpose)"] = t
            return t
        }
        for o in overrides {
            let paths = wanted[o.from] ?? []
            guard let node = try tree(o.from, "overrides", { paths.contains($0) }).lookup(o.path) else { continue }
            let copy = Node(
                kind: node.kind, permissions: node.permissions, uid: node.uid, gid: node.gid, mtime: node.mtime,
                xattrs: node.xattrs)
            try out.insert(copy, at: o.at)
            if o.at != o.path, diversions[o.path]?.owner != nil,
                providers[o.path]?.contains(where: { pkgs[$0].name == diversions[o.path]?.owner }) == false
            {
                out.insert(whiteoutFor: o.path)
            }
        }

        let (accounts, accountWarnings) = try self.accounts(pkgs, into: out, tree: tree)
        warnings += accountWarnings
        var explicitDirs = Set<String>()
        warnings += try files(pkgs, accounts: accounts, present: present, into: out, dirs: &explicitDirs, tree: tree)
        warnings += try alternatives(pkgs, present: present, into: out)
        warnings += try caCertificates(pkgs, present: present, into: out, tree: tree)
        warnings += try linkerCache(pkgs, present: present, into: out, tree: tree)

        for p in pkgs {
            for (script, a) in [("preinst", p.preinst), ("postinst", p.postinst)] where !a.unreproduced.isEmpty {
                warnings.append("\(p.name) \(script): not reproduced: \(a.unreproduced.joined(separator: ", "))")
            }
        }
        let digest = try writeLayer(out, directories: explicitDirs)
        return Result(layer: digest, warnings: warnings)
    }

    // MARK: - Accounts

    private func accounts(_ pkgs: [Package], into out: FileTree, tree: Reader) throws -> (Accounts, [String]) {
        var warnings: [String] = []
        var accounts = Accounts()
        if let i = pkgs.firstIndex(where: { $0.entries.contains { $0.path == "/usr/share/base-passwd/passwd.master" } })
        {
            let t = try tree(i, "base-passwd") { $0.hasPrefix("/usr/share/base-passwd/") }
            if let p = t.lookup("/usr/share/base-passwd/passwd.master")?.content,
                let g = t.lookup("/usr/share/base-passwd/group.master")?.content
            {
                accounts = Accounts(
                    passwd: String(decoding: try t.bytes(of: p), as: UTF8.self),
                    group: String(decoding: try t.bytes(of: g), as: UTF8.self))
            }
        }
        // In script order, as dpkg would run them; an account that names a group another
        // package creates later is retried once everything else is in.
        var retry: [(String, MaintainerAction)] = []
        func perform(_ pkg: String, _ a: MaintainerAction, last: Bool) {
            do {
                switch a {
                case .addGroup(let name, let gid, let useradd):
                    try accounts.addGroup(name, gid: gid, allocation: useradd ? .useradd : .adduser)
                case .addUser(let name, let uid, let group, let own, let home, let shell, let gecos, let useradd):
                    try accounts.addUser(
                        name, uid: uid, group: group, ownGroup: own, home: home ?? "/nonexistent",
                        shell: shell ?? "/usr/sbin/nologin", gecos: gecos ?? "",
                        allocation: useradd ? .useradd : .adduser)
                case .addMember(let user, let group):
                    try accounts.addMember(user, to: group)
                default:
                    return
                }
            } catch let e as Accounts.Error {
                if case .unknownGroup = e, !last { retry.append((pkg, a)) } else { warnings.append("\(pkg): \(e)") }
            } catch {
                warnings.append("\(pkg): \(error)")
            }
        }
        for p in pkgs { for a in p.actions { perform(p.name, a, last: false) } }
        for (pkg, a) in retry { perform(pkg, a, last: true) }
        try out.addFile("/etc/passwd", text: accounts.passwdText, permissions: 0o644)
        try out.addFile("/etc/group", text: accounts.groupText, permissions: 0o644)
        return (accounts, warnings)
    }

    // MARK: - Files the scripts make

    /// `ln -s`, `mkdir`, `install -d`, `cp`, `touch`, `chmod`, `chown` of the scripts, in order.
    private func files(
        _ pkgs: [Package], accounts: Accounts, present: [String: Debian.Entry.Kind], into out: FileTree,
        dirs: inout Set<String>, tree: Reader
    ) throws -> [String] {
        var warnings: [String] = []
        /// The node at `path`: made by a script already, else copied from the last package shipping it.
        func node(_ path: String) throws -> Node? {
            if let n = out.lookup(path) { return n }
            guard let i = pkgs.indices.last(where: { pkgs[$0].entries.contains { $0.path == path } }),
                let n = try tree(i, "file " + path, { $0 == path }).lookup(path)
            else { return nil }
            let copy = Node(
                kind: n.isDirectory ? .directory : n.kind, permissions: n.permissions, uid: n.uid, gid: n.gid,
                mtime: n.mtime, xattrs: n.xattrs)
            try out.insert(copy, at: path)
            if copy.isDirectory { dirs.insert(path) }
            return copy
        }
        func isDirectory(_ path: String) -> Bool {
            out.lookup(path)?.isDirectory ?? (present[path] == .directory)
        }
        for p in pkgs {
            for a in p.actions {
                switch a {
                case .symlink(let target, var link):
                    if isDirectory(link) { link += "/" + (target as NSString).lastPathComponent }
                    try out.addSymlink(link, target: target)
                case .directory(let path, let mode, let owner, let group):
                    let d = try node(path) ?? out.addDirectory(path, permissions: mode ?? 0o755)
                    guard d.isDirectory else {
                        warnings.append("\(p.name): mkdir \(path): a file of that name exists")
                        continue
                    }
                    dirs.insert(path)
                    if let mode { d.permissions = mode }
                    if let owner { d.uid = accounts.user(owner)?.uid ?? UInt32(owner) ?? d.uid }
                    if let group { d.gid = accounts.group(group)?.gid ?? UInt32(group) ?? d.gid }
                case .copy(let from, var to):
                    guard let src = try node(from), let content = src.content else {
                        warnings.append("\(p.name): cp \(from): no package of the closure ships it; not copied")
                        continue
                    }
                    if isDirectory(to) { to += "/" + (from as NSString).lastPathComponent }
                    try out.insert(Node(kind: .file(content), permissions: src.permissions), at: to)
                case .touch(let path):
                    if out.lookup(path) == nil && present[path] == nil {
                        try out.addFile(path, bytes: [], permissions: 0o644)
                    }
                case .chmod(let mode, let path):
                    guard let n = try node(path) else {
                        warnings.append("\(p.name): chmod \(path): no such file in the image")
                        continue
                    }
                    n.permissions = mode
                case .chown(let owner, let group, let path):
                    guard let n = try node(path) else {
                        warnings.append("\(p.name): chown \(path): no such file in the image")
                        continue
                    }
                    if let owner {
                        guard let uid = accounts.user(owner)?.uid ?? UInt32(owner) else {
                            warnings.append("\(p.name): chown \(path): no user '\(owner)'")
                            continue
                        }
                        n.uid = uid
                    }
                    if let group {
                        guard let gid = accounts.group(group)?.gid ?? UInt32(group) else {
                            warnings.append("\(p.name): chown \(path): no group '\(group)'")
                            continue
                        }
                        n.gid = gid
                    }
                default:
                    continue
                }
            }
        }
        return warnings
    }

    // MARK: - Alternatives

    private func alternatives(_ pkgs: [Package], present: [String: Debian.Entry.Kind], into out: FileTree) throws
        -> [String]
    {
        var warnings: [String] = []
        var byName: [String: [(pkg: String, link: String, path: String, priority: Int, slaves: [AlternativeSlave])]] =
            [:]
        var order: [String] = []
        for p in pkgs {
            for case .alternative(let link, let name, let path, let priority, let slaves) in p.actions {
                if byName[name] == nil { order.append(name) }
                byName[name, default: []].append((p.name, link, path, priority, slaves))
            }
        }
        for name in order {
            let candidates = (byName[name] ?? []).filter { present[$0.path] != nil && present[$0.path] != .directory }
            guard let best = candidates.max(by: { $0.priority < $1.priority }) else {
                warnings.append("alternative '\(name)': none of its targets is installed; no link made")
                continue
            }
            func link(_ link: String, _ name: String, _ path: String) throws {
                if let k = present[link], k != .symlink {
                    warnings.append("alternative '\(name)': \(link) is a real file of a package; left as it is")
                    return
                }
                try out.addSymlink("/etc/alternatives/\(name)", target: path)
                try out.addSymlink(link, target: "/etc/alternatives/\(name)")
            }
            try link(best.link, name, best.path)
            for s in best.slaves where present[s.path] != nil { try link(s.link, s.name, s.path) }
        }
        return warnings
    }

    // MARK: - CA certificates

    private func caCertificates(
        _ pkgs: [Package], present: [String: Debian.Entry.Kind], into out: FileTree,
        tree: Reader
    ) throws -> [String] {
        let asked =
            pkgs.contains { p in p.actions.contains(.updateCACertificates) }
            || pkgs.contains { $0.name == "ca-certificates" }
        guard asked else { return [] }
        let base = "/usr/share/ca-certificates/"
        var certs: [(rel: String, pkg: Int)] = []
        for (i, p) in pkgs.enumerated() {
            for e in p.entries where e.path.hasPrefix(base) && e.path.hasSuffix(".crt") && e.kind != .directory {
                certs.append((String(e.path.dropFirst(base.count)), i))
            }
        }
        certs.sort { $0.rel < $1.rel }
        var conf = """
            # This file lists certificates that you wish to use or to ignore to be installed in /etc/ssl/certs.
            # update-ca-certificates(8) will update /etc/ssl/certs by reading this file.
            #
            # This is autogenerated by dpkg-reconfigure ca-certificates.
            # Certificates should be installed under /usr/share/ca-certificates
            # and files with extension '.crt' is recognized as available certificates.
            #
            # line begins with # is comment.
            # line begins with ! is certificate filename to be deselected.
            #

            """
        var bundle: [UInt8] = []
        for c in certs {
            conf += c.rel + "\n"
            let t = try tree(c.pkg, "ca") { $0.hasPrefix(base) }
            guard let content = t.lookup(base + c.rel)?.content else { continue }
            var bytes = try t.bytes(of: content)
            if bytes.last != 0x0A { bytes.append(0x0A) }
            bundle += bytes
            let pem = ((c.rel as NSString).lastPathComponent as NSString).deletingPathExtension + ".pem"
            try out.addSymlink("/etc/ssl/certs/\(pem)", target: base + c.rel)
        }
        if present["/etc/ca-certificates.conf"] == nil {
            try out.addFile("/etc/ca-certificates.conf", text: conf, permissions: 0o644)
        }
        try out.insert(
            Node(kind: .file(try spoolOrInline(bundle, out)), permissions: 0o644),
            at: "/etc/ssl/certs/ca-certificates.crt")
        return certs.isEmpty ? ["ca-certificates: no certificates under \(base); the bundle is empty"] : []
    }

    private func spoolOrInline(_ bytes: [UInt8], _ tree: FileTree) throws -> Content {
        bytes.count <= ContentSpool.inlineLimit ? Content(bytes: bytes) : try tree.spool.append(bytes)
    }

    // MARK: - Linker cache

    private func linkerCache(
        _ pkgs: [Package], present: [String: Debian.Entry.Kind], into out: FileTree,
        tree: Reader
    ) throws -> [String] {
        let triplet = arch == .arm64 ? "aarch64-linux-gnu" : "x86_64-linux-gnu"
        let defaults: Set<String> = [
            "/lib/\(triplet)", "/usr/lib/\(triplet)", "/lib", "/usr/lib", "/lib64", "/usr/lib64",
        ]
        // Directories named by /etc/ld.so.conf.d/*.conf.
        var dirs: [String] = []
        for (i, p) in pkgs.enumerated() {
            for e in p.entries
            where e.path.hasPrefix("/etc/ld.so.conf.d/") && e.path.hasSuffix(".conf") && e.kind == .file {
                let t = try tree(i, "ld.so.conf") { $0.hasPrefix("/etc/ld.so.conf.d/") }
                guard let c = t.lookup(e.path)?.content else { continue }
                for line in String(decoding: try t.bytes(of: c), as: UTF8.self).split(separator: "\n") {
                    let d = line.trimmingCharacters(in: .whitespaces)
                    if d.hasPrefix("/") && !dirs.contains(d) { dirs.append(d) }
                }
            }
        }
        let extra = dirs.filter { d in
            !defaults.contains(d)
                && pkgs.contains { p in p.entries.contains { $0.path.hasPrefix(d + "/") && $0.path.contains(".so") } }
        }
        guard !extra.isEmpty else { return [] }
        var libs: [LinkerCache.Library] = []
        for d in Array(defaults).sorted() + extra {
            for (i, p) in pkgs.enumerated() {
                for e in p.entries
                where e.kind != .directory && (e.path as NSString).deletingLastPathComponent == d
                    && e.path.contains(".so")
                {
                    let t = try tree(i, "libs " + d) { ($0 as NSString).deletingLastPathComponent == d }
                    guard let node = t.lookup(e.path) else { continue }
                    var target = node
                    var hops = 0
                    while case .symlink(let to) = target.kind, hops < 8 {
                        let resolved = to.hasPrefix("/") ? to : d + "/" + to
                        guard let n = t.lookup(resolved) else { break }
                        target = n
                        hops += 1
                    }
                    guard let content = target.content,
                        let soname = try? ELFSharedObject.soname(read: {
                            try t.bytes(of: content, offset: $0, count: $1)
                        })
                    else { continue }
                    if soname == (e.path as NSString).lastPathComponent {
                        libs.append(LinkerCache.Library(soname: soname, path: e.path))
                    }
                }
            }
        }
        let cache = LinkerCache(arch: arch == .arm64 ? .aarch64 : .x86_64, libraries: libs)
        try out.insert(
            Node(kind: .file(try spoolOrInline(cache.bytes(), out)), permissions: 0o644), at: "/etc/ld.so.cache")
        return []
    }

    // MARK: - Writing

    /// Writes the layer's files as a tar blob; of the directories only those a script made or
    /// changed (the rest are made on demand with the usual 0755 root:root).
    private func writeLayer(_ tree: FileTree, directories: Set<String>) throws -> Digest? {
        var entries: [(String, Node)] = []
        tree.walk { p, n in if p != "/" && (!n.isDirectory || directories.contains(p)) { entries.append((p, n)) } }
        guard !entries.isEmpty else { return nil }
        let tmp = "\(store.root)/tmp/configured-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).tar"
        defer { unlink(tmp) }
        let w = try ArchiveWriter(path: tmp, format: .paxRestricted, compression: .none)
        for (p, n) in entries {
            let name = String(p.dropFirst())
            switch n.kind {
            case .file(let c):
                try w.writeHeader(
                    path: name, mode: n.mode, uid: n.uid, gid: n.gid, mtime: 0, size: c.size, xattrs: n.xattrs)
                try tree.readChunks(of: c) { try w.writeData($0) }
            case .symlink(let t):
                try w.writeHeader(path: name, mode: n.mode, uid: n.uid, gid: n.gid, mtime: 0, symlink: t)
            case .characterDevice(let ma, let mi), .blockDevice(let ma, let mi):
                try w.writeHeader(path: name, mode: n.mode, uid: n.uid, gid: n.gid, mtime: 0, rdev: (ma, mi))
            case .directory, .fifo, .socket:
                try w.writeHeader(path: name, mode: n.mode, uid: n.uid, gid: n.gid, mtime: 0)
            }
        }
        try w.close()
        return try store.put(fileAt: tmp)
    }
}

extension FileTree {
    /// Records that `path` must disappear when this tree is applied as a layer (an OCI whiteout).
    fileprivate func insert(whiteoutFor path: String) {
        let dir = (path as NSString).deletingLastPathComponent
        let base = (path as NSString).lastPathComponent
        _ = try? addFile((dir == "/" ? "" : dir) + "/.wh." + base, text: "", permissions: 0o644)
    }
}
