// LinuxKit specs as Ingot specs: fixtures shaped like LinuxKit's examples (no `name`, registry
// images, binds.add, capabilities: [all], files with `~` sources) load; each field Ingot refuses
// is named in its error.

import Foundation
import Testing

@testable import IngotSpec

@Suite struct LinuxKitCompatibilityTests {
    /// Every honoured field LinuxKit's examples use, in their shapes.
    static let honoured = """
        kernel:
          image: linuxkit/kernel:6.6.13
          cmdline: "console=tty0 console=ttyS0 console=ttyAMA0"
        init:
          - linuxkit/init:493f0a88594f032e6af4804469934f8658ceefe6
          - linuxkit/runc:8b5af3365fc7d015db4e44113d93c7b1f8e2d2ab
          - linuxkit/ca-certificates@sha256:\(String(repeating: "0f", count: 32))
        onboot:
          - name: sysctl
            image: linuxkit/sysctl:112fe3d480ccb6cd115d9d6c446f9d833f6b8e68
          - name: dhcpcd
            image: linuxkit/dhcpcd:f46134c05f9665d8865a9fbebd5be0995057af28
            command: ["/sbin/dhcpcd", "--nobackground", "-f", "/dhcpcd.conf", "-1"]
        onshutdown:
          - name: shutdown
            image: busybox:latest
            command: ["/bin/echo", "so long and thanks for all the fish"]
        services:
          - name: getty
            image: linuxkit/getty:70237b8ac2006b0177026520e7720fc574339298
            env:
             - INSECURE=true
            binds.add:
              - /var/tmp:/var/tmp
          - name: sshd
            image: linuxkit/sshd:db2374b91531e9fa1ebf63aeccb3963bee2aa771
            capabilities:
             - all
            net: host
            pid: host
            binds:
             - /root/.ssh:/root/.ssh
             - /etc/resolv.conf:/etc/resolv.conf:ro
            binds.add:
             - /run/config/ssh/authorized_keys:/root/.ssh/authorized_keys
          - name: web
            image: registry.example:5000/team/web:1.4
            cwd: /srv
        files:
          - path: var/lib/docker
            directory: true
          - path: etc/docker/daemon.json
            contents: '{"debug": true}'
            mode: "0644"
          - path: root/.ssh/authorized_keys
            source: ~/.ssh/ingot-test-missing-key.pub
            mode: "0600"
            optional: true
          - path: /etc/containerd/runtime-config.toml
            contents: "x"

        """

    @Test func linuxKitShapedSpecLoadsWithLinuxKitMeaning() throws {
        let dir = try Fixture.temporaryDirectory()
        defer { Fixture.cleanup(dir) }
        let path = dir + "/node_exporter.yml"
        try Self.honoured.write(toFile: path, atomically: true, encoding: .utf8)
        let spec = try SpecLoader.load(path: path)
        #expect(spec.name == "node-exporter")
        #expect(spec.hostname == "node-exporter")
        #expect(spec.kernel?.cmdline == "console=tty0 console=ttyS0 console=ttyAMA0")
        guard case .registry(let kernel) = spec.kernel?.image?.ref else {
            Issue.record("kernel image is not a registry reference")
            return
        }
        #expect(kernel.description == "docker.io/linuxkit/kernel:6.6.13")
        #expect(spec.initImages.count == 3)
        #expect(spec.onboot.map(\.name) == ["sysctl", "dhcpcd"])
        #expect(spec.onshutdown.first?.image.ref == .registry(try RegistryReference.parse("busybox:latest")))
        let getty = try #require(spec.services.first { $0.name == "getty" })
        #expect(getty.binds == ["/var/tmp:/var/tmp"])
        let sshd = try #require(spec.services.first { $0.name == "sshd" })
        #expect(sshd.net == .host && sshd.pid == .host && sshd.ipc == .new)
        #expect(
            sshd.binds == [
                "/root/.ssh:/root/.ssh", "/etc/resolv.conf:/etc/resolv.conf:ro",
                "/run/config/ssh/authorized_keys:/root/.ssh/authorized_keys",
            ])
        let key = try #require(spec.files.first { $0.path == "root/.ssh/authorized_keys" })
        #expect(
            key.source == NSHomeDirectory() + "/.ssh/ingot-test-missing-key.pub"
                || key.source?.hasSuffix("/.ssh/ingot-test-missing-key.pub") == true)
        #expect(key.source?.contains("~") == false)
        #expect(spec.files.contains { $0.path == "etc/containerd/runtime-config.toml" })
    }

    @Test func defaultNamesAreHostnameLabels() {
        #expect(SpecLoader.defaultName(forFile: "examples/node_exporter.yml") == "node-exporter")
        #expect(SpecLoader.defaultName(forFile: "platform-equinixmetal.arm64.yml") == "platform-equinixmetal-arm64")
        #expect(SpecLoader.defaultName(forFile: "/x/getty.yaml") == "getty")
        #expect(SpecLoader.defaultName(forFile: "___.yml") == "appliance")
    }

    @Test func refusedFieldsAreNamed() throws {
        let base = "init: [linuxkit/init:v1]\n"
        let service = base + "services:\n  - name: web\n    image: nginx:1.13.8-alpine\n"
        let cases: [(String, String, String)] = [
            (
                service + "    capabilities: [CAP_NET_BIND_SERVICE, CAP_CHOWN]\n",
                "'capabilities' in services entry 'web' lists CAP_NET_BIND_SERVICE, CAP_CHOWN", "5:19"
            ),
            (
                service + "    mounts:\n      - type: cgroup\n", "'mounts' in services entry 'web' is a LinuxKit field",
                "5:5"
            ),
            (
                service + "    runtime:\n      mkdir: [/var/lib/docker]\n",
                "'runtime' in services entry 'web' is a LinuxKit field", "5:5"
            ),
            (service + "    rootfsPropagation: shared\n", "'rootfsPropagation' in services entry 'web'", "5:5"),
            (service + "    readonly: true\n", "'readonly' in services entry 'web'", "5:5"),
            (service + "    net: /run/netns/wg0\n", "'net' must be 'host' or 'new'", "5:10"),
            (base + "volumes:\n- name: blank\n", "'volumes' in the top level is a LinuxKit field", "2:1"),
            (
                base + "files:\n  - path: etc/linuxkit-config\n    metadata: yaml\n", "'metadata' in 'files' entry 1",
                "4:5"
            ),
            (
                "kernel:\n  image: linuxkit/kernel:6.6.13\n  ucode: intel-ucode.cpio\n" + base, "'ucode' in 'kernel'",
                "3:3"
            ),
            (base + "trust:\n  org: [linuxkit]\n", "'trust' in the top level", "2:1"),
        ]
        for (yaml, message, position) in cases {
            let error = try #require(Fixture.specError(yaml))
            #expect(error.message.hasPrefix(message), "\(error)")
            #expect(error.position == position, "\(error)")
            #expect(!error.hint.isEmpty)
        }
    }
}
