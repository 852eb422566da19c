// A tiny apt repository made by the test (the same helper as IngotSourcesTests/FakeAptRepo.swift;
// test targets cannot share files): .debs built with dpkg-deb, a flat `Packages` index, and an
// APT_CONFIG that points apt at it, so `ingot build` can be shown bad closures hermetically.

import Foundation
import IngotSources
import Testing

/// A flat repository (`deb [trusted=yes] copy:DIR ./`) with its own apt configuration.
final class FakeAptRepo {
    struct Package {
        var name: String
        var version: String
        var arch: String = "all"
        var fields: [String: String] = [:]
        /// Path (relative, no leading '/') → content; a value starting with "->" is a symlink.
        var files: [String: String] = [:]
        var scripts: [String: String] = [:]
        /// Binary files (e.g. a compiled shared object): path → host file to copy.
        var hostFiles: [String: String] = [:]
    }

    let root: String
    var aptConfig: String { root + "/apt.conf" }
    private(set) var packages: [Package] = []

    init() throws {
        root = try E2E.tempDir("fake-repo")
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
    func add(_ p: Package) throws {
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
    func remove(_ name: String, version: String, arch: String = "all") throws {
        let deb = root + "/repo/\(name)_\(version.replacingOccurrences(of: ":", with: "%3a"))_\(arch).deb"
        try FileManager.default.removeItem(atPath: deb)
        packages.removeAll { $0.name == name && $0.version == version && $0.arch == arch }
    }

    /// Writes the Packages index and runs `apt-get update` with the repository's config.
    func publish() throws {
        var index = ""
        let files = try FileManager.default.contentsOfDirectory(atPath: root + "/repo").filter { $0.hasSuffix(".deb") }
            .sorted()
        for f in files {
            let path = root + "/repo/" + f
            let (rc, control) = try Self.sh(["dpkg-deb", "-f", path])
            guard rc == 0 else { throw FakeRepoError.build(control) }
            let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
            index += control.trimmingCharacters(in: .whitespacesAndNewlines) + "\n"
            index += "Filename: ./\(f)\nSize: \(size)\nSHA256: \(try Digest.of(fileAt: path).hex)\n\n"
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

    enum FakeRepoError: Error { case build(String), update(String) }

    static func sh(_ args: [String], env: [String: String] = [:]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        var e = ProcessInfo.processInfo.environment
        for (k, v) in env { e[k] = v }
        p.environment = e
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
