// Kernel module closure: from the module names a board needs to the ordered list of .ko files
// (dependencies first) found through the kernel's modules.dep, skipping built-in modules.

import Foundation

public struct ModuleClosure: Sendable, Equatable {
    public enum Error: Swift.Error, CustomStringConvertible {
        case unknownModule(String, kernel: String)
        case missingFile(String, kernel: String)

        public var description: String {
            switch self {
            case .unknownModule(let m, let k):
                return "kernel module '\(m)' is neither a loadable module nor built into kernel \(k) "
                    + "(not in modules.dep or modules.builtin); check the board's initramfs modules list"
            case .missingFile(let f, let k):
                return "modules.dep of kernel \(k) names '\(f)', but the kernel package has no such file; "
                    + "the kernel package is incomplete"
            }
        }
    }

    /// Module paths relative to /lib/modules/VERSION, load order (dependencies first).
    public var ordered: [String]
    /// Requested modules that are built into the kernel (nothing to load).
    public var builtin: [String]

    static func canonical(_ name: String) -> String {
        name.replacingOccurrences(of: "-", with: "_")
    }

    /// The module name of a .ko path ("kernel/fs/ext4/ext4.ko" → "ext4"), dashes as underscores.
    public static func moduleName(ofPath path: String) -> String {
        var base = String(path.split(separator: "/").last ?? "")
        for ext in [".ko.xz", ".ko.zst", ".ko.gz", ".ko"] where base.hasSuffix(ext) {
            base.removeLast(ext.count)
            break
        }
        return canonical(base)
    }

    /// Resolves `names` against the text of modules.dep and modules.builtin.
    public static func resolve(names: [String], modulesDep: String, modulesBuiltin: String, kernel: String) throws
        -> ModuleClosure
    {
        var deps: [String: [String]] = [:]  // path -> dependency paths
        var byName: [String: String] = [:]  // canonical name -> path
        for line in modulesDep.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let path = String(line[..<colon])
            let rest = line[line.index(after: colon)...].split(separator: " ").map(String.init)
            deps[path] = rest
            byName[moduleName(ofPath: path)] = path
        }
        let builtinNames = Set(modulesBuiltin.split(separator: "\n").map { moduleName(ofPath: String($0)) })

        var ordered: [String] = []
        var placed = Set<String>()
        var builtin: [String] = []
        func visit(_ path: String, _ stack: Set<String>) {
            if placed.contains(path) || stack.contains(path) { return }
            for d in deps[path] ?? [] { visit(d, stack.union([path])) }
            placed.insert(path)
            ordered.append(path)
        }
        for name in names {
            let c = canonical(name)
            if let path = byName[c] {
                visit(path, [])
            } else if builtinNames.contains(c) {
                builtin.append(name)
            } else {
                throw Error.unknownModule(name, kernel: kernel)
            }
        }
        return ModuleClosure(ordered: ordered, builtin: builtin)
    }

    /// Resolves against a tree that holds /lib/modules/VERSION (e.g. the kernel package's data).
    /// Uses modules.dep when present; Debian's packages ship none (depmod runs at install), so
    /// then the dependencies are read from each module's `.modinfo` (`depends=`).
    public static func resolve(names: [String], in tree: FileTree, kernelVersion: String) throws -> ModuleClosure {
        let base = "/lib/modules/\(kernelVersion)"
        func text(_ file: String) throws -> String {
            guard let c = tree.lookup(base + "/" + file)?.content else { return "" }
            return String(decoding: try tree.bytes(of: c), as: UTF8.self)
        }
        var dep = try text("modules.dep")
        if dep.isEmpty { dep = try synthesizeModulesDep(tree: tree, base: base) }
        let closure = try resolve(
            names: names, modulesDep: dep, modulesBuiltin: try text("modules.builtin"), kernel: kernelVersion)
        for p in closure.ordered where tree.lookup(base + "/" + p)?.content == nil {
            throw Error.missingFile(p, kernel: kernelVersion)
        }
        return closure
    }

    /// Builds modules.dep text from the `.modinfo` sections of every module under `base`.
    public static func synthesizeModulesDep(tree: FileTree, base: String) throws -> String {
        guard let root = tree.lookup(base) else { return "" }
        var modules: [(rel: String, content: Content)] = []
        func walk(_ node: Node, _ rel: String) {
            for (name, child) in node.sortedChildren {
                let r = rel.isEmpty ? name : rel + "/" + name
                if child.isDirectory {
                    walk(child, r)
                } else if let c = child.content, name.hasSuffix(".ko") {
                    modules.append((r, c))
                }
            }
        }
        walk(root, "")
        var pathByName: [String: String] = [:]
        for m in modules { pathByName[moduleName(ofPath: m.rel)] = m.rel }
        var lines: [String] = []
        for m in modules {
            let fields = try ModInfo.fields(path: m.rel) { try tree.bytes(of: m.content, offset: $0, count: $1) }
            let deps = fields.filter { $0.0 == "depends" }.flatMap { $0.1.split(separator: ",").map(String.init) }
                .compactMap { pathByName[canonical($0)] }
            lines.append(m.rel + ":" + deps.map { " " + $0 }.joined())
        }
        return lines.joined(separator: "\n")
    }
}
