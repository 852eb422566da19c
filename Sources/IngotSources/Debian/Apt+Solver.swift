// apt's own solver on a private, empty dpkg status: resolves the closure of some packages
// (Depends and Pre-Depends; Recommends only when asked) for one architecture and says what it
// would download (URI, file name, size, SHA256), then downloads exactly those versions.
//
// Runs as any user (uid 65534 included): the host's package lists are only read; the dpkg
// status, apt's caches and archives are files in a private directory; locking is off. Nothing
// under /var/lib/dpkg or /var/cache/apt is touched. `APT_CONFIG` is honoured, so another mirror
// (or a test repository) can be named the way apt itself expects.

import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// What a `deb:` image asks for: one or more packages and whether Recommends come along.
public struct DebianRequest: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Package names, optionally `NAME=VERSION`, in the order written.
    public var packages: [String]
    /// Install Recommends too (`deb:NAME?recommends`).
    public var recommends: Bool

    public init(packages: [String], recommends: Bool = false) {
        self.packages = packages
        self.recommends = recommends
    }

    /// The request as the spec writes it after `deb:`, and as the lock keys its closure.
    public var description: String {
        packages.joined(separator: ",") + (recommends ? "?recommends" : "")
    }
}

/// One package of a resolved closure, as apt would download it.
public struct AptPin: Sendable, Hashable, Codable {
    public var name: String
    public var version: String
    /// The package's own architecture (`arm64`, `amd64` or `all`).
    public var arch: String
    /// sha256 of the .deb, hex.
    public var sha256: String
    public var size: Int64
    public var uri: String
    /// The archive file name apt uses (`zlib1g_1%3a1.2.13.dfsg-1_arm64.deb`).
    public var filename: String
}

/// apt-get with a private, empty status for one target architecture.
struct AptSolver: Sendable {
    /// Resolution and download failures, in apt's words plus what to do.
    enum Error: Swift.Error, CustomStringConvertible {
        case unknownPackage(name: String, arch: String, otherArchs: [String])
        case unresolvable(request: String, arch: String, unmet: [String], detail: String)
        case versionGone(name: String, arch: String, version: String, available: [String])
        case failed(command: String, status: Int32, detail: String)

        var description: String {
            switch self {
            case .unknownPackage(let name, let arch, let others):
                if !others.isEmpty {
                    return "Debian package '\(name)' does not exist for \(arch) (apt has it for "
                        + "\(others.joined(separator: ", ")) only). Pick a board of that architecture or a "
                        + "package built for \(arch)."
                }
                return "Debian package '\(name)' is not known to apt for \(arch). Check the name; run ci/bootstrap "
                    + "(or `dpkg --add-architecture \(arch) && apt-get update`) so the \(arch) package lists are present."
            case .unresolvable(let request, let arch, let unmet, let detail):
                let why = unmet.isEmpty ? detail : unmet.joined(separator: "; ")
                return "apt cannot resolve '\(request)' for \(arch): \(why). Ask for a version whose "
                    + "dependencies the mirror has, or leave the version out."
            case .versionGone(let name, let arch, let version, let available):
                let has = available.isEmpty ? "" : " (it has \(available.joined(separator: ", ")))"
                return "the lock pins \(name) \(version) (\(arch)), which the mirror no longer offers\(has) and "
                    + "which is not in the cache. Run `ingot lock` (with --spec for spec images) to re-pin to "
                    + "what the mirror has, or restore the old .deb into the cache."
            case .failed(let command, let status, let detail):
                return "`\(command)` failed with status \(status): "
                    + "\(detail.trimmingCharacters(in: .whitespacesAndNewlines)). Check the apt configuration "
                    + "and network access to the mirror."
            }
        }
    }

    /// The Debian architecture (`amd64`, `arm64`).
    let arch: String
    /// A private directory for the empty status file and apt's caches.
    let workDirectory: String
    /// `APT_CONFIG` for apt's children, when not the environment's.
    var aptConfig: String? = nil
    let logger: Logger?

    /// The environment apt runs with.
    var environment: [String: String] { aptConfig.map { ["APT_CONFIG": $0] } ?? [:] }

