// Readiness over the network, as plain values: a probe (HTTP request or TCP connect to a guest
// port), what one attempt got (answered, refused, closed without a response, timed out, a
// wrong status with the first bytes of the body), and the per-probe report a verdict carries.
// Running an attempt is ProbeClient's job; deciding with the results is the stage watcher's.

import Foundation

/// One check the harness makes from the host once the guest says it is ready.
public struct ReadinessProbe: Codable, Equatable, Sendable, CustomStringConvertible {
    /// What is asked.
    public enum Kind: Codable, Equatable, Sendable {
        /// `GET path` must answer `status`.
        case http(path: String, status: Int)
        /// A connection must be accepted (and not closed or reset by the guest).
        case tcp
    }

    /// What is asked.
    public var kind: Kind
    /// The guest's TCP port.
    public var guestPort: Int

    /// Creates a probe.
    public init(kind: Kind, guestPort: Int) {
        self.kind = kind
        self.guestPort = guestPort
    }

    /// `http GET / on guest port 80 (want 200)`, `tcp connect to guest port 22`.
    public var description: String {
        switch kind {
        case .http(let path, let status): return "http GET \(path) on guest port \(guestPort) (want \(status))"
        case .tcp: return "tcp connect to guest port \(guestPort)"
        }
    }

    /// The URL a person would open for this probe through the host port.
    public func url(hostAddress: String, hostPort: Int) -> String {
        switch kind {
        case .http(let path, _): return "http://\(hostAddress):\(hostPort)\(path)"
        case .tcp: return "tcp://\(hostAddress):\(hostPort)"
        }
    }
}

/// What one probe attempt got.
public struct ProbeOutcome: Codable, Equatable, Sendable, CustomStringConvertible {
    /// How the attempt ended.
    public enum Result: String, Codable, Sendable {
        /// The probe is satisfied (the wanted status; a connection accepted).
        case answered
        /// An HTTP response with another status.
        case wrongStatus = "wrong-status"
        /// The host refused the connection (the forwarder is gone).
        case refused
        /// Connected, then closed or reset before any response: nothing listens on the guest
        /// port (QEMU's forwarder accepts on the host and drops the connection when the guest refuses it).
        case closed
        /// No response in time.
        case timeout
        /// Bytes came back that are not an HTTP response.
        case malformed
        /// Anything else (socket errors).
        case error
    }

    /// How the attempt ended.
    public var result: Result
    /// The HTTP status, when one came back.
    public var status: Int?
    /// The first bytes of the body (printable, at most ~200 characters), when a response came back.
    public var body: String?
    /// One sentence for people.
    public var detail: String

    /// Creates an outcome.
    public init(result: Result, status: Int? = nil, body: String? = nil, detail: String) {
        self.result = result
        self.status = status
        self.body = body
        self.detail = detail
    }

    /// True when the probe is satisfied.
    public var answered: Bool { result == .answered }

    public var description: String { detail }
}

/// How one probe went over a run, as verdicts and reports show it.
public struct ProbeReport: Codable, Equatable, Sendable {
    /// The probe.
    public var probe: ReadinessProbe
    /// Where the host reached it (`127.0.0.1:41234`), once known.
    public var endpoint: String?
    /// Attempts made.
    public var attempts: Int
    /// The last attempt's outcome.
    public var last: ProbeOutcome?
    /// Seconds since start at which it first answered (nil: never).
    public var answeredAt: Double?

    /// Creates a report.
    public init(
        probe: ReadinessProbe, endpoint: String? = nil, attempts: Int = 0, last: ProbeOutcome? = nil,
        answeredAt: Double? = nil
    ) {
        self.probe = probe
        self.endpoint = endpoint
        self.attempts = attempts
        self.last = last
        self.answeredAt = answeredAt
    }

    /// True when the probe answered.
    public var passed: Bool { answeredAt != nil }

    /// `http GET / on guest port 80 (want 200) via 127.0.0.1:41234: answered 200 at 31.2 s` or
    /// `... : connection closed before any response (9 attempts)`.
    public var summary: String {
        let via = endpoint.map { " via \($0)" } ?? ""
        if let answeredAt {
            return "\(probe)\(via): \(last?.detail ?? "answered") at \(String(format: "%.1f", answeredAt)) s"
        }
        guard let last else { return "\(probe)\(via): never attempted" }
        return "\(probe)\(via): \(last.detail) (\(attempts) attempt\(attempts == 1 ? "" : "s"))"
    }
}
