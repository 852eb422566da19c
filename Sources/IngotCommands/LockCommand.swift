// `ingot lock`: refreshes firmware/lock.json — every Debian package the boards use, pinned.

import ArgumentParser
import Foundation
import IngotBuild
import IngotSources
import IngotSpec

struct LockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock", abstract: "Pin every package the boards (and optionally specs) use in firmware/lock.json.")

    @OptionGroup var boards: Flags.Boards
    @OptionGroup var store: Flags.Store
    @OptionGroup var logs: Flags.Logs
    @Option(name: .long, help: "Also pin the deb: images of these specs.") var spec: [String] = []

    func run() async throws {
        let logger = logs.logger()
        let catalog = try boards.catalog()
        let selected = boards.board.isEmpty ? catalog.boards : try boards.selected()
        var wanted: [(name: String, arch: Architecture)] = []
        var closures: [(request: DebianRequest, arch: Architecture)] = []
        func add(_ n: String, _ a: Architecture) {
            if !wanted.contains(where: { $0.name == n && $0.arch == a }) { wanted.append((n, a)) }
        }
        let specs = try spec.map { try SpecLoader.load(path: $0) }
        for b in selected {
            add(b.kernelPackage, b.arch)
            add("busybox-static", b.arch)
            for p in b.packages { add(p, b.arch) }
            for p in Stage1Tools.packages { add(p, b.arch) }  // stage 1's sfdisk/resize2fs (data growth)
            for s in specs {
                for img in s.allImages {
                    guard case .deb(let n, let v, let recommends) = img.ref else { continue }
                    let r = DebianRequest(packages: [v.map { "\(n)=\($0)" } ?? n], recommends: recommends)
                    if !closures.contains(where: { $0.request == r && $0.arch == b.arch }) {
                        closures.append((r, b.arch))
                    }
                }
            }
        }
        let contentStore = try ContentStore(root: store.cache, logger: logger)
        let lock = try await LockFile.refresh(packages: wanted, closures: closures, store: contentStore, logger: logger)
        let path = store.lockPath(boardsDirectory: catalog.directory)
        try lock.save(path: path)
        print("\(path): \(lock.packages.count) packages pinned, \(lock.closures?.count ?? 0) closures")
    }
}