    /// The options that make apt-get resolve for `arch` on an empty system, as the current user.
    func options(recommends: Bool) -> [String] {
        var o: [String: String] = [
            "APT::Architecture": arch,
            "APT::Architectures": arch,
            "Dir::State::status": workDirectory + "/status",
            "Dir::State::extended_states": workDirectory + "/extended_states",
            "Dir::Cache": workDirectory + "/cache",
            "Dir::Cache::archives": workDirectory + "/cache/archives",
            // apt's binary cache of the lists, kept per architecture: it halves apt's CPU time on
            // the next resolution; apt checks it against the lists and rebuilds it when they change.
            "Dir::Cache::pkgcache": workDirectory + "/cache/pkgcache.bin",
            "Dir::Cache::srcpkgcache": workDirectory + "/cache/srcpkgcache.bin",
            "Dir::Log": workDirectory + "/log",
            "Debug::NoLocking": "1",
            "APT::Install-Recommends": recommends ? "true" : "false",
            "APT::Install-Suggests": "false",
            // Essential packages come only when something depends on them.
            "pkgCacheGen::Essential": "none",
            "Acquire::ForceHash": "SHA256",
            "APT::Get::Show-User-Simulation-Note": "false",
            "quiet": "1",
        ]
        // As root, apt would drop to _apt for downloads, which cannot write our private dirs.
        if getuid() == 0 { o["APT::Sandbox::User"] = "root" }
        return o.keys.sorted().flatMap { ["-o", "\($0)=\(o[$0]!)"] }
    }

    /// Creates the private directory layout (empty status, archives with partial/).
    func prepare() throws {
        let fm = FileManager.default
        for d in ["cache/archives/partial", "log"] {
            try fm.createDirectory(atPath: workDirectory + "/" + d, withIntermediateDirectories: true)
        }
        if !fm.fileExists(atPath: workDirectory + "/status") {
            guard fm.createFile(atPath: workDirectory + "/status", contents: Data()) else {
                throw Error.failed(command: "create \(workDirectory)/status", status: -1, detail: "cannot write")
            }
        }
    }

    /// The closure of `request`: every package apt would install on an empty system, in apt's
    /// download order.
    func resolve(_ request: DebianRequest) async throws -> [AptPin] {
        try prepare()
        let args = options(recommends: request.recommends) + ["--print-uris", "install"] + request.packages
        let r = try await ProcessRunner.run("apt-get", args, environment: environment)
        if !r.succeeded { throw try await classify(r, request: request) }
        let pins = Self.parsePrintURIs(r.stdout)
        guard !pins.isEmpty else {
            throw Error.failed(
                command: "apt-get --print-uris install \(request.packages.joined(separator: " "))", status: r.status,
                detail: "apt printed no packages to download: \(r.stdout.suffix(400))")
        }
        return pins
    }

    /// Downloads `pins` into `directory` (one apt-get call) and returns each pin's file.
    func download(_ pins: [AptPin], into directory: String) async throws -> [String: String] {
        guard !pins.isEmpty else { return [:] }
        try prepare()
        let specs = pins.map { "\($0.name)=\($0.version)" }
        let r = try await ProcessRunner.run(
            "apt-get", options(recommends: false) + ["download"] + specs, directory: directory, environment: environment
        )
        if !r.succeeded {
            if let gone = Self.versionNotFound(r.stderr) {
                throw Error.versionGone(
                    name: gone.name, arch: arch, version: gone.version, available: await availableVersions(gone.name))
            }
            throw Error.failed(
                command: "apt-get download \(specs.joined(separator: " "))", status: r.status, detail: r.stderr)
        }
        var files: [String: String] = [:]
        let written = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for p in pins {
            // apt names the file itself (`name_version_arch.deb`, the epoch's ':' as "%3a"); a
            // lock's recorded file name is not trusted to match it.
            let stem = "\(p.name)_\(p.version.replacingOccurrences(of: ":", with: "%3a"))_"
            let found =
                written.contains(p.filename) ? p.filename : written.first { $0.hasPrefix(stem) && $0.hasSuffix(".deb") }
            guard let name = found else {
                throw Error.failed(
                    command: "apt-get download \(p.name)=\(p.version)", status: r.status,
                    detail: "\(stem)*.deb did not appear in \(directory)")
            }
            files[p.name] = directory + "/" + name
        }
        return files
    }

    /// The versions of `name` the mirror offers for this architecture, newest first.
    func availableVersions(_ name: String) async -> [String] {
        guard
            let r = try? await ProcessRunner.run(
                "apt-cache", options(recommends: false) + ["madison", name], environment: environment),
            r.succeeded
        else { return [] }
        return r.stdout.split(separator: "\n").compactMap { line in
            let cols = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            return cols.count >= 2 && cols[0] == name ? cols[1] : nil
        }
    }

