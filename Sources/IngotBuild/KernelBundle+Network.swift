// The board's NIC drivers (`networkModules`), for appliances that need the network: their
// closure through the kernel's modules.dep, copied into the root beside the storage modules.
// The generated init loads them before its network bring-up; stage 1 loads them for a root
// with its own init.

import IngotSpec
import IngotTree

extension KernelBundle {
    /// Installs the closure of `board.networkModules` into `root` (skipping modules the storage
    /// closure already holds) and returns their insmod paths in load order.
    /// - Throws: `ModuleClosure.Error` naming a module this kernel does not have.
    func installNetworkModules(into root: FileTree, board: BoardProfile) throws -> [String] {
        guard !board.networkModules.isEmpty else { return [] }
        let network = try ModuleClosure.resolve(names: board.networkModules, in: tree, kernelVersion: release)
        let base = "/lib/modules/\(release)"
        let present = Set(closure.ordered)
        var paths: [String] = []
        for rel in network.ordered where !present.contains(rel) {
            guard let node = tree.lookup(base + "/" + rel) else { continue }
            try root.insert(
                Node(kind: node.kind, permissions: node.permissions, uid: 0, gid: 0, mtime: node.mtime),
                at: base + "/" + rel)
            paths.append(base + "/" + rel)
        }
        return paths
    }
}
