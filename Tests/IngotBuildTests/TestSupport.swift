// Fixtures for IngotBuild tests, made in-process (no binary is spawned): temporary directories,
// the repository's board profiles and example spec, fake Debian packages (an `ar` archive of
// control.tar and data.tar written with libarchive) pinned by a lock in a fresh content store,
// and a fake kernel bundle — enough to drive the disk assembler's planning and boot chains.

import Foundation
import IngotContract
import IngotFilesystems
import IngotSpec
@testable import IngotTree
import Testing

@testable import IngotBuild
@testable import IngotSources

/// A fresh temporary directory, removed by `cleanup()`.
struct TempDir {
    let path: String

    init(_ label: String) throws {
        path = NSTemporaryDirectory() + "ingot-build-test-\(label)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` at `name` inside the directory and returns its path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let full = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: full))
        return full
    }

    /// The directory's entries, sorted (hidden ones included).
    var listing: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted() }
}

enum Repo {
    /// The package root.
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static func catalog() throws -> BoardCatalog { try BoardCatalog.load(directory: root + "/boards") }
    static func board(_ name: String) throws -> BoardProfile { try catalog().board(named: name) }
    static func helloSpec() throws -> ApplianceSpec { try SpecLoader.load(path: root + "/examples/hello.yml") }
}

/// A Debian package made in memory: `debian-binary`, `control.tar` and `data.tar` in an `ar`.
enum FakeDeb {
    static func tar(_ files: [(String, [UInt8])], at path: String) throws {
        let w = try ArchiveWriter(path: path, format: .paxRestricted, compression: .none)
        for (name, bytes) in files {
            try w.writeHeader(path: name, mode: 0o100644, uid: 0, gid: 0, mtime: 0, size: Int64(bytes.count))
            try w.writeData(bytes)
        }
        try w.close()
    }

    /// The .deb bytes of `name` holding `files` (paths inside the package, e.g. `usr/lib/x`).
    static func make(name: String, arch: String, version: String = "1.0", files: [String: [UInt8]], in dir: TempDir)
        throws -> [UInt8]
    {
        let control = "Package: \(name)\nVersion: \(version)\nArchitecture: \(arch)\n"
        let controlTar = dir.path + "/\(name)-control.tar"
        let dataTar = dir.path + "/\(name)-data.tar"
        try tar([("./control", Array(control.utf8))], at: controlTar)
        try tar(files.sorted { $0.key < $1.key }.map { ("./" + $0.key, $0.value) }, at: dataTar)
        var ar = Array("!<arch>\n".utf8)
        func member(_ name: String, _ bytes: [UInt8]) {
            func field(_ text: String, _ width: Int) -> [UInt8] {
                Array(text.utf8) + [UInt8](repeating: 0x20, count: max(0, width - text.utf8.count))
            }
            ar += field(name, 16) + field("0", 12) + field("0", 6) + field("0", 6) + field("100644", 8)
            ar += field(String(bytes.count), 10) + Array("`\n".utf8)
            ar += bytes
            if bytes.count % 2 == 1 { ar.append(0x0A) }
        }
        member("debian-binary", Array("2.0\n".utf8))
        member("control.tar", Array(try Data(contentsOf: URL(fileURLWithPath: controlTar))))
        member("data.tar", Array(try Data(contentsOf: URL(fileURLWithPath: dataTar))))
        return ar
    }
}

/// A disk assembler for `board` over fake inputs: a kernel bundle whose modules are all
/// "built in", a root with a busybox, and the board packages the boot chains read, pinned by a lock.
struct AssemblerFixture {
    let dir: TempDir
    let assembler: DiskAssembler
    static let kernelBytes = Array("fake-kernel-image".utf8)
    static let busyboxBytes = Array("fake-busybox".utf8)

    init(board boardName: String, label: String) throws {
        dir = try TempDir(label)
        let board = try Repo.board(boardName)
        let spec = try Repo.helloSpec()
        let arch = board.arch.debian
        let store = try ContentStore(root: dir.path + "/cache")
        let packages: [(String, [String: [UInt8]])] = [
            (
                "systemd-boot-efi",
                [
                    "usr/lib/systemd/boot/efi/systemd-bootx64.efi": Array("sd-boot-x64".utf8),
                    "usr/lib/systemd/boot/efi/systemd-bootaa64.efi": Array("sd-boot-aa64".utf8),
                ]
            ),
            (
                "raspi-firmware",
                Dictionary(
                    uniqueKeysWithValues: ["bootcode.bin", "start.elf", "fixup.dat", "start4.elf", "fixup4.dat"].map {
                        ("usr/lib/raspi-firmware/" + $0, Array("fw-\($0)".utf8))
                    })
            ),
            ("u-boot-rpi", ["usr/lib/u-boot/rpi_arm64/u-boot.bin": Array("u-boot-arm64".utf8)]),
        ]
        var entries: [LockFile.Entry] = []
        for (name, files) in packages {
            let deb = try FakeDeb.make(name: name, arch: arch, files: files, in: dir)
            let digest = try store.put(bytes: deb)
            entries.append(
                .init(name: name, arch: arch, version: "1.0", sha256: digest.hex, filename: "\(name)_1.0_\(arch).deb"))
        }
        let resolver = SourceResolver(store: store, lock: LockFile(packages: entries), arch: board.arch, logger: nil)
        let spool = try ContentSpool(directory: dir.path)
        let kernelTree = try FileTree(spool: spool)
        let vmlinuz = try kernelTree.addFile("/boot/vmlinuz-6.1.0-test", bytes: Self.kernelBytes)
        let root = try FileTree(spool: spool)
        try root.addFile("/bin/busybox", bytes: Self.busyboxBytes, permissions: 0o755)
        let package = ResolvedPackage(
            name: "linux-image-test", version: "6.1.0", arch: arch, debPath: "/nonexistent",
            debDigest: try Digest(parsing: String(repeating: "0", count: 64)),
            data: Layer(source: .directory(path: "/nonexistent"), origin: "test"), control: [:],
            filename: "linux-image-test.deb",
            input: InputRecord(
                name: "linux-image-test", version: "6.1.0", arch: arch, sha256: String(repeating: "0", count: 64),
                origin: "test"))
        let dtbs = board.dtbs.map {
            (name: ($0 as NSString).lastPathComponent, content: Content(bytes: Array("dtb \($0)".utf8)))
        }
        let kernel = KernelBundle(
            release: "6.1.0-test", package: package, tree: kernelTree, kernel: try #require(vmlinuz.content),
            closure: ModuleClosure(ordered: [], builtin: board.initramfsModules + ["squashfs", "overlay", "ext4"]),
            dtbs: dtbs)
        assembler = DiskAssembler(
            spec: spec, board: board, kernel: kernel, root: root, resolver: resolver, spool: spool,
            epoch: BuildOptions.defaultEpoch,
            seed: "test|\(board.name)", baseCmdline: board.cmdline.joined(separator: " "), logger: nil)
    }

    /// Text of a file in a tree.
    static func text(_ tree: FileTree, _ path: String) throws -> String {
        let content = try #require(tree.lookup(path)?.content, "\(path) missing")
        return String(decoding: try tree.bytes(of: content), as: UTF8.self)
    }

    /// Every regular file path of a tree, sorted.
    static func files(_ tree: FileTree) throws -> [String] {
        var out: [String] = []
        tree.walk { path, node in if node.content != nil { out.append(path) } }
        return out.sorted()
    }
}
