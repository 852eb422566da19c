// Real Debian software in appliances, end to end as a user runs it: `deb:` closures of curl,
// python3, nginx-light and dropbear built for x86_64 and (cross, as uid 65534) arm64, booted
// under QEMU, each program printing its marker on the console; nginx serves a page that busybox
// wget fetches inside the guest and dropbear answers with its banner. The manifest lists every
// package and the SPDX SBOM validates; `ingot lock --spec` pins every closure package; bad
// input (unresolvable, wrong arch, two providers of one file, a pinned version the mirror lost)
// exits non-zero and leaves nothing in -o.

import Foundation
import IngotTestSupport
import Testing

@Suite(.serialized) struct ClosureBootTests {
    static let spec = """
        name: closures
        hostname: closures
        init:
          - deb:busybox-static
        onboot:
          - name: curl
            image: deb:curl
            command: ["/usr/bin/curl", "--version"]
          - name: python
            image: deb:python3
            command: ["/usr/bin/python3", "-c", "import sys, json, sqlite3, ssl, pwd; print('INGOT-PYTHON-OK', '%d.%d' % sys.version_info[:2], pwd.getpwnam('www-data').pw_uid)"]
          - name: dropbear-version
            image: deb:dropbear
            command: ["/usr/sbin/dropbear", "-V"]
          - name: nginx-test
            image: deb:nginx-light
            command: ["/usr/sbin/nginx", "-t"]
        services:
          - name: web
            image: deb:nginx-light
            command: ["/usr/sbin/nginx", "-g", "daemon off;"]
            net: host
            binds:
              - /srv/www:/var/www/html:ro
          - name: ssh
            image: deb:dropbear
            command: ["/usr/sbin/dropbear", "-F", "-E", "-R", "-p", "2222"]
            net: host
            binds:
              - /run/dropbear-keys:/etc/dropbear
          - name: probe
            image: deb:busybox-static
            net: host
            command: ["/bin/busybox", "sh", "-c", "web=0; ssh=0; for i in $(seq 240); do if [ $web = 0 ] && wget -q -O - http://127.0.0.1/ | grep -q INGOT-NGINX-PAGE; then web=1; echo INGOT-WEB-OK > /dev/console; fi; if [ $ssh = 0 ] && nc -w 3 127.0.0.1 2222 </dev/null | grep -q SSH-2.0-dropbear; then ssh=1; echo INGOT-SSH-OK > /dev/console; fi; [ $web$ssh = 11 ] && break; sleep 0.5; done; exec sleep 100000"]
        files:
          - path: srv/www/index.html
            contents: "INGOT-NGINX-PAGE\\n"
            mode: "0644"
        readiness:
          timeout: 240

        """

    static let nobody = [
        "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
        "--bounding-set=-all",
    ]

