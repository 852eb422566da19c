// `deb:` closures against a repository the test builds: apt's solver picks Depends and
// Pre-Depends (Recommends only when asked), the lock pins every package and its closure, drift
// is reported by name, a vanished pinned version is refused with the fix, two providers of one
// file are refused (unless one Replaces the other or diverts it), and the maintainer-script
// stand-in layer holds accounts, alternatives, the CA bundle and an ld.so.cache that the host's
// ldconfig reads back.

import Foundation
import IngotSpec
import IngotTree
import IngotTestSupport
import Testing

@testable import IngotSources

@Suite struct ClosureTests {
    /// A resolver for `arch` on the fake repository with its own store.
    func resolver(_ repo: FakeAptRepo, _ dir: TempDir, arch: Architecture = .arm64, lock: LockFile? = nil) throws
        -> SourceResolver
    {
        var r = SourceResolver(store: try makeStore(dir), lock: lock, arch: arch, logger: nil)
        r.aptConfig = repo.aptConfig
        return r
    }

    /// app → libapp (Depends), base (Pre-Depends); Recommends: extra.
    func basicRepo() throws -> FakeAptRepo {
        let repo = try FakeAptRepo()
        try repo.add(
            .init(
                name: "app", version: "1.0", arch: "arm64",
                fields: ["Depends": "libapp (>= 1.0)", "Pre-Depends": "base", "Recommends": "extra"],
                files: ["usr/bin/app": "#!/bin/sh\necho app\n"]))
        try repo.add(.init(name: "libapp", version: "1.0", arch: "arm64", files: ["usr/lib/libapp.txt": "lib 1.0\n"]))
        try repo.add(.init(name: "base", version: "3", files: ["usr/share/base/README": "base\n"]))
        try repo.add(.init(name: "extra", version: "1", files: ["usr/share/extra/README": "extra\n"]))
        try repo.publish()
        return repo
    }

    @Test func closureFollowsDependsAndPreDependsNotRecommends() async throws {
        let repo = try basicRepo()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let r = try resolver(repo, dir)
        let c = try await r.closure(DebianRequest(packages: ["app"]))
        #expect(c.packages.map(\.name) == ["app", "base", "libapp"])
        #expect(c.packages.allSatisfy { !$0.input.locked })
        let with = try await r.closure(DebianRequest(packages: ["app"], recommends: true))
        #expect(with.packages.map(\.name) == ["app", "base", "extra", "libapp"])
        // Each package landed in the store once, as the .deb apt verified.
        for p in with.packages {
            let file = repo.root + "/repo/" + p.filename
            #expect(p.debDigest == (try Digest.of(fileAt: file)), "\(p.name)")
        }
        // The layers are uncompressed tars whose listing has the package files.
        let app = try #require(c.packages.first { $0.name == "app" })
        guard case .archive(let tar, _) = app.data.source else {
            Issue.record("no archive layer")
            return
        }
        #expect(try archiveListing(tar).contains("./usr/bin/app"))
        let (rc, kind) = try sh(["file", "-b", tar])
        #expect(rc == 0 && kind.contains("tar archive"), "\(kind)")
        // The ledger lists every package with what used it.
        #expect(r.ledger.packages.map(\.name) == ["app", "base", "extra", "libapp"])
        #expect(r.ledger.packages.first { $0.name == "app" }?.usedBy == ["deb:app", "deb:app?recommends"])
    }

