// readiness.http / readiness.tcp and boot.init: what parses, with defaults, and every bad value
// refused at its file:line with what to do.

import Foundation
import IngotSpec
import Testing

struct SpecReadinessNetworkTests {
    static func spec(_ readiness: String, extra: String = "") -> String {
        "name: web\ninit:\n  - deb:busybox-static\nreadiness:\n" + readiness + extra
    }

    @Test func httpAndTcpParseWithDefaults() throws {
        let spec = try SpecLoader.parse(
            yaml: Self.spec("  http: {port: 80}\n  tcp: {port: 2222}\n"), file: "spec.yml",
            baseDirectory: "/nonexistent",
            checkSources: false)
        let http = try #require(spec.readiness.http)
        #expect(http.port == 80 && http.path == "/" && http.status == 200)
        #expect(http.location.line == 5)
        #expect(spec.readiness.tcp?.port == 2222)
        #expect(spec.readiness.needsNetwork)
        #expect(spec.readiness.guestPorts == [80, 2222])
        let full = try SpecLoader.parse(
            yaml: Self.spec("  http: {port: 8080, path: /healthz?full=1, status: 204}\n  tcp: {port: 8080}\n"),
            file: "spec.yml",
            baseDirectory: "/nonexistent", checkSources: false)
        #expect(
            full.readiness.http
                == HTTPProbeSpec(
                    port: 8080, path: "/healthz?full=1", status: 204, location: full.readiness.http!.location))
        #expect(full.readiness.guestPorts == [8080])
    }

    @Test(arguments: [
        ("  http: {port: 0}\n", "'port' of readiness.http must be a TCP port from 1 to 65535, found '0'"),
        ("  http: {port: 70000}\n", "found '70000'"),
        ("  http: {port: http}\n", "found 'http'"),
        ("  tcp: {port: -1}\n", "'port' of readiness.tcp must be a TCP port"),
        (
            "  http: {port: 80, status: 700}\n",
            "'status' of readiness.http must be an HTTP status from 100 to 599, found '700'"
        ),
        ("  http: {port: 80, status: ok}\n", "found 'ok'"),
        ("  http: {port: 80, path: health}\n", "'path' of readiness.http must start with '/'"),
        ("  http: {path: /}\n", "port"),
        ("  http: {port: 80, method: POST}\n", "method"),
    ])
    func badProbesAreSpecErrorsAtTheirLine(readiness: String, message: String) throws {
        let error = try #require(Fixture.specError(Self.spec(readiness)))
        #expect(error.location.line == 5, "\(error)")
        #expect("\(error)".contains("spec.yml:5:"), "\(error)")
        #expect("\(error)".contains(message), "\(error)")
    }

    @Test func bootInitParsesAndRefusesGeneratedInitSections() throws {
        let spec = try SpecLoader.parse(
            yaml: "name: deb\ninit:\n  - deb:busybox-static\nboot:\n  init: /sbin/init\n", file: "spec.yml",
            baseDirectory: "/nonexistent", checkSources: false)
        #expect(spec.boot?.initPath == "/sbin/init")
        let relative = try #require(
            Fixture.specError("name: deb\ninit:\n  - deb:busybox-static\nboot:\n  init: sbin/init\n"))
        #expect(relative.location.line == 5 && "\(relative)".contains("absolute path"), "\(relative)")
        let withService = try #require(
            Fixture.specError(
                "name: deb\ninit:\n  - deb:busybox-static\nservices:\n  - name: web\n    image: deb:busybox-static\n    command: [/bin/busybox, true]\nboot:\n  init: /sbin/init\n"
            ))
        #expect(withService.location.line == 5 && "\(withService)".contains("'web' cannot run"), "\(withService)")
    }
}