    /// ci/test runs the cross-built arm64 case (x86_64 Debian software boots in
    /// nginxExampleBootsFromDisk); the full tier runs both.
    @Test(arguments: TestEnvironment.tiered(["arm64-efi"], nightly: ["x86_64-bios"]))
    func debianProgramsRunAtBoot(board: String) throws {
        let dir = try E2E.tempDir("closures-\(board)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try E2E.write(Self.spec, to: dir + "/closures.yml")
        // arm64 is cross-built as uid 65534 with its own cache; x86_64 uses the shared one.
        var prefix: [String] = []
        var env: [String: String] = [:]
        if board.hasPrefix("arm64") {
            let cache = try E2E.tempDir("closures-cache")
            prefix = Self.nobody
            env = ["INGOT_CACHE": cache, "HOME": "/nonexistent", "TMPDIR": dir]
        }
        defer { if let c = env["INGOT_CACHE"] { try? FileManager.default.removeItem(atPath: c) } }
        let out = dir + "/o"
        // A disk image: four closures (perl comes with dropbear through usrmerge) make an initramfs
        // too large for QEMU to load within the kernel stage's timeout under TCG.
        let build = try E2E.ingot(
            ["build", dir + "/closures.yml", "--board", board, "-o", out], prefix: prefix, env: env)
        try #require(build.status == 0, "\(build.all.suffix(3000))")
        // Maintainer scripts that did something the image lacks are named with package and script.
        #expect(
            build.stderr.contains("dropbear-bin postinst") || build.stderr.contains("dropbear postinst"),
            "\(build.stderr.suffix(2000))")

        let prefixPath = "\(out)/closures-\(board)"
        let manifest =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: prefixPath + ".manifest.json"))) as? [String: Any]
        let packages = try #require(manifest?["packages"] as? [[String: Any]])
        let names = Set(packages.compactMap { $0["name"] as? String })
        for n in [
            "curl", "libcurl4", "libc6", "python3", "python3.11-minimal", "nginx", "nginx-light", "dropbear-bin",
            "busybox-static",
        ] {
            #expect(names.contains(n), "\(n) missing from the manifest's packages")
        }
        #expect(names.contains { $0.hasPrefix("linux-image-6.") })
        #expect(
            packages.allSatisfy {
                (($0["sha256"] as? String)?.count ?? 0) == 64 && ($0["version"] as? String)?.isEmpty == false
            })
        // libc6 is stored and listed once although four closures use it.
        let libc = packages.filter { ($0["name"] as? String) == "libc6" }
        #expect(libc.count == 1)
        let users: Set<String> = Set((libc.first?["usedBy"] as? [String]) ?? [])
        #expect(users.isSuperset(of: ["deb:curl", "deb:python3", "deb:dropbear", "deb:nginx-light"]), "\(users)")
        try SBOMCheck.validate(prefixPath + ".spdx.json", packages: packages.count)

        let log = dir + "/console.log"
        let test = try E2E.ingot(["test", prefixPath, "--log", log, "--settle", "30"])
        let console = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(test.status == 0, "\(test.all.suffix(2000))\n\(console.suffix(3000))")
        #expect(console.contains("curl 7.88"), "curl did not print its version")
        #expect(console.contains("INGOT-PYTHON-OK 3.11 33"), "python3 did not run (or www-data is not uid 33)")
        #expect(console.contains("Dropbear v2022"), "dropbear -V did not print its version")
        #expect(console.contains("configuration file /etc/nginx/nginx.conf test is successful"), "nginx -t failed")
        for step in ["curl", "python", "dropbear-version", "nginx-test"] {
            #expect(console.contains("name=\(step) status=ok"), "onboot step \(step) did not succeed")
        }
        #expect(
            console.contains("INGOT-WEB-OK"), "busybox wget did not get the page from nginx\n\(console.suffix(3000))")
        #expect(console.contains("INGOT-SSH-OK"), "dropbear did not answer with its banner\n\(console.suffix(3000))")
        #expect(!console.contains("status=restarting"), "a service kept failing")
    }

    /// examples/nginx.yml as a disk image (squashfs root): nginx -t passes and the service runs.
    @Test func nginxExampleBootsFromDisk() throws {
        let dir = try E2E.tempDir("nginx-example")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let build = try E2E.ingot(["build", "examples/nginx.yml", "--board", "x86_64-bios", "-o", dir])
        try #require(build.status == 0, "\(build.all.suffix(3000))")
        let log = dir + "/console.log"
        let test = try E2E.ingot(["test", dir + "/nginx-x86_64-bios", "--log", log, "--settle", "5"])
        let console = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(test.status == 0, "\(test.all.suffix(2000))\n\(console.suffix(2000))")
        #expect(console.contains("name=config-test status=ok"))
        #expect(console.contains("name=web status=started") && !console.contains("name=web status=restarting"))
    }

    /// examples/curl.yml builds and boots (arm64, cross-built, kernel+initrd); full tier only:
    /// debianProgramsRunAtBoot boots cross-built arm64 Debian software in ci/test.
    @Test(.nightly) func curlExampleBoots() throws {
        let dir = try E2E.tempDir("curl-example")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let build = try E2E.ingot([
            "build", "examples/curl.yml", "--board", "arm64-efi", "--format", "kernel+initrd", "-o", dir,
        ])
        try #require(build.status == 0, "\(build.all.suffix(3000))")
        let log = dir + "/console.log"
        let test = try E2E.ingot(["test", dir + "/curl-arm64-efi", "--log", log])
        #expect(test.status == 0, "\(test.all.suffix(2000))")
        let console = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(console.contains("curl 7.88.1 (aarch64-unknown-linux-gnu)"))
    }

    /// `ingot lock --spec` pins every package of every closure; a build with that lock installs
    /// exactly the pins (every package locked) and a pin the mirror lost is refused with the fix.
    @Test func lockPinsEveryClosurePackage() throws {
        let dir = try E2E.tempDir("closure-lock")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lockPath = dir + "/lock.json"
        let lock = try E2E.ingot(["lock", "--spec", "examples/curl.yml", "--board", "arm64-efi", "--lock", lockPath])
        try #require(lock.status == 0, "\(lock.all)")
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: lockPath))) as? [String: Any]
        let closures = try #require(json?["closures"] as? [[String: Any]])
        let curl = try #require(
            closures.first { ($0["request"] as? String) == "curl" && ($0["arch"] as? String) == "arm64" })
        let members = try #require(curl["packages"] as? [String])
        #expect(members.contains("libc6") && members.contains("libcurl4") && members.contains("curl"))
        let entries = try #require(json?["packages"] as? [[String: Any]])
        for m in members {
            #expect(
                entries.contains {
                    ($0["name"] as? String) == m && ($0["arch"] as? String) == "arm64"
                        && ($0["sha256"] as? String)?.count == 64
                }, "\(m) not pinned")
        }
        let out = dir + "/o"
        let build = try E2E.ingot([
            "build", "examples/curl.yml", "--board", "arm64-efi", "--format", "kernel+initrd", "--lock", lockPath, "-o",
            out,
        ])
        try #require(build.status == 0, "\(build.all.suffix(2000))")
        #expect(!build.stderr.contains("does not pin"), "\(build.stderr)")
        let manifest =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: out + "/curl-arm64-efi.manifest.json"))) as? [String: Any]
        let packages = try #require(manifest?["packages"] as? [[String: Any]])
        #expect(
            packages.allSatisfy { ($0["locked"] as? Bool) == true },
            "unlocked: \(packages.filter { ($0["locked"] as? Bool) != true }.map { $0["name"] ?? "?" })")

        // Pin curl to a version the mirror does not have (and the cache cannot hold).
        var text = try String(contentsOfFile: lockPath, encoding: .utf8)
        let version = try #require(
            (entries.first { ($0["name"] as? String) == "curl" && ($0["arch"] as? String) == "arm64" })?["version"]
                as? String)
        let sha = try #require(
            (entries.first { ($0["name"] as? String) == "curl" && ($0["arch"] as? String) == "arm64" })?["sha256"]
                as? String)
        text = text.replacingOccurrences(of: "\"version\" : \"\(version)\"", with: "\"version\" : \"7.0.0-ingot-gone\"")
            .replacingOccurrences(of: sha, with: String(repeating: "e", count: 64))
        try E2E.write(text, to: lockPath)
        let gone = dir + "/gone"
        let r = try E2E.ingot([
            "build", "examples/curl.yml", "--board", "arm64-efi", "--format", "kernel+initrd", "--lock", lockPath, "-o",
            gone,
        ])
        #expect(r.status != 0)
        #expect(
            r.stderr.contains("curl 7.0.0-ingot-gone") && r.stderr.contains("no longer offers")
                && r.stderr.contains("ingot lock"), "\(r.stderr)")
        #expect(E2E.listing(gone).isEmpty, "outputs were left in -o")
    }

    /// Bad input: each exits non-zero with apt's reason and leaves -o empty.
    @Test func badClosuresAreRefused() throws {
        let dir = try E2E.tempDir("closure-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // The kernel comes from the lock and the shared cache; warm it with a normal build.
        let warm = try E2E.ingot([
            "build", "examples/hello.yml", "--board", "arm64-efi", "--format", "kernel+initrd", "-o", dir + "/warm",
        ])
        try #require(warm.status == 0, "\(warm.all)")
        let repo = try FakeAptRepo()
        try repo.add(
            .init(name: "broken", version: "1", arch: "arm64", fields: ["Depends": "ingot-missing-lib (>= 2)"]))
        try repo.add(.init(name: "x86only", version: "1", arch: "amd64", files: ["usr/bin/x": "x\n"]))
        try repo.add(.init(name: "clash", version: "1", fields: ["Depends": "tool-a, tool-b"]))
        try repo.add(.init(name: "tool-a", version: "1", files: ["usr/bin/tool": "a\n"]))
        try repo.add(.init(name: "tool-b", version: "1", files: ["usr/bin/tool": "b\n"]))
        try repo.publish()
        let cases: [(image: String, says: [String])] = [
            ("deb:broken", ["'broken'", "ingot-missing-lib", "arm64"]),
            ("deb:x86only", ["'x86only'", "does not exist for arm64", "amd64"]),
            ("deb:clash", ["/usr/bin/tool", "tool-a", "tool-b"]),
            ("deb:ingot-nothing-like-it", ["'ingot-nothing-like-it'", "not known to apt"]),
        ]
        for (i, c) in cases.enumerated() {
            try E2E.write("name: bad\ninit:\n  - \(c.image)\n", to: dir + "/bad\(i).yml")
            let out = dir + "/out\(i)"
            let r = try E2E.ingot(
                ["build", dir + "/bad\(i).yml", "--board", "arm64-efi", "--format", "kernel+initrd", "-o", out],
                env: ["APT_CONFIG": repo.aptConfig])
            #expect(r.status != 0, "\(c.image) built")
            for s in c.says { #expect(r.stderr.contains(s), "\(c.image): '\(s)' not in: \(r.stderr)") }
            #expect(
                r.stderr.contains("bad\(i).yml:3:"), "\(c.image): the error does not name the spec line: \(r.stderr)")
            #expect(E2E.listing(out).isEmpty, "\(c.image): outputs were left in -o")
        }
    }
}

