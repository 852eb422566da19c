// The target-architecture tools stage 1 needs to grow the data partition on first boot: Debian's
// sfdisk (package fdisk) and resize2fs (e2fsprogs), which busybox lacks, with their shared-library
// closure read from the binaries' ELF headers (DT_NEEDED, PT_INTERP). The packages are listed
// here explicitly — one place — until an apt-solver closure resolver exists; a library the list
// misses is an error naming the library.

import Foundation
import IngotSources
import IngotSpec
import IngotTree

/// Stage 1's data-growth tools.
public enum Stage1Tools {
    /// Where the binaries live in their packages.
    static let sfdiskPath = "/sbin/sfdisk"
    static let resize2fsPath = "/sbin/resize2fs"
    /// Where stage 1 keeps their libraries.
    static let libraryDirectory = "/lib/ingot"

    /// The Debian packages (bookworm names) holding the two tools and every library they load.
    public static let packages = [
        "fdisk", "e2fsprogs", "libfdisk1", "libsmartcols1", "libblkid1", "libuuid1", "libreadline8", "libtinfo6",
        "libext2fs2", "libcom-err2", "libc6",
    ]

    /// The multiarch directory name of `arch`'s libraries.
    static func triplet(_ arch: Architecture) -> String {
        arch == .amd64 ? "x86_64-linux-gnu" : "aarch64-linux-gnu"
    }

    /// Resolves the packages for `board` and returns the files stage 1 must carry.
    /// - Returns: the tools and the packages they came from (for the manifest's inputs).
    static func load(board: BoardProfile, resolver: SourceResolver, spool: ContentSpool) async throws
        -> (tools: Stage1Plan.GrowTools, packages: [ResolvedPackage])
    {
        let tree = try FileTree(spool: spool)
        var resolved: [ResolvedPackage] = []
        for name in packages {
            let package = try await resolver.package(name, version: nil)
            guard case .archive(let data, _) = package.data.source else {
                throw ComposeError(
                    location: nil,
                    message: "package \(package.name) has no data archive; cannot take the data-growth tools from it")
            }
            _ = try tree.applyLayer(archive: data, label: "\(package.name) \(package.version)") { path in
                path.hasPrefix("/lib") || path.hasPrefix("/usr/lib") || path == sfdiskPath || path == resize2fsPath
            }
            resolved.append(package)
        }
        let dirs = ["/lib/\(triplet(board.arch))", "/usr/lib/\(triplet(board.arch))", "/lib", "/usr/lib"]

        /// Follows symbolic links (relative or absolute) to a regular file.
        func regularFile(_ path: String) -> Content? {
            var current = path
            for _ in 0..<8 {
                guard let node = tree.lookup(current) else { return nil }
                switch node.kind {
                case .file(let content): return content
                case .symlink(let target):
                    current =
                        target.hasPrefix("/")
                        ? target : FileTree.normalize((current as NSString).deletingLastPathComponent + "/" + target)
                default: return nil
                }
            }
            return nil
        }
        func elf(_ content: Content, _ path: String) throws -> ELFDynamic {
            try ELFDynamic(bytes: try tree.bytes(of: content), path: path)
        }

        var files: [(path: String, content: Content, executable: Bool)] = []
        var pending: [(name: String, content: Content, from: String)] = []
        var interpreter: String?
        for tool in [sfdiskPath, resize2fsPath] {
            guard let content = regularFile(tool) else {
                throw ComposeError(
                    location: nil,
                    message:
                        "\(tool) is missing from packages \(packages.joined(separator: ", ")) (\(board.arch.rawValue))")
            }
            let info = try elf(content, tool)
            interpreter = interpreter ?? info.interpreter
            files.append((tool, content, true))
            pending += info.needed.map { ($0, content, tool) }
        }
        var placed = Set<String>()
        while let (soname, _, from) = pending.popLast() {
            guard !placed.contains(soname) else { continue }
            guard
                let (path, content) = dirs.lazy.compactMap({ dir in
                    regularFile(dir + "/" + soname).map { (dir + "/" + soname, $0) }
                }).first
            else {
                throw ComposeError(
                    location: nil,
                    message:
                        "\(from) needs \(soname), which none of \(packages.joined(separator: ", ")) (\(board.arch.rawValue)) ships; "
                        + "add its package to Stage1Tools.packages")
            }
            placed.insert(soname)
            files.append((libraryDirectory + "/" + soname, content, false))
            pending += try elf(content, path).needed.map { ($0, content, path) }
        }
        guard let interpreter, let loader = regularFile(interpreter) else {
            throw ComposeError(
                location: nil,
                message: "the dynamic loader of \(sfdiskPath) is missing from libc6 (\(board.arch.rawValue))")
        }
        files.append((interpreter, loader, true))
        let tools = Stage1Plan.GrowTools(
            sfdisk: sfdiskPath, resize2fs: resize2fsPath, libraryPath: libraryDirectory, files: files)
        return (tools, resolved)
    }
}
