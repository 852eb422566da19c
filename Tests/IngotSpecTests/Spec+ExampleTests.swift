// The shipped examples (examples/hello.yml, examples/full.yml) load and mean what they say.

import Foundation
import Testing

@testable import IngotSpec

@Suite struct ExampleSpecTests {
    @Test func helloLoads() throws {
        let path = Fixture.examplesDirectory + "/hello.yml"
        let spec = try SpecLoader.load(path: path)
        #expect(spec.name == "hello")
        #expect(spec.hostname == "hello")
        #expect(spec.sourcePath == path)
        #expect(spec.baseDirectory == Fixture.examplesDirectory)
        #expect(spec.initImages.map(\.ref) == [.deb(name: "busybox-static", version: nil)])
        #expect(spec.initImages.first?.location.description == "\(path):9:5")
        let greet = try #require(spec.onboot.first)
        #expect(greet.name == "greet")
        #expect(greet.image.ref == .deb(name: "busybox-static", version: nil))
        #expect(greet.command.first == "/bin/busybox")
        #expect(greet.binds == ["/var/lib/hello:/var/lib/hello"])
        #expect(greet.net == .new)
        let web = try #require(spec.services.first)
        #expect(web.name == "web")
        #expect(web.command == ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"])
        #expect(web.net == .host && web.pid == .new)
        #expect(web.binds == ["/var/lib/hello:/www:ro"])
        #expect(spec.onshutdown.isEmpty)
        let motd = try #require(spec.files.first)
        #expect(motd.path == "etc/motd")
        #expect(motd.contents == "Welcome to the hello appliance, built by Ingot.\n")
        #expect(motd.mode == 0o644)
        #expect(motd.uid == 0 && motd.gid == 0 && !motd.directory && motd.source == nil)
        #expect(spec.data == DataSpec(mount: "/var/lib/hello", size: 64 << 20, filesystem: "ext4"))
        #expect(spec.readiness == Readiness(pattern: nil, timeoutSeconds: 120))
        #expect(spec.kernel == nil)
    }

    @Test func fullExampleLoadsEveryField() throws {
        let path = Fixture.examplesDirectory + "/full.yml"
        let spec = try SpecLoader.load(path: path)
        #expect(spec.name == "full" && spec.hostname == "full-demo")
        let kernel = try #require(spec.kernel)
        #expect(kernel.package == "linux-image-amd64" && kernel.image == nil)
        #expect(kernel.cmdline == "quiet loglevel=3")
        #expect(
            spec.initImages.map(\.ref) == [
                .deb(name: "busybox-static", version: nil),
                .directory(path: Fixture.examplesDirectory + "/full/overlay"),
            ])
        #expect(spec.onboot.map(\.name) == ["mkdirs"])
        #expect(spec.onshutdown.map(\.name) == ["goodbye"])
        let web = try #require(spec.services.first)
        #expect(web.env == ["LANG=C.UTF-8"] && web.cwd == "/www")
        #expect([web.net, web.pid, web.ipc, web.uts] == [.host, .new, .new, .host])
        #expect(
            spec.files.map(\.path) == [
                "etc/motd", "etc/full/settings.conf", "var/empty", "etc/localtime", "home/app/.profile",
            ])
        #expect(spec.files[1].optional && spec.files[1].source == Fixture.examplesDirectory + "/full/settings.conf")
        #expect(spec.files[2].directory && spec.files[2].mode == 0o700)
        #expect(spec.files[3].symlink == "/usr/share/zoneinfo/UTC")
        #expect(spec.files[4].uid == 1000 && spec.files[4].gid == 1000 && spec.files[4].mode == nil)
        #expect(spec.data?.size == 256 << 20)
        #expect(spec.readiness.timeoutSeconds == 120)
        #expect(spec.readiness.pattern == "httpd.*started|@@INGOT v1 stage=ready")
        #expect(spec.allImages.count == 2 + 3)
    }
}
