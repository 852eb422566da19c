// Registry image references, parsed the way Docker and LinuxKit do: `alpine` → docker.io/library/
// alpine:latest, `linuxkit/getty:a86d…` → docker.io/linuxkit/getty, `registry.example:5000/team/web:1.4`,
// `…@sha256:<hex>`. An optional `docker://` prefix is accepted (skopeo's transport name).

/// A reference to an image in an OCI distribution registry.
public struct RegistryReference: Sendable, Hashable, CustomStringConvertible {
    /// Why a string is not a registry reference.
    public enum ParseError: Swift.Error, Sendable, Hashable, CustomStringConvertible {
        case empty
        case badDomain(String)
        case badRepository(String)
        case badTag(String)
        case badDigest(String)

        public var description: String {
            switch self {
            case .empty: return "the reference is empty"
            case .badDomain(let d): return "'\(d)' is not a registry host name (host[:port])"
            case .badRepository(let r):
                return "'\(r)' is not a repository name (lower-case letters, digits and . _ - separated by /)"
            case .badTag(let t):
                return "'\(t)' is not a tag (up to 128 letters, digits, _ . -, not starting with . or -)"
            case .badDigest(let d): return "'\(d)' is not a digest (only sha256:<64 hex digits> is supported)"
            }
        }
    }

    /// Docker Hub's canonical domain.
    public static let dockerHub = "docker.io"

    /// The registry host, with port when given (`docker.io`, `registry.example:5000`).
    public var domain: String
    /// The repository path (`library/alpine`, `team/web`).
    public var repository: String
    /// The tag; `latest` when neither tag nor digest was written.
    public var tag: String?
    /// `sha256:<hex>` when the reference pins a digest.
    public var digest: String?

    /// Creates a reference from its parts (already valid).
    public init(domain: String, repository: String, tag: String?, digest: String?) {
        self.domain = domain
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// The tag or digest the registry is asked for (`/v2/<repo>/manifests/<this>`).
    public var manifestReference: String { digest ?? tag ?? "latest" }

    /// `docker.io/library/alpine:3.19`, `host:5000/team/web@sha256:…` (tag kept when both are given).
    public var description: String {
        var s = "\(domain)/\(repository)"
        if let tag { s += ":\(tag)" }
        if let digest { s += "@\(digest)" }
        return s
    }

    /// The short form Docker prints (`alpine:3.19`, `linuxkit/getty:v1`), for messages.
    public var familiar: String {
        var name = "\(domain)/\(repository)"
        if domain == Self.dockerHub {
            name = repository.hasPrefix("library/") ? String(repository.dropFirst(8)) : repository
        }
        if let tag { name += ":\(tag)" }
        if let digest { name += "@\(digest)" }
        return name
    }

    /// Parses a reference as Docker does.
    /// - Parameter raw: `[docker://][domain/]path[:tag][@sha256:hex]`.
    /// - Returns: The reference with `domain` and `repository` normalised (docker.io, library/).
    /// - Throws: `ParseError`.
    public static func parse(_ raw: String) throws -> RegistryReference {
        var text = Substring(raw)
        if text.hasPrefix("docker://") { text = text.dropFirst(9) }
        guard !text.isEmpty else { throw ParseError.empty }
        var digest: String?
        if let at = text.firstIndex(of: "@") {
            let d = String(text[text.index(after: at)...])
            guard d.hasPrefix("sha256:"), d.utf8.count == 71,
                d.utf8.dropFirst(7).allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
            else { throw ParseError.badDigest(d) }
            digest = d
            text = text[..<at]
        }
        var tag: String?
        if let colon = text.lastIndex(of: ":"), !text[text.index(after: colon)...].contains("/") {
            let t = String(text[text.index(after: colon)...])
            guard isTag(t) else { throw ParseError.badTag(t) }
            tag = t
            text = text[..<colon]
        }
        var domain = dockerHub
        var path = String(text)
        if let slash = text.firstIndex(of: "/") {
            let first = String(text[..<slash])
            if first.contains(".") || first.contains(":") || first == "localhost"
                || first.contains(where: \.isUppercase)
            {
                guard isDomain(first) else { throw ParseError.badDomain(first) }
                domain = first == "index.docker.io" ? dockerHub : first
                path = String(text[text.index(after: slash)...])
            }
        }
        if domain == dockerHub, !path.contains("/") { path = "library/" + path }
        guard isRepository(path) else { throw ParseError.badRepository(path) }
        if tag == nil, digest == nil { tag = "latest" }
        return RegistryReference(domain: domain, repository: path, tag: tag, digest: digest)
    }

    static func isTag(_ t: String) -> Bool {
        guard let first = t.unicodeScalars.first, t.unicodeScalars.count <= 128 else { return false }
        func word(_ c: Unicode.Scalar) -> Bool {
            c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_")
        }
        return word(first) && t.unicodeScalars.allSatisfy { word($0) || $0 == "." || $0 == "-" }
    }

    static func isDomain(_ d: String) -> Bool {
        let parts = d.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, !parts[0].isEmpty else { return false }
        if parts.count == 2 { guard let port = Int(parts[1]), (1...65535).contains(port) else { return false } }
        let host = parts[0]
        if host.hasPrefix("[") && host.hasSuffix("]") { return true }
        return host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.unicodeScalars.allSatisfy {
                    $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-")
                }
        }
    }

    /// Docker's path grammar: components of `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` joined by `/`.
    static func isRepository(_ path: String) -> Bool {
        guard !path.isEmpty, path.utf8.count <= 255 else { return false }
        return path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { component in
            let c = Array(component.unicodeScalars)
            guard let first = c.first, let last = c.last else { return false }
            func alnum(_ s: Unicode.Scalar) -> Bool { ("a"..."z").contains(s) || ("0"..."9").contains(s) }
            guard alnum(first), alnum(last) else { return false }
            var i = 0
            while i < c.count {
                if alnum(c[i]) { i += 1; continue }
                // A separator: '.', '_', '__' or a run of '-', always followed by alnum.
                if c[i] == "." || c[i] == "_" {
                    let double = c[i] == "_" && i + 1 < c.count && c[i + 1] == "_"
                    i += double ? 2 : 1
                } else if c[i] == "-" {
                    while i < c.count && c[i] == "-" { i += 1 }
                } else {
                    return false
                }
                guard i < c.count, alnum(c[i]) else { return false }
            }
            return true
        }
    }
}

extension ImageRef {
    /// A registry reference for `text`, or the spec error explaining why it is none.
    static func registryReference(_ text: String, location: SourceLocation, accepted: String) throws -> ImageRef {
        do {
            return .registry(try RegistryReference.parse(text))
        } catch let error as RegistryReference.ParseError {
            throw SpecError(
                location, "image '\(text)' is not a valid registry reference: \(error)",
                hint:
                    "write e.g. alpine:3.19, linuxkit/getty:TAG, registry.example:5000/team/web:1.4 or NAME@sha256:HEX; "
                    + "local images use a scheme — \(accepted)")
        }
    }
}
