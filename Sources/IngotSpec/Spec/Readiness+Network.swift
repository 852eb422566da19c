// Readiness over the network and the root's own init: `readiness.http` / `readiness.tcp` (the
// harness forwards a host port to the guest and asks the service itself), and `boot.init` (a
// full distribution's own PID 1 instead of Ingot's generated init). Models and their strict
// readers; every bad value is a SpecError at its file:line:column.

import Yams

/// `readiness.http`: the harness sends `GET path` to the guest's `port` and wants `status` back.
public struct HTTPProbeSpec: Sendable, Hashable {
    /// The guest's TCP port (1–65535).
    public var port: Int
    /// The request path: starts with `/`, no spaces or control characters (a query is allowed).
    public var path: String
    /// The HTTP status that counts as ready (100–599).
    public var status: Int
    /// Where the block starts.
    public var location: SourceLocation

    /// Creates a probe.
    public init(port: Int, path: String = "/", status: Int = 200, location: SourceLocation) {
        self.port = port
        self.path = path
        self.status = status
        self.location = location
    }
}

/// `readiness.tcp`: the harness connects to the guest's `port`; the service must accept.
public struct TCPProbeSpec: Sendable, Hashable {
    /// The guest's TCP port (1–65535).
    public var port: Int
    /// Where the block starts.
    public var location: SourceLocation

    /// Creates a probe.
    public init(port: Int, location: SourceLocation) {
        self.port = port
        self.location = location
    }
}

/// `boot:` — how the appliance's root is started.
public struct BootSpec: Sendable, Hashable {
    /// `boot.init`: the root's own init (e.g. `/sbin/init` of a Debian root with systemd-sysv),
    /// run as PID 1 by stage 1 instead of Ingot's generated init. The root then runs its own
    /// services; Ingot adds a systemd unit printing the ready marker when that init is systemd.
    public var initPath: String
    /// Where the section starts.
    public var location: SourceLocation

    /// Creates a boot section.
    public init(initPath: String, location: SourceLocation) {
        self.initPath = initPath
        self.location = location
    }
}

extension Readiness {
    /// True when readiness is checked over the network (the guest needs a NIC and an address).
    public var needsNetwork: Bool { http != nil || tcp != nil }

    /// The guest TCP ports the harness must reach, in probe order (http first), without repeats.
    public var guestPorts: [Int] {
        var ports: [Int] = []
        for port in [http?.port, tcp?.port].compactMap({ $0 }) where !ports.contains(port) { ports.append(port) }
        return ports
    }
}

extension SpecLoader {
    static let readinessKeys = ["pattern", "timeout", "http", "tcp"]
    static let httpKeys = ["port", "path", "status"]
    static let tcpKeys = ["port"]
    static let bootKeys = ["init"]

    /// `readiness.http: {port, path, status}`: port required; path `/` and status 200 by default.
    static func httpProbe(_ section: MappingReader) throws -> HTTPProbeSpec? {
        guard let probe = try section.mapping("http", context: "'readiness.http'") else { return nil }
        try probe.checkKeys(allowed: httpKeys)
        let port = try self.port(probe, context: "readiness.http")
        var path = "/"
        if let text = try probe.string("path") {
            let printable = text.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F }
            guard text.hasPrefix("/"), printable else {
                throw SpecError(
                    probe.location("path"),
                    "'path' of readiness.http must start with '/' and have no spaces or control characters, found '\(text)'",
                    hint: "write a request path such as /, /healthz or /status?full=1 (percent-encode spaces as %20)")
            }
            path = text
        }
        var status = 200
        if probe.has("status") {
            guard let value = try? probe.int("status"), (100...599).contains(value) else {
                throw SpecError(
                    probe.location("status"),
                    "'status' of readiness.http must be an HTTP status from 100 to 599, found '\(probe.value("status")?.string ?? "?")'",
                    hint: "write the status the service answers when it is ready, e.g. 200 or 204")
            }
            status = value
        }
        return HTTPProbeSpec(port: port, path: path, status: status, location: probe.document.location(probe.node))
    }

    /// `readiness.tcp: {port}`.
    static func tcpProbe(_ section: MappingReader) throws -> TCPProbeSpec? {
        guard let probe = try section.mapping("tcp", context: "'readiness.tcp'") else { return nil }
        try probe.checkKeys(allowed: tcpKeys)
        return TCPProbeSpec(
            port: try port(probe, context: "readiness.tcp"), location: probe.document.location(probe.node))
    }

    /// A required `port:` from 1 to 65535.
    static func port(_ probe: MappingReader, context: String) throws -> Int {
        guard let node = probe.value("port") else {
            throw probe.missing("port", hint: "add 'port: 80' (the guest's TCP port the service listens on)")
        }
        guard case .scalar(let scalar) = node, let value = Int(scalar.string.trimmingWhitespace()),
            (1...65535).contains(value)
        else {
            throw SpecError(
                probe.location("port"),
                "'port' of \(context) must be a TCP port from 1 to 65535, found '\(node.string ?? YAMLDocument.kind(of: node))'",
                hint: "write the port the service listens on inside the guest, e.g. 80")
        }
        return value
    }

    /// `boot: {init: /sbin/init}`: an absolute path other than `/`; the generated init's sections
    /// (onboot, services, onshutdown) cannot be used with it.
    static func boot(_ section: MappingReader?, services: [ServiceSpec]) throws -> BootSpec? {
        guard let section else { return nil }
        try section.checkKeys(allowed: bootKeys)
        let path = try section.requiredString(
            "init", hint: "add 'init: /sbin/init' (the root's own init, run as PID 1)")
        guard path.hasPrefix("/"), let normalised = PathRules.imagePath(path), !path.contains(" ") else {
            throw SpecError(
                section.location("init"),
                "'init' must be an absolute path inside the root other than '/', found '\(path)'",
                hint: "write the root's own init, e.g. /sbin/init or /lib/systemd/systemd")
        }
        if let first = services.first {
            throw SpecError(
                first.location,
                "'\(first.name)' cannot run: with 'boot.init' the root's own init is PID 1, and Ingot's onboot, services and onshutdown need Ingot's generated init",
                hint:
                    "make it a unit or service of the root's own init (add its files with 'files:' or to the rootfs), or remove 'boot'"
            )
        }
        return BootSpec(initPath: "/" + normalised, location: section.document.location(section.node))
    }
}
