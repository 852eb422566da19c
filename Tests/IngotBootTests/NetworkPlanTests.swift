// Readiness over the network, without booting: the user-mode network and hostfwd arguments a
// plan gets, boards without a NIC refused by name, the libvirt domain carrying the same network,
// and the probe client and watcher against real local sockets (a port nothing listens on, a
// forwarder that accepts and closes as QEMU's does when the guest refuses, a wrong status).

import Foundation
import IngotContract
import IngotSpec
import Testing

@testable import IngotBoot

struct NetworkPlanTests {
    static func plan(_ board: String, ports: [Int]) throws -> MachinePlan {
        var options = PlanOptions(runDirectory: "/run/x")
        options.forwardPorts = ports
        return try MachinePlan(
            board: try PlanTests.board(board), artifacts: BusPlanTests.disk, options: options, host: PlanTests.host)
    }

    @Test(arguments: ["x86_64-bios", "x86_64-efi", "arm64-efi"])
    func forwardedPortsGetUserModeNetwork(board: String) throws {
        let plan = try Self.plan(board, ports: [80, 2222])
        let network = try #require(plan.network)
        #expect(network.forwards.map(\.guestPort) == [80, 2222])
        let hosts = network.forwards.map(\.hostPort)
        #expect(Set(hosts).count == 2 && hosts.allSatisfy { (1024...65535).contains($0) })
        let netdev = try #require(plan.arguments.firstIndex(of: "-netdev"))
        #expect(
            plan.arguments[netdev + 1]
                == "user,id=ingotnet0,restrict=on,hostfwd=tcp:127.0.0.1:\(hosts[0])-:80,hostfwd=tcp:127.0.0.1:\(hosts[1])-:2222"
        )
        #expect(
            plan.arguments[netdev + 2] == "-device" && plan.arguments[netdev + 3] == "virtio-net-pci,netdev=ingotnet0")
        // Another plan in the same process never gets the same host ports (parallel matrix cells).
        let other = try #require(try Self.plan(board, ports: [80]).network)
        #expect(!hosts.contains(other.forwards[0].hostPort))
        // No probes: no NIC at all.
        let quiet = try Self.plan(board, ports: [])
        #expect(quiet.network == nil && !quiet.arguments.contains("-netdev"))
    }

    @Test func raspiBoardsRefuseNetworkReadinessWithTheReason() throws {
        do {
            _ = try MachinePlan(
                board: try PlanTests.board("rpi3"), artifacts: BusPlanTests.sd,
                options: {
                    var o = PlanOptions(runDirectory: "/run/x", bus: .sd); o.forwardPorts = [80]; return o
                }(),
                host: PlanTests.host)
            Issue.record("rpi3 planned a network it does not have")
        } catch let error as MachinePlan.Error {
            guard case .noNetwork(let board, let machine, let reason) = error else { throw error }
            #expect(board == "rpi3" && machine == "raspi3b" && reason.contains("usb-net"))
            #expect("\(error)".contains("readiness.http/readiness.tcp cannot be checked"))
        }
    }

    @Test func libvirtDomainCarriesTheSameNetwork() throws {
        let plan = try Self.plan("x86_64-efi", ports: [80])
        let board = try PlanTests.board("x86_64-efi")
        let xml = try LibvirtDomainXML.render(plan: plan, board: board, name: "ingot-x86_64-efi-00000000")
        #expect(try LibvirtXMLTests.xmllint(xml) == "")
        let doc = try DomainDocument.parse(xml)
        let args = doc.attributes["domain/qemu:commandline/qemu:arg"]?.map { $0["value"] ?? "" } ?? []
        let netdev = try #require(plan.network?.netdevValue)
        #expect(args == ["-machine", "graphics=off", "-netdev", netdev, "-device", "virtio-net-pci,netdev=ingotnet0"])
        #expect(doc.count("domain/devices/interface") == 0)
        // A remote libvirt host named by IPv4: the forwards listen there and the probe goes there.
        let remote = plan.withForwardAddress(
            try LibvirtBackend.forwardAddress(uri: "qemu+tcp://10.0.0.5/system", board: "x86_64-efi"))
        #expect(remote.arguments.contains { $0.contains("hostfwd=tcp:10.0.0.5:") })
        #expect(throws: LibvirtConnection.Error.self) {
            try LibvirtBackend.forwardAddress(uri: "qemu+ssh://lab/system", board: "x86_64-efi")
        }
    }
}

/// A loopback listener that answers each connection with `reply` (nil: closes it at once, as
/// QEMU's forwarder does when the guest refuses the connection).
final class LocalServer: Sendable {
    let fd: Int32
    let port: Int

