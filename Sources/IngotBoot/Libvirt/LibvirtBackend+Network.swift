// Readiness probes through a libvirt host: QEMU's user-mode network with its port forwards is
// passed through `<qemu:commandline>` (see LibvirtDomainXML), so the forwarded ports listen on the
// machine QEMU runs on. For a local daemon that is 127.0.0.1; for a remote one, its own address
// (the host named by IPv4 in the URI), which the probe then connects to.

#if canImport(Glibc)
    import Glibc
#endif
import Foundation

extension LibvirtBackend {
    /// The address forwarded ports listen on (and probes connect to) for `uri`.
    /// - Throws: `LibvirtConnection.Error.unsupported` for a remote host not named by an IPv4 address.
    static func forwardAddress(uri: String, board: String) throws -> String {
        guard let schemeEnd = uri.range(of: "://") else { return "127.0.0.1" }
        var authority = String(uri[schemeEnd.upperBound...].prefix { $0 != "/" && $0 != "?" })
        if let at = authority.lastIndex(of: "@") { authority = String(authority[authority.index(after: at)...]) }
        if let colon = authority.lastIndex(of: ":") { authority = String(authority[..<colon]) }
        if authority.isEmpty || authority == "localhost" { return "127.0.0.1" }
        var address = in_addr()
        guard inet_pton(AF_INET, authority, &address) == 1 else {
            throw LibvirtConnection.Error.unsupported(
                board: board,
                reason:
                    "readiness probes reach the guest through a port QEMU forwards on the libvirt host, and \(authority) in \(uri) is not an IPv4 address the probe can connect to; name the host by its IPv4 address (qemu+tcp://10.0.0.5/system)"
            )
        }
        return authority
    }
}

extension MachinePlan {
    /// The plan with its forwarded ports listening on `address` instead of 127.0.0.1.
    public func withForwardAddress(_ address: String) -> MachinePlan {
        guard var network, network.hostAddress != address else { return self }
        let old = network.netdevValue
        network.hostAddress = address
        var plan = self
        plan.network = network
        plan.arguments = arguments.map { $0 == old ? network.netdevValue : $0 }
        return plan
    }
}
