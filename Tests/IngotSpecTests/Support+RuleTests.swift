// The small rules: hostname labels, sizes, suggestions, image reference parsing and path resolution.

import Testing

@testable import IngotSpec
import IngotContract

@Suite struct SupportRuleTests {
    @Test(arguments: ["hello", "a", "web-1", "A0", String(repeating: "x", count: 63)])
    func validHostnames(_ name: String) {
        #expect(PathRules.isHostnameLabel(name))
    }

    @Test(arguments: ["", "-a", "a-", "a_b", "a.b", "héllo", "a b", String(repeating: "x", count: 64)])
    func invalidHostnames(_ name: String) {
        #expect(!PathRules.isHostnameLabel(name))
    }

    @Test func sizes() {
        #expect(parseByteSize("64M") == 64 * 1024 * 1024)
        #expect(parseByteSize("1G") == 1 << 30)
        #expect(parseByteSize("512K") == 512 * 1024)
        #expect(parseByteSize("1.5G") == 3 << 29)
        #expect(parseByteSize("64MiB") == 64 << 20)
        #expect(parseByteSize("2 T") == 2 << 40)
        #expect(parseByteSize("4096") == 4096)
        #expect(parseByteSize("64m") == 64 << 20)
        for bad in ["", "M", "-1M", "0", "1X", "lots", "1.2.3M", "0.3B", "99999999999T"] {
            #expect(parseByteSize(bad) == nil, "\(bad)")
        }
    }

    @Test func suggestions() {
        let keys = ["name", "hostname", "services", "onboot", "onshutdown", "files"]
        #expect(suggestion(for: "servics", among: keys) == "services")
        #expect(suggestion(for: "Onbot", among: keys) == "onboot")
        #expect(suggestion(for: "file", among: keys) == "files")
        #expect(suggestion(for: "zzzzzz", among: keys) == nil)
        #expect(suggestion(for: "rpi5", among: ["rpi3", "rpi4", "x86_64-efi"]) == "rpi3")
        #expect(suggestion(for: "x86_64", among: ["x86_64-bios", "x86_64-efi", "arm64-efi"]) == "x86_64-efi")
        #expect(editDistance("kitten", "sitting") == 3)
        #expect(editDistance("", "abc") == 3)
    }

    @Test func imageReferences() throws {
        let here = SourceLocation(file: "s.yml", line: 1, column: 1)
        func parse(_ text: String) throws -> ImageRef {
            try ImageRef.parse(text, baseDirectory: "/base/dir", location: here)
        }
        #expect(try parse("deb:busybox-static") == .deb(name: "busybox-static", version: nil))
        #expect(try parse("deb:busybox-static=1:1.35.0-4+b3") == .deb(name: "busybox-static", version: "1:1.35.0-4+b3"))
        #expect(try parse("deb-file:./pkgs/foo.deb") == .debFile(path: "/base/dir/pkgs/foo.deb"))
        #expect(try parse("oci-layout:./img") == .ociLayout(path: "/base/dir/img", tag: nil))
        #expect(try parse("oci-layout:./img:v1") == .ociLayout(path: "/base/dir/img", tag: "v1"))
        #expect(try parse("oci-layout:/abs/img:latest") == .ociLayout(path: "/abs/img", tag: "latest"))
        #expect(try parse("oci-archive:img.tar") == .ociArchive(path: "/base/dir/img.tar"))
        #expect(try parse("docker-archive:../img.tar") == .dockerArchive(path: "/base/img.tar"))
        #expect(try parse("tar:./rootfs.tar.zst") == .tar(path: "/base/dir/rootfs.tar.zst"))
        #expect(try parse("tar:r.tgz") == .tar(path: "/base/dir/r.tgz"))
        #expect(try parse("dir:./overlay") == .directory(path: "/base/dir/overlay"))
        // Plain references are registry images (ImageRef+Registry.swift).
        #expect(
            try parse("linuxkit/init:v1.0") == .registry(try RegistryReference.parse("docker.io/linuxkit/init:v1.0")))
        #expect(try parse("busybox") == .registry(try RegistryReference.parse("docker.io/library/busybox:latest")))
        for bad in [
            "linuxkit/Init:v1.0", "Busybox", "docker.io/library/alpine:.3", "deb:Busybox", "deb:", "tar:./x.zip",
            "dir:", "oci:./x",
        ] {
            #expect(throws: SpecError.self, "\(bad)") { try parse(bad) }
        }
    }

    @Test func pathRules() {
        #expect(PathRules.resolve("./a/../b//c", against: "/x/y") == "/x/y/b/c")
        #expect(PathRules.resolve("/abs", against: "/x") == "/abs")
        #expect(PathRules.imagePath("/etc/motd") == "etc/motd")
        #expect(PathRules.imagePath("./etc//motd/") == "etc/motd")
        #expect(PathRules.imagePath("a/../b") == nil)
        #expect(PathRules.imagePath("/") == nil)
        #expect(SourceLocation(file: "f.yml", line: 3, column: 7).description == "f.yml:3:7")
    }
}
