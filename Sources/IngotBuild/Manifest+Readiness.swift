// What the build records about readiness in its manifest, so `ingot test` — which reads the build,
// not the spec — checks the same things the matrix does: the spec's console pattern, the
// network probes (`readiness.http` / `readiness.tcp`), and whether the image prints Ingot's
// ready marker at all (a root's own init other than systemd does not).

import IngotSpec

/// The spec's readiness rules as the harness needs them.
public struct ReadinessRecord: Codable, Equatable, Sendable {
    /// `readiness.http`.
    public struct HTTP: Codable, Equatable, Sendable {
        public var port: Int
        public var path: String
        public var status: Int
    }
    /// `readiness.tcp`.
    public struct TCP: Codable, Equatable, Sendable {
        public var port: Int
    }

    /// The spec's console pattern (regular expression), if any.
    public var pattern: String?
    /// `readiness.timeout`: seconds from power-on.
    public var timeoutSeconds: Double
    public var http: HTTP?
    public var tcp: TCP?
    /// True when the image prints Ingot's framed ready marker (the generated init, or the unit
    /// Ingot adds to a systemd root); false: readiness is the pattern or the probes alone.
    public var marker: Bool
    /// The root's own init (`boot.init`), if the image has one.
    public var ownInit: String?

    /// The record of `spec`.
    /// - Parameter marker: whether the composed image prints the ready marker.
    public init(spec: ApplianceSpec, marker: Bool) {
        let readiness = spec.readiness
        pattern = readiness.pattern
        timeoutSeconds = readiness.timeoutSeconds
        http = readiness.http.map { HTTP(port: $0.port, path: $0.path, status: $0.status) }
        tcp = readiness.tcp.map { TCP(port: $0.port) }
        self.marker = marker
        ownInit = spec.boot?.initPath
    }

    /// True when readiness is checked over the network.
    public var needsNetwork: Bool { http != nil || tcp != nil }

    /// The guest ports the harness forwards (http first, no repeats).
    public var guestPorts: [Int] {
        var ports: [Int] = []
        for port in [http?.port, tcp?.port].compactMap({ $0 }) where !ports.contains(port) { ports.append(port) }
        return ports
    }
}
