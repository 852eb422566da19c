// A LinuxKit-style spec (no `name`, plain registry references, capabilities: [all], net: host)
// whose images live in a docker-registry the test starts on 127.0.0.1: `ingot build` pulls them,
// the same build succeeds again with `--offline` after the registry is stopped, the manifest
// records each image's reference and digest, and the kernel+initrd image boots to ready.

import Foundation
import IngotSystem
import Testing

/// The tools the test needs; under CI=true the test runs (and fails) without them.
let registryBootToolsPresent: Bool = {
    if ProcessInfo.processInfo.environment["CI"] == "true" { return true }
    return ["/usr/bin/docker-registry", "/usr/bin/skopeo", "/bin/busybox"].allSatisfy {
        FileManager.default.fileExists(atPath: $0)
    }
}()

@Suite(.serialized, .enabled(if: registryBootToolsPresent, "needs docker-registry, skopeo, python3, busybox-static"))
struct RegistryBootTests {
    /// A busybox image (static host busybox, amd64) as an OCI layout, made with python3.
    static func busyboxLayout(in dir: String) throws -> String {
        let script = #"""
            import hashlib, json, os, sys, tarfile, io
            out = sys.argv[1]
            os.makedirs(out + "/blobs/sha256", exist_ok=True)
            def blob(data):
                h = hashlib.sha256(data).hexdigest()
                open(f"{out}/blobs/sha256/{h}", "wb").write(data)
                return "sha256:" + h, len(data)
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
                for d in ["bin", "etc"]:
                    i = tarfile.TarInfo(d); i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)
                data = open("/bin/busybox", "rb").read()
                i = tarfile.TarInfo("bin/busybox"); i.size = len(data); i.mode = 0o755; t.addfile(i, io.BytesIO(data))
                i = tarfile.TarInfo("bin/sh"); i.type = tarfile.SYMTYPE; i.linkname = "busybox"; t.addfile(i)
            layer, lsize = blob(buf.getvalue())
            config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                      "rootfs": {"type": "layers", "diff_ids": [layer]}}
            c, csize = blob(json.dumps(config).encode())
            m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                 "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": csize},
                 "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": lsize}]}
            md, msize = blob(json.dumps(m).encode())
            index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                     "digest": md, "size": msize, "annotations": {"org.opencontainers.image.ref.name": "1"}}]}
            open(out + "/index.json", "w").write(json.dumps(index))
            open(out + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
            """#
        try E2E.write(script, to: dir + "/layout.py")
        let layout = dir + "/busybox-layout"
        #expect(try shellOutput("python3 \(dir)/layout.py \(layout) && echo ok").contains("ok"))
        return layout
    }

    @Test func linuxKitSpecWithRegistryImagesBuildsOfflineAndBoots() throws {
        let dir = try E2E.tempDir("registry-boot")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port =
            Int(
                try shellOutput(
                    "python3 -c \"import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])\""
                )
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        try E2E.write(
            """
            version: 0.1
            log:
              level: error
            storage:
              filesystem:
                rootdirectory: \(dir)/storage
            http:
              addr: 127.0.0.1:\(port)
              secret: ingot-test

            """, to: dir + "/registry.yml")
        let registry = try ChildProcess.spawn(
            ChildProcess.Configuration(
                "/usr/bin/docker-registry", ["serve", dir + "/registry.yml"], standardOutput: .null,
                standardError: .null))
        defer {
            registry.terminate()
            _ = registry.waitBlocking()
        }
        let host = "127.0.0.1:\(port)"
        var up = false
        for _ in 0..<100 where !up {
            up = (try? shellOutput("curl -s -o /dev/null -w '%{http_code}' http://\(host)/v2/")) == "200"
            if !up { usleep(100_000) }
        }
        try #require(up, "docker-registry did not start")
        let layout = try Self.busyboxLayout(in: dir)
        let push = try shellOutput(
            "skopeo copy --quiet --dest-tls-verify=false oci:\(layout):1 docker://\(host)/ingot/busybox:1 2>&1 && echo pushed"
        )
        try #require(push.contains("pushed"), "\(push)")

        // A LinuxKit-shaped spec: no name, plain references, LinuxKit fields.
        let spec = dir + "/lk_hello.yml"
        try E2E.write(
            """
            kernel:
              cmdline: "console=ttyS0"
            init:
              - \(host)/ingot/busybox:1
            onboot:
              - name: greet
                image: \(host)/ingot/busybox:1
                command: ["/bin/busybox", "echo", "hello from a registry image"]
            services:
              - name: web
                image: \(host)/ingot/busybox:1
                capabilities:
                  - all
                net: host
                binds.add:
                  - /tmp:/tmp
                command: ["/bin/busybox", "sleep", "100000"]

            """, to: spec)
        let out = dir + "/out"
        let build = try E2E.ingot([
            "build", spec, "--board", "x86_64-efi", "--format", "kernel+initrd", "-o", out, "--registry-http", host,
        ])
        try #require(build.status == 0, "\(build.all)")
        let prefix = "\(out)/lk-hello-x86_64-efi"
        let manifest = try String(contentsOfFile: prefix + ".manifest.json", encoding: .utf8)
        #expect(manifest.contains("docker://\(host)/ingot/busybox:1@sha256:"), "\(manifest)")

        // Registry stopped: --offline builds the same outputs from the store alone.
        registry.terminate()
        _ = registry.waitBlocking()
        let offlineOut = dir + "/offline"
        let offline = try E2E.ingot([
            "build", spec, "--board", "x86_64-efi", "--format", "kernel+initrd", "-o", offlineOut, "--offline",
        ])
        try #require(offline.status == 0, "\(offline.all)")
        for name in E2E.listing(out) {
            #expect(
                FileManager.default.contentsEqual(atPath: "\(out)/\(name)", andPath: "\(offlineOut)/\(name)"),
                "\(name) differs")
        }
        // Without --offline the stopped registry is an error naming it.
        let online = try E2E.ingot([
            "build", spec, "--board", "x86_64-efi", "--format", "kernel+initrd", "-o", dir + "/x", "--registry-http",
            host,
        ])
        #expect(online.status != 0)
        #expect(online.all.contains("cannot reach registry \(host)"), "\(online.all)")

        let test = try E2E.ingot(["test", prefix, "--log", dir + "/console.log"])
        #expect(test.status == 0, "\(test.all)")
        let console = (try? String(contentsOfFile: dir + "/console.log", encoding: .utf8)) ?? ""
        #expect(console.contains("name=greet status=ok"), "\(console.suffix(2000))")
        #expect(console.contains("name=web status=started"))
    }
}
