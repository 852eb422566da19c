// A tiny apt repository made by a test: .debs built with dpkg-deb, a flat `Packages` index, and
// an APT_CONFIG that points apt at it (own sources list, own lists directory) — so closure
// resolution, conflicts, drift and vanished versions are tested against apt itself, hermetically.
// Shared by IngotSourcesTests (the resolver) and IngotCommandsTests (`ingot build`).

import Foundation
import IngotSystem

/// A flat repository (`deb [trusted=yes] copy:DIR ./`) with its own apt configuration.
public final class FakeAptRepo {
    public struct Package {
        public var name: String
        public var version: String
        public var arch: String = "all"
        public var fields: [String: String] = [:]
        /// Path (relative, no leading '/') → content; a value starting with "->" is a symlink.
        public var files: [String: String] = [:]
        public var scripts: [String: String] = [:]
        /// Binary files (e.g. a compiled shared object): path → host file to copy.
        public var hostFiles: [String: String] = [:]

        /// A package; only `name` and `version` are needed.
        public init(
            name: String, version: String, arch: String = "all", fields: [String: String] = [:],
            files: [String: String] = [:], scripts: [String: String] = [:], hostFiles: [String: String] = [:]
        ) {
            self.name = name
            self.version = version
            self.arch = arch
            self.fields = fields
            self.files = files
            self.scripts = scripts
            self.hostFiles = hostFiles
        }
    }

    /// The repository's directory (repo/, lists/, cache/, apt.conf).
    public let root: String
    /// The APT_CONFIG file that points apt at this repository only.
    public var aptConfig: String { root + "/apt.conf" }
    /// The packages added (and not removed).
    public private(set) var packages: [Package] = []

    /// An empty repository in a new temporary directory (open to all: apt's _apt sandbox and
    /// unprivileged builds use it).
    public init() throws {
        root = NSTemporaryDirectory() + "ingot-fake-repo-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        chmod(root, 0o777)
        try FileManager.default.createDirectory(atPath: root + "/repo", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/lists/partial", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/cache", withIntermediateDirectories: true)
        try write(root + "/sources.list", "deb [trusted=yes] copy:\(root)/repo ./\n")
        try write(
            root + "/apt.conf",
            """
            Dir::Etc::sourcelist "\(root)/sources.list";
            Dir::Etc::sourceparts "/nonexistent";
            Dir::Etc::preferences "/nonexistent";
            Dir::Etc::preferencesparts "/nonexistent";
            Dir::State::Lists "\(root)/lists";
            Dir::Cache "\(root)/cache";
            Debug::NoLocking "1";

            """)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// Builds the package's .deb into the repository (replacing nothing: versions coexist).
    public func add(_ p: Package) throws {
        let stage = root + "/stage-\(p.name)-\(UUID().uuidString.prefix(6))"
        defer { try? FileManager.default.removeItem(atPath: stage) }
        var control =
            "Package: \(p.name)\nVersion: \(p.version)\nArchitecture: \(p.arch)\nMaintainer: Ingot Tests <t@example.org>\n"
        for (k, v) in p.fields.sorted(by: { $0.key < $1.key }) { control += "\(k): \(v)\n" }
        control += "Description: test package \(p.name)\n"
        try write(stage + "/DEBIAN/control", control)
        for (name, text) in p.scripts {
            try write(stage + "/DEBIAN/" + name, text)
            chmod(stage + "/DEBIAN/" + name, 0o755)
        }
        for (path, content) in p.files {
            let full = stage + "/" + path
            try FileManager.default.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if content.hasPrefix("->") {
                try FileManager.default.createSymbolicLink(
                    atPath: full, withDestinationPath: String(content.dropFirst(2)))
            } else {
                try write(full, content)
            }
        }
        for (path, host) in p.hostFiles {
            let full = stage + "/" + path
            try FileManager.default.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: host, toPath: full)
        }
        let deb = root + "/repo/\(p.name)_\(p.version.replacingOccurrences(of: ":", with: "%3a"))_\(p.arch).deb"
        let (rc, log) = try Self.sh(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", stage, deb])
        guard rc == 0 else { throw FakeRepoError.build(log) }
        packages.removeAll { $0.name == p.name && $0.version == p.version && $0.arch == p.arch }
        packages.append(p)
    }

    /// Removes a version from the repository (the mirror "moved on").
    public func remove(_ name: String, version: String, arch: String = "all") throws {
        let deb = root + "/repo/\(name)_\(version.replacingOccurrences(of: ":", with: "%3a"))_\(arch).deb"
        try FileManager.default.removeItem(atPath: deb)
        packages.removeAll { $0.name == name && $0.version == version && $0.arch == arch }
    }

    /// Writes the Packages index and runs `apt-get update` with the repository's config.
    public func publish() throws {
        var index = ""
        let files = try FileManager.default.contentsOfDirectory(atPath: root + "/repo").filter { $0.hasSuffix(".deb") }
            .sorted()
        for f in files {
            let path = root + "/repo/" + f
            let (rc, control) = try Self.sh(["dpkg-deb", "-f", path])
            guard rc == 0 else { throw FakeRepoError.build(control) }
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
            index += control.trimmingCharacters(in: .whitespacesAndNewlines) + "\n"
            index +=
                "Filename: ./\(f)\nSize: \(size)\nSHA256: \(SHA256Stream.hex(try SHA256Stream.digest(ofFile: path)))\n\n"
        }
        try write(root + "/repo/Packages", index)
        let (rc, log) = try Self.sh(["apt-get", "update", "-q"], env: ["APT_CONFIG": aptConfig])
        guard rc == 0, !log.contains("E: ") else { throw FakeRepoError.update(log) }
    }

    private func write(_ path: String, _ text: String) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    /// dpkg-deb or apt-get failed, with its output.
    public enum FakeRepoError: Error { case build(String), update(String) }

    /// Runs a host tool (through PATH), both outputs merged.
    static func sh(_ args: [String], env: [String: String] = [:]) throws -> (Int32, String) {
        let r = try Command.run("/usr/bin/env", args, environment: env, mergeStandardError: true)
        return (r.status, r.stdout)
    }
}
