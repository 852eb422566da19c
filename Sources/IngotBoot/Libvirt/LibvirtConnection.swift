// The C seam to libvirt's connection handle: open a URI, close it in deinit, and turn libvirt's
// last-error record into one thrown error type that names the URI and says what to do.

import CLibvirt
import Foundation

/// One open libvirt connection (`virConnectPtr`), local (`qemu:///system`) or remote
/// (`qemu+tcp://HOST/system`). Thread-safe as libvirt's connections are; closed on deinit.
// @unchecked: only immutable lets; the C handle is freed once, in deinit, and libvirt's connection calls are thread-safe.
public final class LibvirtConnection: @unchecked Sendable {
    /// Errors from libvirt calls: each names the URI (and domain) and what to do.
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        /// The daemon could not be reached or refused the connection.
        case unreachable(uri: String, message: String)
        /// A libvirt call failed.
        case call(uri: String, operation: String, domain: String?, message: String)
        /// The board or plan cannot be expressed as a libvirt domain.
        case unsupported(board: String, reason: String)
        /// The console stream failed before a verdict.
        case console(uri: String, domain: String, message: String)
        /// The run was cancelled; the domain was destroyed.
        case cancelled(uri: String, domain: String)

        public var description: String {
            switch self {
            case .unreachable(let uri, let message):
                let local = uri.contains(":///")
                let hint =
                    local
                    ? "is libvirtd running? run ci/libvirt-start (as root)"
                    : "is libvirtd listening there (listen_tcp = 1, libvirtd -l)? for test hosts run ci/libvirt-hosts up N"
                return "cannot connect to libvirt at \(uri): \(message); \(hint)"
            case .call(let uri, let operation, let domain, let message):
                let what = domain.map { " for domain \($0)" } ?? ""
                return
                    "libvirt \(operation)\(what) at \(uri) failed: \(message); check the daemon's log (/var/log/libvirt/qemu/) and the domain XML"
            case .unsupported(let board, let reason):
                return "board \(board) cannot run under libvirt: \(reason); use the QEMU backend instead"
            case .console(let uri, let domain, let message):
                return
                    "console of domain \(domain) at \(uri) failed: \(message); check that the domain has a pty serial console"
            case .cancelled(let uri, let domain):
                return "the run was cancelled; domain \(domain) at \(uri) was destroyed"
            }
        }
    }

    /// The URI this connection was opened with.
    public let uri: String
    let pointer: OpaquePointer

    /// Opens a read-write connection.
    /// - Parameter uri: a libvirt URI such as `qemu:///system` or `qemu+tcp://10.123.0.1/system`.
    /// - Throws: `Error.unreachable` naming the URI and what to start.
    public init(uri: String) throws {
        Self.setUp
        guard let pointer = virConnectOpen(uri) else {
            throw Error.unreachable(uri: uri, message: Self.lastErrorMessage())
        }
        self.uri = uri
        self.pointer = pointer
    }

    deinit {
        virConnectClose(pointer)
    }

    /// The daemon's library version (`9.0.0`), a cheap liveness check.
    public func libraryVersion() throws -> String {
        var version: UInt = 0
        try check(virConnectGetLibVersion(pointer, &version), "GetLibVersion")
        return "\(version / 1_000_000).\(version / 1000 % 1000).\(version % 1000)"
    }

    /// The names of the running domains.
    public func runningDomainNames() throws -> [String] {
        var domains: UnsafeMutablePointer<OpaquePointer?>?
        let count = virConnectListAllDomains(pointer, &domains, UInt32(VIR_CONNECT_LIST_DOMAINS_ACTIVE.rawValue))
        try check(count, "ListAllDomains")
        guard let domains else { return [] }
        defer { free(domains) }
        var names: [String] = []
        for index in 0..<Int(count) {
            guard let domain = domains[index] else { continue }
            if let name = virDomainGetName(domain) { names.append(String(cString: name)) }
            virDomainFree(domain)
        }
        return names.sorted()
    }

    /// Turns a negative return code into a thrown error carrying libvirt's last message.
    @discardableResult
    func check(_ code: Int32, _ operation: String, domain: String? = nil) throws -> Int32 {
        guard code < 0 else { return code }
        throw Error.call(uri: uri, operation: operation, domain: domain, message: Self.lastErrorMessage())
    }

    /// libvirt's last error on this thread, or a generic text.
    static func lastErrorMessage() -> String {
        guard let error = virGetLastError(), let message = error.pointee.message else { return "unknown libvirt error" }
        return String(cString: message)
    }

    /// One-time library set-up: thread-safe initialisation and no default error printing to
    /// stderr (errors are thrown instead).
    private static let setUp: Void = {
        _ = virInitialize()
        virSetErrorFunc(nil, { _, _ in })
    }()
}
