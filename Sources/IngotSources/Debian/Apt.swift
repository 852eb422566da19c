// The host's apt as a package source: `apt-cache show` for candidates and metapackage
// dependencies, `apt-get download --print-uris` for origins, `apt-get download` for the .deb.
// Downloads need no privileges; the host must have the target arch and components configured.

import Foundation
import Logging

/// Queries and downloads through the host's apt (download only, nothing is installed).
struct Apt: Sendable {
    /// apt failures, naming package, architecture and the fix.
    enum Error: Swift.Error, CustomStringConvertible {
        case notFound(name: String, arch: String, version: String?, detail: String)
        case failed(command: String, status: Int32, detail: String)

        var description: String {
            switch self {
            case .notFound(let name, let arch, let version, let detail):
                let what = "Debian package '\(name)'" + (version.map { " version \($0)" } ?? "") + " for \(arch)"
                return "\(what) is not known to apt (\(detail.trimmingCharacters(in: .whitespacesAndNewlines))). "
                    + "Check the package name; run ci/bootstrap (or `dpkg --add-architecture \(arch) && apt-get update`) "
                    + "so the \(arch) package lists are present; firmware such as raspi-firmware needs the "
                    + "non-free-firmware component in /etc/apt/sources.list.d/debian.sources."
                    + (version != nil ? " A pinned version may have left the archive: run `ingot lock` to re-pin." : "")
            case .failed(let command, let status, let detail):
                return
                    "`\(command)` failed with status \(status): \(detail.trimmingCharacters(in: .whitespacesAndNewlines)). "
                    + "Check network access to the Debian mirror and run `apt-get update`."
            }
        }
    }

    /// One downloadable .deb as apt describes it.
    struct Candidate: Sendable {
        var name: String
        /// `arm64`, `amd64` or `all` (the qualifier apt accepted).
        var aptArch: String
        var version: String
        var sha256: String?
        var fields: [String: String]
        var spec: String { "\(name):\(aptArch)=\(version)" }
    }

    let logger: Logger?

    /// The candidate (or a given version) of `name` for `arch`, trying `NAME:all` for
    /// architecture-independent packages.
    func show(name: String, arch: String, version: String?) async throws -> Candidate {
        var lastDetail = ""
        for qualifier in [arch, "all"] {
            let spec = "\(name):\(qualifier)" + (version.map { "=\($0)" } ?? "")
            let r = try await ProcessRunner.run("apt-cache", ["show", "--no-all-versions", spec])
            if r.succeeded, let fields = Debian.parseStanzas(r.stdout).first, let v = fields["Version"] {
                return Candidate(
                    name: fields["Package"] ?? name, aptArch: qualifier, version: v, sha256: fields["SHA256"],
                    fields: fields)
            }
            if lastDetail.isEmpty { lastDetail = r.stderr.isEmpty ? "apt-cache show \(spec): no record" : r.stderr }
        }
        throw Error.notFound(name: name, arch: arch, version: version, detail: lastDetail)
    }

    /// Follows kernel metapackages (`linux-image-amd64` → `linux-image-6.1.0-NN-amd64`) and
    /// packages in section `metapackages` to the package they depend on.
    func resolveMetapackage(name: String, arch: String) async throws -> Candidate {
        var candidate = try await show(name: name, arch: arch, version: nil)
        var hops = 0
        while Apt.isMetapackage(candidate), hops < 4, let depends = candidate.fields["Depends"] {
            let names = Debian.dependencyNames(depends)
            guard let target = names.first(where: { $0.hasPrefix("linux-image-") }) ?? names.first else { break }
            logger?.debug("\(candidate.name) is a metapackage; following it to \(target)")
            candidate = try await show(name: target, arch: arch, version: nil)
            hops += 1
        }
        return candidate
    }

    static func isMetapackage(_ c: Candidate) -> Bool {
        if c.fields["Section"] == "metapackages" { return true }
        // "linux-image-amd64" is a metapackage, "linux-image-6.1.0-56-amd64" is not: a versioned
        // kernel package has a digit right after the prefix.
        for prefix in ["linux-image-", "linux-headers-"] where c.name.hasPrefix(prefix) {
            return !(c.name.dropFirst(prefix.count).first?.isNumber ?? false)
        }
        return false
    }

    /// The URI and file name apt would download for `candidate`.
    func uri(of candidate: Candidate) async throws -> (uri: String, filename: String) {
        let r = try await ProcessRunner.run("apt-get", ["download", "--print-uris", candidate.spec])
        guard r.succeeded else {
            throw Error.notFound(
                name: candidate.name, arch: candidate.aptArch, version: candidate.version, detail: r.stderr)
        }
        for line in r.stdout.split(separator: "\n") where line.hasPrefix("'") {
            let parts = line.split(separator: " ")
            guard parts.count >= 2 else { continue }
            return (String(parts[0].dropFirst().dropLast()), String(parts[1]))
        }
        let filename = "\(candidate.name)_\(candidate.version)_\(candidate.aptArch).deb"
        return ("apt:\(candidate.spec)", filename)
    }

    /// Downloads `candidate` into `directory` and returns the .deb's path.
    func download(_ candidate: Candidate, into directory: String) async throws -> String {
        let r = try await ProcessRunner.run("apt-get", ["download", "-q", candidate.spec], directory: directory)
        guard r.succeeded else {
            if r.stderr.contains("Unable to locate") || r.stderr.contains("was not found")
                || r.stderr.contains("Can't find a source")
            {
                throw Error.notFound(
                    name: candidate.name, arch: candidate.aptArch, version: candidate.version, detail: r.stderr)
            }
            throw Error.failed(command: "apt-get download \(candidate.spec)", status: r.status, detail: r.stderr)
        }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        guard let deb = files.first(where: { $0.hasSuffix(".deb") }) else {
            throw Error.failed(
                command: "apt-get download \(candidate.spec)", status: r.status,
                detail: "no .deb appeared in \(directory)")
        }
        return directory + "/" + deb
    }
}
