// Debian packages: control parsing, .deb reading (built here with dpkg-deb), downloads for a
// foreign architecture through apt, metapackages, lock enforcement and error texts.

import Foundation
import IngotSpec
import Testing

@testable import IngotSources

@Suite struct DebianTests {
    @Test func parsesControlStanzas() {
        let text =
            "Package: a\nVersion: 1:2.0-1\nDescription: short\n long line\n .\n more\n\nPackage: b\nDepends: x (>= 1) | y, z:any\n"
        let s = Debian.parseStanzas(text)
        #expect(s.count == 2)
        #expect(s[0]["Version"] == "1:2.0-1")
        #expect(s[0]["Description"] == "short\nlong line\n.\nmore")
        #expect(Debian.dependencyNames(s[1]["Depends"] ?? "") == ["x", "z"])
    }

    /// Builds a tiny .deb with dpkg-deb (the standard tool) in `dir`.
    func buildDeb(_ dir: TempDir, arch: String = "arm64") throws -> String {
        try dir.write(
            "pkg/DEBIAN/control",
            "Package: ingot-demo\nVersion: 1.2-3\nArchitecture: \(arch)\nMaintainer: t <t@e>\nDescription: demo\n")
        try dir.write("pkg/usr/share/ingot-demo/hello", "hello\n")
        let out = dir.path + "/ingot-demo_1.2-3_\(arch).deb"
        let (rc, log) = try sh(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", dir.path + "/pkg", out])
        #expect(rc == 0, "\(log)")
        return out
    }

    @Test func readsLocalDeb() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let deb = try buildDeb(dir)
        let store = try makeStore(dir)
        let r = SourceResolver(store: store, lock: nil, arch: .arm64, logger: nil)
        let p = try r.debFile(deb)
        #expect(p.name == "ingot-demo")
        #expect(p.version == "1.2-3")
        #expect(p.arch == "arm64")
        #expect(p.debDigest == (try Digest.of(fileAt: deb)))
        guard case .archive(let path, let digest) = p.data.source else {
            Issue.record("data layer is not an archive")
            return
        }
        #expect(try archiveListing(path).contains("./usr/share/ingot-demo/hello"))
        // The data layer is the member dpkg-deb wrote, inflated once into an uncompressed tar.
        let (rc, out) = try sh(["sh", "-c", "ar p '\(deb)' data.tar.xz | xz -dc | sha256sum"])
        #expect(rc == 0)
        #expect(out.hasPrefix(digest.hex))
        // Via the spec path too.
        let image = try await r.resolve(ref: .debFile(path: deb))
        #expect(image.inputs.first?.origin == deb)
    }

    @Test func truncatedDebNamesTheFile() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let deb = try buildDeb(dir)
        let data = try Data(contentsOf: URL(fileURLWithPath: deb))
        let cut = dir.path + "/cut.deb"
        try data.prefix(data.count - 200).write(to: URL(fileURLWithPath: cut))
        let store = try makeStore(dir)
        let r = SourceResolver(store: store, lock: nil, arch: .arm64, logger: nil)
        #expect { try r.debFile(cut) } throws: { error in
            let text = "\(error)"
            return text.contains(cut) && (text.contains("runcated") || text.contains("corrupt"))
        }
    }

    @Test(.enabled(if: aptHasArm64)) func downloadsBusyboxForArm64() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try makeStore(dir)
        let r = SourceResolver(store: store, lock: nil, arch: .arm64, logger: nil)
        let p = try await r.package("busybox-static", version: nil)
        #expect(p.name == "busybox-static")
        #expect(p.arch == "arm64")
        #expect(p.control["Architecture"] == "arm64")
        #expect(p.input.locked == false)
        #expect(p.input.origin.hasPrefix("http"))
        guard case .archive(let path, _) = p.data.source else {
            Issue.record("data layer is not an archive")
            return
        }
        #expect(try archiveListing(path).contains("./bin/busybox"))
        // The standard tool agrees on the .deb.
        let (rc, arch) = try sh(["dpkg-deb", "-f", p.debPath, "Architecture"])
        #expect(rc == 0)
        #expect(arch.trimmingCharacters(in: .whitespacesAndNewlines) == "arm64")
        // apt's own metadata has the same sha256.
        let (_, show) = try sh(["apt-cache", "show", "--no-all-versions", "busybox-static:arm64=\(p.version)"])
        #expect(show.contains("SHA256: \(p.debDigest.hex)"))

        // Locked with the right digest: served from the store, marked locked.
        let lock = LockFile(packages: [
            .init(
                name: "busybox-static", arch: "arm64", version: p.version, sha256: p.debDigest.hex, filename: p.filename
            )
        ])
        let locked = try await SourceResolver(store: store, lock: lock, arch: .arm64, logger: nil).package(
            "busybox-static", version: nil)
        #expect(locked.input.locked)
        #expect(locked.debDigest == p.debDigest)
        // Pinned packages name the lock entry as their origin, warm cache or cold.
        #expect(locked.input.origin == "lock \(p.filename)")
    }

    @Test(.enabled(if: aptHasArm64)) func lockMismatchNamesBothDigests() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try makeStore(dir)
        let (_, show) = try sh(["apt-cache", "show", "--no-all-versions", "busybox-static:arm64"])
        let fields = Debian.parseStanzas(show).first ?? [:]
        let version = try #require(fields["Version"])
        let real = try #require(fields["SHA256"])
        let fake = String(repeating: "ab", count: 32)
        let lock = LockFile(packages: [
            .init(name: "busybox-static", arch: "arm64", version: version, sha256: fake, filename: "x.deb")
        ])
        let r = SourceResolver(store: store, lock: lock, arch: .arm64, logger: nil)
        await #expect { try await r.package("busybox-static", version: nil) } throws: { error in
            let text = "\(error)"
            return text.contains(fake) && text.contains(real) && text.contains("busybox-static")
                && text.contains("ingot lock")
        }
    }

    @Test(.enabled(if: aptHasArm64)) func unknownPackageErrorSaysWhatToDo() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try makeStore(dir)
        let r = SourceResolver(store: store, lock: nil, arch: .arm64, logger: nil)
        await #expect { try await r.package("ingot-no-such-package", version: nil) } throws: { error in
            let text = "\(error)"
            return text.contains("'ingot-no-such-package'") && text.contains("arm64") && text.contains("apt-get update")
                && text.contains("non-free-firmware")
        }
        let spec = ImageSpec(
            ref: .deb(name: "ingot-no-such-package", version: nil), raw: "deb:ingot-no-such-package",
            location: SourceLocation(file: "spec.yml", line: 3, column: 5))
        await #expect { try await r.resolve(spec) } throws: { "\($0)".hasPrefix("spec.yml:3:5:") }
    }

    @Test(.enabled(if: aptHasArm64)) func kernelMetapackageResolvesToVersionedPackage() async throws {
        for arch in ["amd64", "arm64"] {
            let c = try await Apt(logger: nil).resolveMetapackage(name: "linux-image-\(arch)", arch: arch)
            #expect(c.name.hasPrefix("linux-image-6."))
            #expect(c.name.hasSuffix("-\(arch)"))
            #expect(!Apt.isMetapackage(c))
            #expect(c.sha256?.count == 64)
        }
        // Architecture-independent packages resolve through ':all'.
        let fw = try await Apt(logger: nil).show(name: "raspi-firmware", arch: "arm64", version: nil)
        #expect(fw.aptArch == "all")
    }
}