    /// Turns a failed resolution into the error that names the package or the dependency.
    private func classify(_ r: ProcessResult, request: DebianRequest) async throws -> Error {
        let err = r.stderr
        for line in err.split(separator: "\n") {
            if let name = Self.between(String(line), "Unable to locate package ", nil)
                ?? Self.between(String(line), "Package '", "' has no installation candidate")
            {
                return .unknownPackage(name: name, arch: arch, otherArchs: await otherArchitectures(name))
            }
        }
        if let gone = Self.versionNotFound(err) {
            return .versionGone(
                name: gone.name, arch: arch, version: gone.version, available: await availableVersions(gone.name))
        }
        let unmet = Self.unmetDependencies(r.stdout)
        if !unmet.isEmpty || err.contains("Unable to correct problems") {
            return .unresolvable(
                request: request.description, arch: arch, unmet: unmet,
                detail: err.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return .failed(
            command: "apt-get install \(request.packages.joined(separator: " "))", status: r.status, detail: err)
    }

    /// The architectures the host's apt knows `name` for (other than this one).
    private func otherArchitectures(_ name: String) async -> [String] {
        let bare = name.split(separator: "=").first.map(String.init) ?? name
        guard let r = try? await ProcessRunner.run("apt-cache", ["show", bare], environment: environment), r.succeeded
        else { return [] }
        let archs = Set(Debian.parseStanzas(r.stdout).compactMap { $0["Architecture"] })
        return archs.subtracting([arch]).sorted()
    }

    // MARK: - Parsing apt's output

    /// `'URI' FILE SIZE SHA256:HEX` lines → pins; name, version and arch come from the file name.
    static func parsePrintURIs(_ text: String) -> [AptPin] {
        var pins: [AptPin] = []
        for line in text.split(separator: "\n") where line.hasPrefix("'") {
            let cols = line.split(separator: " ").map(String.init)
            guard cols.count >= 4, cols[1].hasSuffix(".deb"), let size = Int64(cols[2]) else { continue }
            let hash = cols[3]
            guard hash.uppercased().hasPrefix("SHA256:") else { continue }
            let fields = cols[1].dropLast(4).split(separator: "_", omittingEmptySubsequences: false).map {
                percentDecoded(String($0))
            }
            guard fields.count == 3 else { continue }
            pins.append(
                AptPin(
                    name: fields[0], version: fields[1], arch: fields[2],
                    sha256: String(hash.dropFirst(7)).lowercased(),
                    size: size, uri: String(cols[0].dropFirst().dropLast()), filename: cols[1]))
        }
        return pins
    }

    /// The lines apt prints under "The following packages have unmet dependencies:".
    static func unmetDependencies(_ text: String) -> [String] {
        var out: [String] = []
        var inBlock = false
        var current = ""
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(raw)
            if line.contains("have unmet dependencies:") {
                inBlock = true
                continue
            }
            guard inBlock else { continue }
            if !line.hasPrefix(" ") {
                break
            }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            // Continuation lines of one package start deeper and have no " : ".
            if line.hasPrefix("  ") && !trimmed.contains(" : ") && !current.isEmpty {
                out.append(current)
                let pkg = current.components(separatedBy: " : ").first ?? ""
                current = pkg + " : " + trimmed
            } else {
                if !current.isEmpty { out.append(current) }
                current = trimmed
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// `E: Version 'V' for 'N' was not found` → (N, V).
    static func versionNotFound(_ text: String) -> (name: String, version: String)? {
        for line in text.split(separator: "\n") {
            let s = String(line)
            if let v = between(s, "Version '", "' for '"), let n = between(s, "' for '", "' was not found") {
                return (n, v)
            }
        }
        return nil
    }

    static func between(_ s: String, _ start: String, _ end: String?) -> String? {
        guard let a = s.range(of: start) else { return nil }
        let rest = s[a.upperBound...]
        guard let end else {
            let v = rest.trimmingCharacters(in: .whitespaces)
            return v.isEmpty ? nil : v
        }
        guard let b = rest.range(of: end) else { return nil }
        return String(rest[..<b.lowerBound])
    }

    static func percentDecoded(_ s: String) -> String {
        guard s.contains("%") else { return s }
        var bytes: [UInt8] = []
        var u = Array(s.utf8)[...]
        while let c = u.first {
            if c == UInt8(ascii: "%"), u.count >= 3,
                let v = UInt8(String(decoding: u.dropFirst().prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(v)
                u = u.dropFirst(3)
            } else {
                bytes.append(c)
                u = u.dropFirst()
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