    @Test func lockPinsTheClosureAndDriftIsNamed() async throws {
        let repo = try basicRepo()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try makeStore(dir)
        // `ingot lock` for a spec with deb:app on arm64.
        var locker = SourceResolver(store: store, lock: nil, arch: .arm64, logger: nil)
        locker.aptConfig = repo.aptConfig
        let pins = try await locker.fetchClosure(DebianRequest(packages: ["app"]))
        let lock = LockFile(
            packages: pins.map {
                .init(name: $0.name, arch: "arm64", version: $0.version, sha256: $0.sha256, filename: $0.filename)
            },
            closures: [.init(request: "app", arch: "arm64", packages: pins.map(\.name))])
        let path = dir.path + "/lock.json"
        try lock.save(path: path)
        let loaded = try LockFile.load(path: path)
        #expect(loaded == lock)
        #expect(loaded.closure(DebianRequest(packages: ["app"]), arch: "arm64")?.1.count == 3)

        var r = SourceResolver(store: store, lock: loaded, arch: .arm64, logger: nil)
        r.aptConfig = repo.aptConfig
        let c = try await r.closure(DebianRequest(packages: ["app"]))
        #expect(c.packages.allSatisfy { $0.input.locked })
        #expect(c.warnings.allSatisfy { !$0.contains("drifted") }, "\(c.warnings)")

        // The mirror moves libapp to 1.1 and drops 1.0: the pinned 1.0 is still built (it is in
        // the store) and the drift is named.
        try repo.add(.init(name: "libapp", version: "1.1", arch: "arm64", files: ["usr/lib/libapp.txt": "lib 1.1\n"]))
        try repo.remove("libapp", version: "1.0", arch: "arm64")
        try repo.publish()
        let drifted = try await r.closure(DebianRequest(packages: ["app"]))
        #expect(drifted.packages.first { $0.name == "libapp" }?.version == "1.0")
        #expect(
            drifted.warnings.contains { $0.contains("libapp drifted") && $0.contains("1.0") && $0.contains("1.1") },
            "\(drifted.warnings)")

