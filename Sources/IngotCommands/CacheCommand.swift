// `ingot cache ls | rm REF | prune | import FILE | export REF FILE`: the registry images in the
// content store, their sizes and last use, and moving them in and out as OCI archives.

import ArgumentParser
import Foundation
import IngotSources
import IngotSpec

struct CacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache", abstract: "List, remove, prune, import and export images in the content store.",
        subcommands: [List.self, Remove.self, Prune.self, Import.self, Export.self])

    static func images(_ store: Flags.Store) throws -> ImageStore {
        ImageStore(store: try ContentStore(root: store.cache))
    }

    static func bytes(_ n: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls", abstract: "List stored images: size and last use.")
        @OptionGroup var store: Flags.Store

        func run() async throws {
            let images = try CacheCommand.images(store)
            let entries = images.entries()
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyy-MM-dd HH:mm"
            formatter.timeZone = TimeZone(identifier: "UTC")
            var rows = [["REFERENCE", "ARCH", "DIGEST", "SIZE", "LAST USED (UTC)"]]
            for e in entries {
                rows.append([
                    e.reference, e.arch, String(e.manifestDigest.prefix(19)), CacheCommand.bytes(images.size(of: e)),
                    e.lastUsed.map { formatter.string(from: $0) } ?? "never",
                ])
            }
            let widths = (0..<5).map { c in rows.map { $0[c].count }.max() ?? 0 }
            for row in rows {
                print(
                    row.enumerated().map { i, cell in
                        i == 4 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                    }
                    .joined(separator: "  "))
            }
            if entries.isEmpty { print("(no images; `ingot build` pulls them, `ingot cache import` adds archives)") }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Forget an image (all architectures); `prune` frees its blobs.")
        @Argument(help: "The reference as `ingot cache ls` prints it (or as written in a spec).") var reference: String
        @OptionGroup var store: Flags.Store

        func run() async throws {
            let images = try CacheCommand.images(store)
            let canonical = (try? RegistryReference.parse(reference).description) ?? reference
            let removed = try images.remove(reference: canonical)
            guard !removed.isEmpty else {
                throw ImageStore.MaintenanceError.unknownReference(
                    reference, known: Array(Set(images.entries().map(\.reference))).sorted())
            }
            for e in removed { print("removed \(e.reference) (\(e.arch))") }
        }
    }

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prune",
            abstract: "Delete blobs no stored image, index record or lock entry needs (waits for running builds).")
        @OptionGroup var store: Flags.Store
        @Option(name: .long, help: "Directory of board profiles; the lock beside it (firmware/lock.json) is kept.")
        var boardsDir: String?
        @Flag(name: .long, help: "Only report what would be deleted.") var dryRun = false

        func run() async throws {
            let root = store.cache ?? ContentStore.defaultRoot()
            _ = try ContentStore(root: root)  // creates the layout when new
            var lock: LockFile?
            if let dir = boardsDir ?? BoardCatalog.locateDefaultDirectory() {
                let path = store.lockPath(boardsDirectory: dir)
                if FileManager.default.fileExists(atPath: path) { lock = try LockFile.load(path: path) }
            } else if let path = store.lock {
                lock = try LockFile.load(path: path)
            }
            let report = try await ImageStore.prune(root: root, lock: lock, dryRun: dryRun)
            let verb = dryRun ? "would delete" : "deleted"
            if report.waitedForBuilds { print("waited for running builds to finish") }
            print(
                "\(verb) \(report.blobsRemoved) blobs (\(CacheCommand.bytes(report.bytesFreed))) and \(report.partialsRemoved) partial downloads"
            )
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import", abstract: "Add the images of an OCI archive (skopeo's oci-archive:) to the store.")
        @Argument(help: "The OCI archive (.tar).") var archive: String
        @Option(name: .long, help: "File it under this reference (default: the archive's io.containerd.image.name).")
        var ref: String?
        @OptionGroup var store: Flags.Store

        func run() async throws {
            let images = try CacheCommand.images(store)
            let reference = try ref.map { text -> RegistryReference in
                do { return try RegistryReference.parse(text) } catch {
                    throw ValidationError("--ref '\(text)': \(error)")
                }
            }
            for e in try images.importArchive(absolutePath(archive), as: reference) {
                print(
                    "imported \(e.reference) (\(e.arch)) \(e.manifestDigest.prefix(19))  \(CacheCommand.bytes(images.size(of: e)))"
                )
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export", abstract: "Write a stored image (all its architectures) as an OCI archive.")
        @Argument(help: "The reference.") var reference: String
        @Argument(help: "The archive to write (.tar).") var output: String
        @OptionGroup var store: Flags.Store

        func run() async throws {
            let images = try CacheCommand.images(store)
            let exported = try images.export(reference: reference, to: absolutePath(output))
            print("exported \(exported.map { "\($0.reference) (\($0.arch))" }.joined(separator: ", ")) to \(output)")
        }
    }
}
