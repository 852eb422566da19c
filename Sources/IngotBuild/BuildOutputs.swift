// Reading a build's outputs through its manifest: from a prefix (`out/hello-rpi3`), the manifest
// itself or any file the build wrote, find the manifest and look outputs up by role. Nothing here
// works a file name out on its own: the names are the ones the manifest lists, and a file the
// manifest does not list (a stale output of an earlier build) is refused.

import Foundation
import IngotContract

/// One build's outputs as its manifest lists them (or, for a dry run, as a build would write them).
public struct BuildOutputs: Sendable {
    /// Why outputs could not be found or trusted; each names the path and what to do.
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        /// Nothing at the path, and no build with that prefix.
        case notFound(path: String)
        /// The file exists but no manifest of a build lists it.
        case noManifest(path: String, manifest: String)
        /// The manifest beside the file does not list it: it is left from another build.
        case notListed(path: String, manifest: String)
        /// The manifest lists an output that is not there.
        case missingOutput(role: ArtifactRole, path: String, manifest: String)
        /// An output is not the size its manifest recorded: it was replaced or truncated.
        case sizeMismatch(path: String, manifest: String, recorded: Int64, actual: Int64)
        /// The build has no output of this format.
        case formatNotBuilt(format: OutputFormat, manifest: String, built: [OutputFormat])
        /// A manifest entry names a file outside the manifest's directory.
        case badEntry(name: String, manifest: String)

