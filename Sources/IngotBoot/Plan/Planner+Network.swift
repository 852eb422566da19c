// The guest's network for readiness probes: QEMU's user-mode network (slirp) with one host port
// on 127.0.0.1 forwarded to each guest port the spec probes, and the NIC the board's kernel
// drives (virtio-net-pci on q35 and virt). `restrict=on` keeps the guest off the host's and
// every other network: only the forwarded ports (and slirp's own DHCP) reach it. Host ports are
// picked free per run (so parallel matrix cells never collide) and checked again just before
// QEMU starts; a port taken in between is replaced in the plan.

#if canImport(Glibc)
    import Glibc
#endif
import Foundation
import Synchronization
import IngotSpec

/// The user-mode network of one machine: the NIC and the forwarded ports.
public struct GuestNetwork: Codable, Equatable, Sendable {
    /// One forwarded TCP port.
    public struct Forward: Codable, Equatable, Sendable {
        /// The guest's port (what the spec probes).
        public var guestPort: Int
        /// The port on the host's loopback address that reaches it.
        public var hostPort: Int

        /// Creates a forward.
        public init(guestPort: Int, hostPort: Int) {
            self.guestPort = guestPort
            self.hostPort = hostPort
        }
    }

    /// QEMU's netdev id.
    public static let netdevID = "ingotnet0"

    /// The host address the forwards listen on (never a public one).
    public var hostAddress: String = "127.0.0.1"
    /// The QEMU NIC device (`virtio-net-pci`, `usb-net`).
    public var device: String
    /// The forwards, in the order asked.
    public var forwards: [Forward]

    /// Creates a network.
    public init(device: String, forwards: [Forward], hostAddress: String = "127.0.0.1") {
        self.device = device
        self.forwards = forwards
        self.hostAddress = hostAddress
    }

    /// The host port forwarded to `guestPort`, if any.
    public func hostPort(forGuest guestPort: Int) -> Int? {
        forwards.first { $0.guestPort == guestPort }?.hostPort
    }

    /// `-netdev user,...` value.
    public var netdevValue: String {
        (["user", "id=\(Self.netdevID)", "restrict=on"]
            + forwards.map { "hostfwd=tcp:\(hostAddress):\($0.hostPort)-:\($0.guestPort)" }).joined(separator: ",")
    }

    /// `-device ...` value.
    public var deviceValue: String { "\(device),netdev=\(Self.netdevID)" }

    /// The QEMU arguments.
    public var arguments: [String] { ["-netdev", netdevValue, "-device", deviceValue] }
}

extension Planner {
    /// The NIC for this board's machine: the board's `emulation.nic`, else virtio-net-pci on the
    /// PCI machines (q35, virt).
    /// - Throws: `.noNetwork` when the emulated machine has no NIC the guest's kernel drives.
    func nicDevice() throws -> String {
        if let nic = emulation.nic { return nic }
        switch family {
        case .pc, .virt: return "virtio-net-pci"
        case .raspi, .other:
            throw MachinePlan.Error.noNetwork(
                board: board.name, machine: emulation.machine,
                reason: emulation.nicMissing ?? "the board profile names no NIC for it (emulation.nic)")
        }
    }

    /// The user-mode network forwarding a free host port to each of `guestPorts`.
    mutating func network(guestPorts: [Int]) throws -> GuestNetwork {
        let device = try nicDevice()
        var forwards: [GuestNetwork.Forward] = []
        for port in guestPorts {
            guard let hostPort = host.freeLocalPort() else {
                throw MachinePlan.Error.scratchFailed(
                    path: "127.0.0.1",
                    reason: "no free TCP port on the host's loopback address to forward guest port \(port) to")
            }
            forwards.append(.init(guestPort: port, hostPort: hostPort))
        }
        let network = GuestNetwork(device: device, forwards: forwards)
        notes.append(
            "user-mode network (\(device), restricted to the forwards): "
                + forwards.map { "127.0.0.1:\($0.hostPort) -> guest \($0.guestPort)" }.joined(separator: ", "))
        return network
    }
}

extension MachinePlan {
    /// The plan with every forwarded host port still free on this host: a port something else
    /// took since planning is replaced by a fresh one (in `network` and in the arguments).
    public func withFreeForwards() -> MachinePlan {
        guard var network, !network.forwards.isEmpty else { return self }
        let old = network.netdevValue
        var changed = false
        for index in network.forwards.indices where !HostPorts.shared.isFree(network.forwards[index].hostPort) {
            if let port = HostPorts.shared.reserve() {
                network.forwards[index].hostPort = port
                changed = true
            }
        }
        guard changed else { return self }
        var plan = self
        plan.network = network
        plan.arguments = arguments.map { $0 == old ? network.netdevValue : $0 }
        plan.notes.append("forwarded ports re-picked at start (the planned ones were taken): \(network.netdevValue)")
        return plan
    }
}

extension BootHost {
    /// A TCP port free on 127.0.0.1, not handed out before in this process.
    public func freeLocalPort() -> Int? { HostPorts.shared.reserve() }
}

/// Free loopback ports for forwards. The kernel picks one (bind to port 0); ports handed out are
/// remembered so two cells planned in one process never get the same one.
public final class HostPorts: Sendable {
    /// The process-wide allocator.
    public static let shared = HostPorts()
    private let handedOut = Mutex<Set<Int>>([])

    /// A free port, or nil when none could be had.
    public func reserve() -> Int? {
        for _ in 0..<32 {
            guard let port = Self.bind(port: 0) else { return nil }
            let fresh = handedOut.withLock { $0.insert(port).inserted }
            if fresh { return port }
        }
        return nil
    }

    /// True when `port` can be bound on 127.0.0.1 now (with SO_REUSEADDR, as QEMU binds it).
    public func isFree(_ port: Int) -> Bool { Self.bind(port: port) != nil }

    /// Binds a TCP socket to 127.0.0.1:`port` (0: any), closes it and returns the port bound.
    static func bind(port: Int) -> Int? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { return nil }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return nil }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
