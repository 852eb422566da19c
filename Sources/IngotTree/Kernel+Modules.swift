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

    static func moduleName(ofPath path: String) -> String {
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
    public static func resolve(names: [String], in tree: FileTree, kernelVersion: String) throws -> ModuleClosure {
        let base = "/lib/modules/\(kernelVersion)"
        func text(_ file: String) throws -> String {
            guard let c = tree.lookup(base + "/" + file)?.content else { return "" }
            return String(decoding: try tree.bytes(of: c), as: UTF8.self)
        }
        let closure = try resolve(
            names: names, modulesDep: try text("modules.dep"), modulesBuiltin: try text("modules.builtin"),
            kernel: kernelVersion)
        for p in closure.ordered where tree.lookup(base + "/" + p)?.content == nil {
            throw Error.missingFile(p, kernel: kernelVersion)
        }
        return closure
    }
}
