// Parsing image references ("deb:busybox-static", "oci-layout:./img:v1", ...); anything without
// a known scheme is a registry reference (ImageRef+Registry.swift).

import IngotContract

extension ImageRef {
    /// The accepted schemes, as shown in error messages.
    public static let schemes: [String] = [
        "deb:NAME[=VERSION][?recommends]", "deb-file:PATH", "oci-layout:PATH[:TAG]", "oci-archive:PATH",
        "docker-archive:PATH", "tar:PATH", "dir:PATH", "[docker://]REGISTRY/REPO[:TAG][@sha256:HEX]",
    ]

    /// File name endings accepted by `tar:`.
    public static let tarSuffixes: [String] = [".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.zst", ".tar.zstd"]

    /// Parses `raw`, resolving relative paths against `baseDirectory`.
    /// - Parameters:
    ///   - raw: The reference as written.
    ///   - baseDirectory: Directory relative paths resolve against.
    ///   - location: Where `raw` was written, for errors.
    /// - Throws: `SpecError` for registry names, unknown schemes or malformed references.
    public static func parse(_ raw: String, baseDirectory: String, location: SourceLocation) throws -> ImageRef {
        let text = raw.trimmingWhitespace()
        let accepted = "accepted forms: " + schemes.joined(separator: ", ")
        guard let colon = text.firstIndex(of: ":") else {
            return try registryReference(text, location: location, accepted: accepted)
        }
        let scheme = String(text[..<colon])
        let rest = String(text[text.index(after: colon)...])
        func path(_ what: String) throws -> String {
            guard !rest.isEmpty else {
                throw SpecError(location, "image '\(text)' names no \(what)", hint: "write \(scheme):./path")
            }
            return PathRules.resolve(rest, against: baseDirectory)
        }
        switch scheme {
        case "deb":
            // `?recommends` asks for the package's Recommends as well as its dependencies.
            var body = rest
            var recommends = false
            if let q = rest.firstIndex(of: "?") {
                let option = String(rest[rest.index(after: q)...])
                guard option == "recommends" else {
                    throw SpecError(
                        location, "unknown option '?\(option)' in image '\(text)'",
                        hint: "the only option of deb: is ?recommends (install Recommends too)")
                }
                recommends = true
                body = String(rest[..<q])
            }
            let parts = body.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let name = parts[0]
            guard PathRules.isDebianPackageName(name) else {
                throw SpecError(
                    location, "'\(name)' is not a valid Debian package name in image '\(text)'",
                    hint: "package names are lower-case letters, digits and + - . (e.g. deb:busybox-static)")
            }
            if parts.count == 2 {
                guard !parts[1].isEmpty, !parts[1].contains(where: \.isWhitespace) else {
                    throw SpecError(
                        location, "empty or malformed version in image '\(text)'",
                        hint: "write deb:NAME=VERSION, e.g. deb:busybox-static=1:1.35.0-4+b3, or drop '='")
                }
                return .deb(name: name, version: parts[1], recommends: recommends)
            }
            return .deb(name: name, version: nil, recommends: recommends)
        case "deb-file":
            return .debFile(path: try path("file"))
        case "oci-layout":
            var tag: String?
            var pathPart = rest
            if let last = rest.lastIndex(of: ":") {
                let candidate = String(rest[rest.index(after: last)...])
                if !candidate.contains("/") {
                    tag = candidate.isEmpty ? nil : candidate
                    pathPart = String(rest[..<last])
                }
            }
            guard !pathPart.isEmpty else {
                throw SpecError(location, "image '\(text)' names no directory", hint: "write oci-layout:./dir[:tag]")
            }
            return .ociLayout(path: PathRules.resolve(pathPart, against: baseDirectory), tag: tag)
        case "oci-archive":
            return .ociArchive(path: try path("file"))
        case "docker-archive":
            return .dockerArchive(path: try path("file"))
        case "tar":
            let resolved = try path("file")
            guard tarSuffixes.contains(where: { resolved.hasSuffix($0) }) else {
                throw SpecError(
                    location, "'\(rest)' does not look like a tar archive",
                    hint: "tar: accepts files ending in \(tarSuffixes.joined(separator: ", "))")
            }
            return .tar(path: resolved)
        case "dir":
            return .directory(path: try path("directory"))
        default:
            let known = ["deb", "deb-file", "oci-layout", "oci-archive", "docker-archive", "tar", "dir"]
            let near = suggestion(for: scheme, among: known)
            let typo = near.map { editDistance(scheme.lowercased(), $0) <= max(1, scheme.count / 4) } ?? false
            if scheme.contains("/") || scheme.contains(".") || scheme == "docker" || !typo {
                return try registryReference(text, location: location, accepted: accepted)
            }
            throw SpecError(
                location,
                "unknown image scheme '\(scheme):' in '\(text)'" + (near.map { "; did you mean '\($0):'?" } ?? ""),
                hint: accepted)
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}
