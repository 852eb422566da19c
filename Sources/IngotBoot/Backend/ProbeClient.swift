// One readiness probe attempt from the host: a blocking-with-deadline TCP client on plain POSIX
// sockets (connect, send, read under poll timeouts), small enough that every way it can end is
// named. Through QEMU's user-mode forwarding the host's connect always succeeds while QEMU runs;
// whether the guest accepted shows only afterwards: a connection the guest refuses is closed by
// the forwarder at once, one the guest never answers stays silent. So an HTTP probe needs a
// response, and a TCP probe passes when the connection is held open (or the service speaks) for
// `holdSeconds` — started after the ready marker, once the guest's network is up.

#if canImport(Glibc)
    import Glibc
#endif
import Foundation

/// Runs probe attempts against a host address and port.
public enum ProbeClient {
    /// Makes one attempt of `probe` through `address`:`port`.
    /// - Parameters:
    ///   - timeout: seconds for the connection and the response.
    ///   - holdSeconds: a TCP probe passes when the connection stays open this long.
    public static func attempt(
        _ probe: ReadinessProbe, address: String, port: Int, timeout: Double = 5, holdSeconds: Double = 2
    ) -> ProbeOutcome {
        let deadline = Date().addingTimeInterval(timeout)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return ProbeOutcome(result: .error, detail: "cannot create a socket: \(errnoText())") }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var target = sockaddr_in()
        target.sin_family = sa_family_t(AF_INET)
        target.sin_port = in_port_t(UInt16(clamping: port).bigEndian)
        guard inet_pton(AF_INET, address, &target.sin_addr) == 1 else {
            return ProbeOutcome(result: .error, detail: "\(address) is not an IPv4 address")
        }
        let started = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if started != 0 && errno != EINPROGRESS { return connectFailure(errno, address: address, port: port) }
        if started != 0 {
            guard wait(fd, for: Int16(POLLOUT), until: deadline) else {
                return ProbeOutcome(
                    result: .timeout, detail: "no connection to \(address):\(port) within \(seconds(timeout)) s")
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 { return connectFailure(error, address: address, port: port) }
        }
        switch probe.kind {
        case .http(let path, let status):
            return http(
                fd: fd, path: path, want: status, guestPort: probe.guestPort, host: "\(address):\(port)",
                deadline: deadline, timeout: timeout)
        case .tcp:
            return hold(fd: fd, guestPort: probe.guestPort, seconds: holdSeconds)
        }
    }

    static func connectFailure(_ code: Int32, address: String, port: Int) -> ProbeOutcome {
        if code == ECONNREFUSED {
            return ProbeOutcome(
                result: .refused,
                detail:
                    "connection refused by \(address):\(port) (nothing listens there: the machine's port forward is gone)"
            )
        }
        return ProbeOutcome(
            result: .error, detail: "cannot connect to \(address):\(port): \(String(cString: strerror(code)))")
    }

    /// Sends `GET path` and reads the status line and the first bytes of the body.
    static func http(fd: Int32, path: String, want: Int, guestPort: Int, host: String, deadline: Date, timeout: Double)
        -> ProbeOutcome
    {
        let request = Array(
            "GET \(path) HTTP/1.0\r\nHost: \(host)\r\nUser-Agent: ingot-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
                .utf8)
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EINTR) {
                guard wait(fd, for: Int16(POLLOUT), until: deadline) else {
                    return ProbeOutcome(
                        result: .timeout, detail: "the request could not be sent within \(seconds(timeout)) s")
                }
                continue
            }
            return ProbeOutcome(
                result: .closed,
                detail:
                    "refused: connection closed before the request was sent (nothing listens on guest port \(guestPort))"
            )
        }
        var response: [UInt8] = []
        var ended = false
        var reset = false
        while !ended, response.count < 16384 {
            if let headerEnd = headerEnd(response), response.count - headerEnd >= 200 { break }
            guard wait(fd, for: Int16(POLLIN), until: deadline) else { break }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &chunk, chunk.count, 0)
            if n > 0 {
                response += chunk[0..<n]
            } else if n == 0 {
                ended = true
            } else if errno != EAGAIN && errno != EINTR {
                reset = errno == ECONNRESET
                ended = true
            }
        }
        if response.isEmpty {
            if ended {
                return ProbeOutcome(
                    result: .closed,
                    detail:
                        "refused: connection \(reset ? "reset" : "closed") before any response (nothing listens on guest port \(guestPort))"
                )
            }
            return ProbeOutcome(
                result: .timeout, detail: "no response within \(seconds(timeout)) s (is the guest's network up?)")
        }
        return parse(response, want: want)
    }

    /// Reads `HTTP/1.x NNN reason` and the body's first bytes.
    static func parse(_ response: [UInt8], want: Int) -> ProbeOutcome {
        let text = String(decoding: response, as: UTF8.self)
        let statusLine =
            text.split(separator: "\r\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]), (100...999).contains(status)
        else {
            return ProbeOutcome(
                result: .malformed, body: printable(response), detail: "not an HTTP response: '\(printable(response))'")
        }
        let body = headerEnd(response).map { printable(Array(response[$0...])) } ?? ""
        if status == want {
            return ProbeOutcome(result: .answered, status: status, body: body, detail: "answered \(status)")
        }
        let shown = body.isEmpty ? "an empty body" : "body '\(body)'"
        return ProbeOutcome(
            result: .wrongStatus, status: status, body: body,
            detail: "got status \(status) (want \(want)) with \(shown)")
    }

    /// A TCP probe: the connection must stay open (or the service speak first) for `seconds`.
    static func hold(fd: Int32, guestPort: Int, seconds holdSeconds: Double) -> ProbeOutcome {
        let until = Date().addingTimeInterval(holdSeconds)
        guard wait(fd, for: Int16(POLLIN), until: until) else {
            return ProbeOutcome(result: .answered, detail: "accepted (held open \(seconds(holdSeconds)) s)")
        }
        var chunk = [UInt8](repeating: 0, count: 512)
        let n = recv(fd, &chunk, chunk.count, 0)
        if n > 0 {
            return ProbeOutcome(
                result: .answered, body: printable(Array(chunk[0..<n])),
                detail: "accepted; it said '\(printable(Array(chunk[0..<n])))'")
        }
        let reset = n < 0 && errno == ECONNRESET
        return ProbeOutcome(
            result: .closed,
            detail:
                "refused: connection \(reset ? "reset" : "closed") at once (nothing listens on guest port \(guestPort))"
        )
    }

    /// Index just past the blank line ending the header, if it has arrived.
    static func headerEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4)
        where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i + 4
        }
        return nil
    }

    /// Up to 160 characters, line breaks as spaces, other control bytes as '.'.
    static func printable(_ bytes: [UInt8]) -> String {
        var out = ""
        for byte in bytes.prefix(160) {
            switch byte {
            case 10, 13: if !out.hasSuffix(" ") { out += " " }
            case 32..<127: out.append(Character(UnicodeScalar(byte)))
            default: out += "."
            }
        }
        return out.trimmingCharacters(in: .whitespaces) + (bytes.count > 160 ? "…" : "")
    }

    /// Polls `fd` for `events` until `deadline`; false on timeout.
    static func wait(_ fd: Int32, for events: Int16, until deadline: Date) -> Bool {
        while true {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return false }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let r = poll(&entry, 1, Int32(min(left * 1000, 1000).rounded(.up)))
            if r > 0 { return true }
            if r < 0 && errno != EINTR { return true }  // let the next call report the error
        }
    }

    static func seconds(_ value: Double) -> String { String(format: "%.1f", value) }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