        public var description: String {
            switch self {
            case .notFound(let path):
                return "\(path): no such file or build prefix; check the path, or run 'ingot build' first"
            case .noManifest(let path, let manifest):
                return "\(path): no manifest lists this file (looked for \(manifest)); rebuild it with 'ingot build', "
                    + "or name the board with --board to use the file as it is"
            case .notListed(let path, let manifest):
                return "\(path) is not one of the outputs \(manifest) lists: it is left from an earlier build; "
                    + "rebuild, or use the outputs the manifest lists"
            case .missingOutput(let role, let path, let manifest):
                return "\(path) (\(role.rawValue)) is listed in \(manifest) but missing; rebuild it with 'ingot build'"
            case .sizeMismatch(let path, let manifest, let recorded, let actual):
                return
                    "\(path) is \(actual) bytes but \(manifest) recorded \(recorded): it was changed after the build; rebuild it"
            case .formatNotBuilt(let format, let manifest, let built):
                let have = built.isEmpty ? "nothing bootable" : built.map(\.rawValue).joined(separator: ", ")
                return "\(manifest) has no \(format) output (it has \(have)); build it with --format \(format)"
            case .badEntry(let name, let manifest):
                return "\(manifest) lists '\(name)', which is not a file name in its directory; rebuild the image"
            }
        }
    }

    /// The directory and `NAME-BOARD` of the build.
    public var layout: ArtifactLayout
    /// The outputs, as listed (names are relative to `layout.directory`).
    public var records: [BuildManifest.OutputRecord]
    /// The manifest (nil for planned outputs of a build that has not run).
    public var manifest: BuildManifest?
    /// The output the user's path named, when it named one (not a prefix or the manifest).
    public var named: BuildManifest.OutputRecord?

    /// The manifest's path.
    public var manifestPath: String { layout.path(.manifest) }

    /// Outputs as `manifest` at `layout` lists them.
    public init(layout: ArtifactLayout, manifest: BuildManifest) throws {
        self.layout = layout
        self.manifest = manifest
        self.records = manifest.outputs
        for record in records
        where record.name.contains("/") || record.name.isEmpty || record.name == "." || record.name == ".." {
            throw Error.badEntry(name: record.name, manifest: layout.path(.manifest))
        }
    }

    private init(layout: ArtifactLayout, records: [BuildManifest.OutputRecord]) {
        self.layout = layout
        self.records = records
        self.manifest = nil
    }

    /// The outputs a build of `formats` for `board` writes, before it runs (for `--dry-run`):
    /// the same names the builder writes through (sizes and digests unknown).
    /// - Parameters:
    ///   - layout: the output directory and `NAME-BOARD`.
    ///   - formats: the formats the build writes.
    ///   - dtbs: the board's DTB names (base names).
    public static func planned(layout: ArtifactLayout, formats: [OutputFormat], dtbs: [String]) -> BuildOutputs {
        let records = Builder.plannedOutputs(formats: formats, dtbs: dtbs).map {
            BuildManifest.OutputRecord(name: layout.fileName($0.role, dtb: $0.dtb), role: $0.role, size: 0, sha256: "")
        }
        return BuildOutputs(layout: layout, records: records)
    }

    /// Finds the build `path` names: a prefix (`out/hello-rpi3`), its manifest, or any output.
    /// - Throws: `BuildOutputs.Error` (nothing there, no manifest, a file the manifest does not
    ///   list) or `BuildManifest.Error` (an unreadable manifest).
    public static func load(_ path: String) throws -> BuildOutputs {
        let fm = FileManager.default
        let candidates = ArtifactLayout.candidates(forOutputPath: path)
        for (layout, role) in candidates where fm.fileExists(atPath: layout.path(.manifest)) {
            var outputs = try BuildOutputs(
                layout: layout, manifest: try BuildManifest.load(path: layout.path(.manifest)))
            guard let role, role != .manifest else { return outputs }
            let name = (path as NSString).lastPathComponent
            guard let record = outputs.records.first(where: { $0.name == name }) else {
                // A `.dtb` may split elsewhere; only a fixed suffix settles it.
                if role == .dtb { continue }
                guard fm.fileExists(atPath: path) else {
                    guard let format = role.format else { throw Error.notFound(path: path) }
                    throw Error.formatNotBuilt(
                        format: format, manifest: layout.path(.manifest), built: outputs.formats.filter(\.isBootable))
                }
                throw Error.notListed(path: path, manifest: layout.path(.manifest))
            }
            outputs.named = record
            return outputs
        }
        if fm.fileExists(atPath: path) {
            let manifest = (candidates.first { $0.role != nil } ?? candidates[candidates.count - 1]).layout.path(
                .manifest)
            throw Error.noManifest(
                path: path, manifest: path.hasSuffix(ArtifactLayout.suffix(.manifest)) ? path : manifest)
        }
        throw Error.notFound(path: path)
    }

    /// The path of a listed output.
    public func path(of record: BuildManifest.OutputRecord) -> String { layout.directory + "/" + record.name }

    /// The first output with `role`, if the build wrote one.
    public func path(for role: ArtifactRole) -> String? { records.first { $0.role == role }.map(path(of:)) }

    /// Every output with `role`, in the order written.
    public func paths(for role: ArtifactRole) -> [String] { records.filter { $0.role == role }.map(path(of:)) }

    /// The DTB output for the board's device tree `name` (e.g. `broadcom/bcm2837-rpi-3-b.dtb`).
    public func dtb(named name: String) -> String? {
        let wanted = layout.fileName(.dtb, dtb: (name as NSString).lastPathComponent)
        return records.first { $0.role == .dtb && $0.name == wanted }.map(path(of:))
    }

    /// The formats this build has an output of, in `OutputFormat` order.
    public var formats: [OutputFormat] {
        OutputFormat.allCases.filter { format in records.contains { $0.role == format.primaryRole } }
    }

    /// The kernel command line of a kernel+initrd build (its cmdline output), else the manifest's.
    public func cmdline() -> String? {
        if let file = path(for: .cmdline), let text = try? String(contentsOfFile: file, encoding: .utf8) {
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return manifest?.cmdline
    }

    /// Checks that the outputs of `format` are all there, at the sizes the manifest recorded.
    /// - Throws: `.formatNotBuilt`, `.missingOutput` or `.sizeMismatch`.
    public func verify(_ format: OutputFormat) throws {
        guard records.contains(where: { $0.role == format.primaryRole }) else {
            throw Error.formatNotBuilt(format: format, manifest: manifestPath, built: formats.filter(\.isBootable))
        }
        guard manifest != nil else { return }
        for record in records where record.role.format == format {
            let file = path(of: record)
            var info = stat()
            guard stat(file, &info) == 0 else {
                throw Error.missingOutput(role: record.role, path: file, manifest: manifestPath)
            }
            if Int64(info.st_size) != record.size {
                throw Error.sizeMismatch(
                    path: file, manifest: manifestPath, recorded: record.size, actual: Int64(info.st_size))
            }
        }
    }

    /// The format of an image file by its content, for a file no manifest lists: qcow2 by its
    /// magic, ISO 9660 by its volume descriptor, a raw disk by its partition table signature.
    /// - Returns: nil when the file is none of these (or cannot be read).
    public static func imageFormat(ofFile path: String) -> OutputFormat? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG || info.st_mode & S_IFMT == S_IFBLK else {
            return nil
        }
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 32_774), head.count >= 4 else { return nil }
        let bytes = [UInt8](head)
        if bytes.prefix(4) == [0x51, 0x46, 0x49, 0xFB] { return .qcow2 }
        if bytes.count >= 32_774, Array(bytes[32_769..<32_774]) == Array("CD001".utf8) { return .iso }
        if bytes.count >= 512, bytes[510] == 0x55, bytes[511] == 0xAA { return .raw }
        return nil
    }
}