        // With a cold store the pinned version cannot be fetched any more: refused, with the fix.
        let cold = try TempDir()
        defer { cold.cleanup() }
        var r2 = SourceResolver(store: try makeStore(cold), lock: loaded, arch: .arm64, logger: nil)
        r2.aptConfig = repo.aptConfig
        await #expect { try await r2.closure(DebianRequest(packages: ["app"])) } throws: { error in
            let t = "\(error)"
            return t.contains("libapp 1.0") && t.contains("no longer offers") && t.contains("1.1")
                && t.contains("ingot lock")
        }
    }

    @Test func unresolvableAndMissingPackagesSayWhatAptSays() async throws {
        let repo = try FakeAptRepo()
        try repo.add(
            .init(name: "broken", version: "1", arch: "arm64", fields: ["Depends": "ingot-missing-lib (>= 2)"]))
        try repo.add(.init(name: "x86only", version: "1", arch: "amd64", files: ["usr/bin/x": "x\n"]))
        try repo.publish()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let r = try resolver(repo, dir)
        await #expect { try await r.closure(DebianRequest(packages: ["broken"])) } throws: { error in
            let t = "\(error)"
            return t.contains("'broken'") && t.contains("ingot-missing-lib") && t.contains("arm64")
        }
        await #expect { try await r.closure(DebianRequest(packages: ["x86only"])) } throws: { error in
            let t = "\(error)"
            return t.contains("'x86only'") && t.contains("does not exist for arm64") && t.contains("amd64")
        }
        await #expect { try await r.closure(DebianRequest(packages: ["ingot-nothing-like-it"])) } throws: { error in
            "\(error)".contains("'ingot-nothing-like-it'") && "\(error)".contains("not known to apt")
        }
    }

    @Test func twoProvidersOfOneFileAreRefusedUnlessReplacedOrDiverted() async throws {
        let repo = try FakeAptRepo()
        try repo.add(.init(name: "clash", version: "1", fields: ["Depends": "tool-a, tool-b"]))
        try repo.add(.init(name: "tool-a", version: "1", files: ["usr/bin/tool": "a\n"]))
        try repo.add(.init(name: "tool-b", version: "1", files: ["usr/bin/tool": "b\n"]))
        // zz-tool Replaces tool-a: it wins even though its layer sorts last... and first.
        try repo.add(.init(name: "fine", version: "1", fields: ["Depends": "tool-a, aa-tool"]))
        try repo.add(
            .init(name: "aa-tool", version: "1", fields: ["Replaces": "tool-a"], files: ["usr/bin/tool": "aa\n"]))
        // A diversion: wrapper moves tool-a's file aside and ships its own.
        try repo.add(
            .init(
                name: "wrapped", version: "1", fields: ["Depends": "tool-a"], files: ["usr/bin/tool": "wrapper\n"],
                scripts: [
                    "preinst":
                        "#!/bin/sh\nset -e\ndpkg-divert --package wrapped --add --rename --divert /usr/bin/tool.real /usr/bin/tool\n"
                ]))
        try repo.publish()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let r = try resolver(repo, dir)
        await #expect { try await r.closure(DebianRequest(packages: ["clash"])) } throws: { error in
            let t = "\(error)"
            return t.contains("/usr/bin/tool") && t.contains("tool-a") && t.contains("tool-b")
        }
        for (request, expected) in [("fine", "aa\n"), ("wrapped", "wrapper\n")] {
            let c = try await r.closure(DebianRequest(packages: [request]))
            let tree = try FileTree()
            for p in c.packages { try apply(p.data, to: tree) }
            if let l = c.configuration { try apply(l, to: tree) }
            let tool = try #require(tree.lookup("/usr/bin/tool")?.content, "\(request)")
            #expect(String(decoding: try tree.bytes(of: tool), as: UTF8.self) == expected, "\(request)")
            if request == "wrapped" {
                let real = try #require(tree.lookup("/usr/bin/tool.real")?.content)
                #expect(String(decoding: try tree.bytes(of: real), as: UTF8.self) == "a\n")
            }
        }
    }

    @Test func maintainerScriptStandIns() async throws {
        let repo = try FakeAptRepo()
        let dir = try TempDir()
        defer { dir.cleanup() }
        // A real shared object with a SONAME, in a directory only ld.so.conf.d names.
        let lib = dir.path + "/libingotdemo.so.1.0"
        try dir.write("demo.c", "int ingot_demo(void) { return 42; }\n")
        let (cc, ccLog) = try sh([
            "gcc", "-shared", "-fPIC", "-Wl,-soname,libingotdemo.so.1", "-o", lib, dir.path + "/demo.c",
        ])
        try #require(cc == 0, "\(ccLog)")
        try repo.add(
            .init(
                name: "svc", version: "1", arch: "amd64",
                fields: ["Depends": "editor-a, editor-b, certs, libingotdemo1"],
                files: ["usr/sbin/svc": "svc\n"],
                scripts: [
                    "postinst": """
                    #!/bin/sh
                    set -e
                    SVCUSER=svcuser
                    case "$1" in
                      configure)
                        if ! getent passwd "$SVCUSER" >/dev/null; then
                          adduser --system --group --home /var/lib/svc --no-create-home --quiet "$SVCUSER"
                        fi
                        addgroup --system svcadmins
                        adduser svcuser svcadmins
                        useradd -r -g www-data -d /srv/web -s /bin/false webuser
                        dropbearkey -t rsa -f /etc/svc/key
                        ;;
                      abort-upgrade|abort-remove)
                        ;;
                    esac

                    """
                ]))
        try repo.add(
            .init(
                name: "editor-a", version: "1", files: ["usr/bin/ed-a": "a\n", "usr/share/man/ed-a.1": "a\n"],
                scripts: [
                    "postinst":
                        "#!/bin/sh\nupdate-alternatives --install /usr/bin/editor editor /usr/bin/ed-a 10 --slave /usr/share/man/editor.1 editor.1 /usr/share/man/ed-a.1\n"
                ]))
        try repo.add(
            .init(
                name: "editor-b", version: "1", files: ["usr/bin/ed-b": "b\n"],
                scripts: [
                    "postinst":
                        "#!/bin/sh\nupdate-alternatives --quiet --install /usr/bin/editor editor /usr/bin/ed-b 50\n"
                ]))
        try repo.add(
            .init(
                name: "certs", version: "1",
                files: [
                    "usr/share/ca-certificates/test/b.crt":
                        "-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----",
                    "usr/share/ca-certificates/test/a.crt":
                        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                ],
                scripts: ["postinst": "#!/bin/sh\nupdate-ca-certificates --fresh >/dev/null\n"]))
        try repo.add(
            .init(
                name: "libingotdemo1", version: "1", arch: "amd64",
                files: [
                    "etc/ld.so.conf.d/ingotdemo.conf": "/opt/ingotdemo/lib\n",
                    "opt/ingotdemo/lib/libingotdemo.so.1": "->libingotdemo.so.1.0",
                ],
                hostFiles: ["opt/ingotdemo/lib/libingotdemo.so.1.0": lib]))
        try repo.publish()
        let r = try resolver(repo, dir, arch: .amd64)
        let c = try await r.closure(DebianRequest(packages: ["svc"]))
        let layer = try #require(c.configuration)
        let tree = try FileTree()
        for p in c.packages { try apply(p.data, to: tree) }
        try apply(layer, to: tree)
        func text(_ p: String) throws -> String {
            let c = try #require(tree.lookup(p)?.content, "\(p) missing")
            return String(decoding: try tree.bytes(of: c), as: UTF8.self)
        }
        let passwd = try text("/etc/passwd")
        let group = try text("/etc/group")
        #expect(passwd.hasPrefix("root:*:0:0:root:/root:/bin/bash\n"))
        #expect(passwd.contains("www-data:*:33:33:"))
        // adduser --system --group: the lowest free id from 100 (100 is the users group, so the
        // group takes 101 while the user has 100); useradd -r: from the top.
        #expect(passwd.contains("svcuser:*:100:101::/var/lib/svc:/usr/sbin/nologin\n"), "\(passwd)")
        #expect(group.contains("svcuser:*:101:\n"), "\(group)")
        #expect(group.contains("svcadmins:*:102:svcuser\n"), "\(group)")
        #expect(passwd.contains("webuser:*:999:33::/srv/web:/bin/false\n"), "\(passwd)")
        // update-alternatives: the higher priority wins; slaves of the loser are not made.
        if case .symlink(let t) = tree.lookup("/usr/bin/editor")?.kind {
            #expect(t == "/etc/alternatives/editor")
        } else {
            Issue.record("/usr/bin/editor is not a symlink")
        }
        if case .symlink(let t) = tree.lookup("/etc/alternatives/editor")?.kind {
            #expect(t == "/usr/bin/ed-b")
        } else {
            Issue.record("/etc/alternatives/editor is not a symlink")
        }
        #expect(tree.lookup("/usr/share/man/editor.1") == nil)
        // The CA bundle: every certificate under /usr/share/ca-certificates, sorted, newline-ended.
        #expect(
            try text("/etc/ssl/certs/ca-certificates.crt")
                == "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n"
        )
        #expect(try text("/etc/ca-certificates.conf").hasSuffix("test/a.crt\ntest/b.crt\n"))
        if case .symlink(let t) = tree.lookup("/etc/ssl/certs/a.pem")?.kind {
            #expect(t == "/usr/share/ca-certificates/test/a.crt")
        } else {
            Issue.record("/etc/ssl/certs/a.pem missing")
        }
        // What is not reproduced is named with the package and the script.
        #expect(c.warnings.contains { $0.contains("svc postinst") && $0.contains("dropbearkey") }, "\(c.warnings)")
        #expect(
            !c.warnings.contains {
                $0.contains("adduser") || $0.contains("update-alternatives") || $0.contains("configure")
            })
        // ld.so.cache: the host's ldconfig reads it and finds the library where ld.so.conf.d says.
        let cache = try #require(tree.lookup("/etc/ld.so.cache")?.content)
        let cacheFile = dir.path + "/ld.so.cache"
        try Data(try tree.bytes(of: cache)).write(to: URL(fileURLWithPath: cacheFile))
        let (lrc, listing) = try sh(["/sbin/ldconfig", "-p", "-C", cacheFile])
        #expect(lrc == 0, "\(listing)")
        #expect(
            listing.contains("libingotdemo.so.1 (libc6,x86-64) => /opt/ingotdemo/lib/libingotdemo.so.1"), "\(listing)")
        // The layer is cached: a second resolution finds the same blob.
        let again = try await r.closure(DebianRequest(packages: ["svc"]))
        if case .archive(_, let d1) = layer.source, case .archive(_, let d2)? = again.configuration?.source {
            #expect(d1 == d2)
        }
    }

    func apply(_ layer: Layer, to tree: FileTree) throws {
        guard case .archive(let path, _) = layer.source else { return }
        try tree.applyLayer(archive: path, label: layer.origin)
    }
}