    init(reply: String?) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(bound == 0 && listen(fd, 8) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let listener = fd
        let thread = Thread {
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 { return }
                if let reply {
                    var buffer = [UInt8](repeating: 0, count: 2048)
                    _ = recv(client, &buffer, buffer.count, 0)
                    _ = reply.withCString { send(client, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                }
                close(client)
            }
        }
        self.fd = fd
        self.port = Int(UInt16(bigEndian: address.sin_port))
        thread.start()  // a running Thread keeps itself alive; it ends when stop() closes the socket
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

struct ProbeClientTests {
    static let http = ReadinessProbe(kind: .http(path: "/health", status: 200), guestPort: 8080)

    @Test func answeredWrongStatusAndRefused() throws {
        let ok = try LocalServer(reply: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
        defer { ok.stop() }
        let answered = ProbeClient.attempt(Self.http, address: "127.0.0.1", port: ok.port)
        #expect(answered.result == .answered && answered.status == 200 && answered.body == "ok", "\(answered)")

        let broken = try LocalServer(reply: "HTTP/1.1 500 Internal Server Error\r\n\r\ndatabase down")
        defer { broken.stop() }
        let wrong = ProbeClient.attempt(Self.http, address: "127.0.0.1", port: broken.port)
        #expect(wrong.result == .wrongStatus && wrong.status == 500, "\(wrong)")
        #expect(wrong.detail == "got status 500 (want 200) with body 'database down'")

        // QEMU's forwarder accepts, then closes when nothing listens on the guest port.
        let forwarder = try LocalServer(reply: nil)
        defer { forwarder.stop() }
        let closed = ProbeClient.attempt(Self.http, address: "127.0.0.1", port: forwarder.port)
        #expect(closed.result == .closed && closed.detail.hasPrefix("refused:"), "\(closed)")
        let tcpClosed = ProbeClient.attempt(
            ReadinessProbe(kind: .tcp, guestPort: 22), address: "127.0.0.1", port: forwarder.port)
        #expect(tcpClosed.result == .closed, "\(tcpClosed)")

        // Nothing at all on the host port (the machine is gone).
        let free = try #require(HostPorts.shared.reserve())
        let refused = ProbeClient.attempt(Self.http, address: "127.0.0.1", port: free)
        #expect(refused.result == .refused && refused.detail.contains("connection refused"), "\(refused)")
    }

    /// The watcher waits for the probes after the ready marker and fails naming the probe and
    /// what it got; the same probe answering passes the run.
    @Test func watcherVerdictNamesTheProbe() throws {
        let board = try PlanTests.board("x86_64-efi")
        var rules = WatchRules(board: board, directKernelBoot: true, readinessTimeout: 50)
        rules.probes = [Self.http]
        let failing = try StageWatcher(rules: rules)
        _ = failing.feed(Array("Linux version 6.1\n".utf8), at: 1)
        _ = failing.feed(Array((MarkerTestsLines.initLine + "\n" + MarkerTestsLines.readyLine + "\n").utf8), at: 2)
        #expect(failing.probesDue == [0])
        let closed = ProbeOutcome(
            result: .closed,
            detail: "refused: connection reset before any response (nothing listens on guest port 8080)")
        #expect(failing.probeAttempted(0, endpoint: "127.0.0.1:40000", outcome: closed, at: 3) == nil)
        let verdict = try #require(failing.check(at: 51))
        #expect(!verdict.passed && verdict.failedStage == .ready)
        #expect(
            verdict.reason.contains(
                "http GET /health on guest port 8080 (want 200) via 127.0.0.1:40000 did not answer: refused"),
            "\(verdict.reason)")
        #expect(verdict.probes?.first?.last?.result == .closed)

        let passing = try StageWatcher(rules: rules)
        _ = passing.feed(Array("Linux version 6.1\n".utf8), at: 1)
        _ = passing.feed(Array((MarkerTestsLines.initLine + "\n" + MarkerTestsLines.readyLine + "\n").utf8), at: 2)
        let ok = ProbeOutcome(result: .answered, status: 200, detail: "answered 200")
        let passed = try #require(passing.probeAttempted(0, endpoint: "127.0.0.1:40001", outcome: ok, at: 4))
        #expect(passed.passed && passed.reason.contains("answered 200 at 4.0 s"), "\(passed.reason)")
    }
}

/// Framed marker lines as the generated init prints them.
enum MarkerTestsLines {
    static let initLine = "@@INGOT v1 stage=init seq=0 name=x \(crc("v1 stage=init seq=0 name=x"))@@"
    static let readyLine = "@@INGOT v1 stage=ready seq=1 name=x \(crc("v1 stage=ready seq=1 name=x"))@@"
    static func crc(_ text: String) -> String {
        var table = [UInt32](repeating: 0, count: 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
            table[i] = c
        }
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in text.utf8 { crc = (crc >> 8) ^ table[Int((crc ^ UInt32(byte)) & 0xFF)] }
        return String(format: "%08x", ~crc)
    }
}