/// Checks an SPDX 2.3 JSON document: the required fields, with our own parse, and the SPDX
/// project's validator (pyspdxtools from spdx-tools, installed by ci/bootstrap).
enum SBOMCheck {
    static let validator = ["/opt/ingot-tools/bin/pyspdxtools", "/usr/local/bin/pyspdxtools"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    static func validate(_ path: String, packages count: Int) throws {
        let doc = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        #expect(doc["spdxVersion"] as? String == "SPDX-2.3")
        #expect(doc["dataLicense"] as? String == "CC0-1.0")
        #expect(doc["SPDXID"] as? String == "SPDXRef-DOCUMENT")
        #expect((doc["name"] as? String)?.isEmpty == false)
        #expect((doc["documentNamespace"] as? String)?.hasPrefix("https://") == true)
        let info = try #require(doc["creationInfo"] as? [String: Any])
        #expect((info["created"] as? String)?.hasSuffix("Z") == true)
        #expect((info["creators"] as? [String])?.first?.hasPrefix("Tool: ingot-") == true)
        let pkgs = try #require(doc["packages"] as? [[String: Any]])
        #expect(pkgs.count == count + 1, "one SPDX package per installed package plus the appliance")
        for p in pkgs {
            #expect((p["SPDXID"] as? String)?.hasPrefix("SPDXRef-") == true)
            #expect(p["name"] != nil && p["downloadLocation"] != nil && p["filesAnalyzed"] as? Bool == false)
        }
        for p in pkgs.dropFirst() {
            let sums = p["checksums"] as? [[String: String]]
            #expect(sums?.first?["algorithm"] == "SHA256" && sums?.first?["checksumValue"]?.count == 64)
            let refs = p["externalRefs"] as? [[String: String]]
            #expect(refs?.first?["referenceLocator"]?.hasPrefix("pkg:deb/debian/") == true)
        }
        let rels = try #require(doc["relationships"] as? [[String: Any]])
        #expect(
            rels.contains {
                $0["relationshipType"] as? String == "DESCRIBES" && $0["spdxElementId"] as? String == "SPDXRef-DOCUMENT"
            })
        #expect(rels.filter { $0["relationshipType"] as? String == "CONTAINS" }.count == count)

        guard let validator else {
            #expect(ProcessInfo.processInfo.environment["CI"] != "true", "pyspdxtools is missing; run ci/bootstrap")
            return
        }
        let ok = try run([validator, "-i", path])
        #expect(ok.status == 0 && !ok.output.lowercased().contains("error"), "pyspdxtools: \(ok.output)")
        // The validator must be able to fail: a document without a name is refused.
        var broken = doc
        broken.removeValue(forKey: "name")
        let bad = path + ".broken.json"
        try JSONSerialization.data(withJSONObject: broken).write(to: URL(fileURLWithPath: bad))
        defer { unlink(bad) }
        let no = try run([validator, "-i", bad])
        #expect(
            no.status != 0 || no.output.lowercased().contains("error") || no.output.contains("name"),
            "pyspdxtools accepted a broken document")
    }

    /// Runs argv with stderr merged into stdout.
    static func run(_ argv: [String]) throws -> (status: Int32, output: String) {
        let r = try Command.run(argv[0], Array(argv.dropFirst()), mergeStandardError: true)
        return (r.status, r.stdout)
    }
}
