// Registry references in specs: parsed like Docker/LinuxKit (docker.io and library/ defaults,
// host:port domains, tags, digests), with clear errors for malformed ones.

import Foundation
import Testing

@testable import IngotSpec

@Suite struct RegistryReferenceTests {
    @Test func dockerDefaults() throws {
        let alpine = try RegistryReference.parse("alpine")
        #expect(alpine.description == "docker.io/library/alpine:latest")
        #expect(alpine.familiar == "alpine:latest")
        let getty = try RegistryReference.parse("linuxkit/getty:a86d74c8c8b9e7d3b1ea2ed8a5c4c5b3a5e8f3d1")
        #expect(getty.domain == "docker.io")
        #expect(getty.repository == "linuxkit/getty")
        #expect(getty.tag == "a86d74c8c8b9e7d3b1ea2ed8a5c4c5b3a5e8f3d1")
        let hub = try RegistryReference.parse("docker://index.docker.io/library/nginx:1.19.5-alpine")
        #expect(hub.description == "docker.io/library/nginx:1.19.5-alpine")
    }

    @Test func hostsPortsTagsAndDigests() throws {
        let web = try RegistryReference.parse("registry.example:5000/team/web:1.4")
        #expect(web.domain == "registry.example:5000")
        #expect(web.repository == "team/web")
        #expect(web.tag == "1.4")
        #expect(web.manifestReference == "1.4")
        let hex = String(repeating: "ab", count: 32)
        let pinned = try RegistryReference.parse("localhost:5000/web@sha256:\(hex)")
        #expect(pinned.tag == nil)
        #expect(pinned.digest == "sha256:\(hex)")
        #expect(pinned.manifestReference == "sha256:\(hex)")
        let both = try RegistryReference.parse("ghcr.io/o/r:v1@sha256:\(hex)")
        #expect(both.tag == "v1")
        #expect(both.manifestReference == "sha256:\(hex)")
        #expect(try RegistryReference.parse("localhost/web").domain == "localhost")
    }

    @Test func malformedReferencesAreRefused() {
        #expect(throws: RegistryReference.ParseError.badRepository("library/Alpine")) {
            try RegistryReference.parse("Alpine")
        }
        #expect(throws: RegistryReference.ParseError.badTag(".x")) { try RegistryReference.parse("alpine:.x") }
        #expect(throws: RegistryReference.ParseError.badDigest("sha256:12")) {
            try RegistryReference.parse("alpine@sha256:12")
        }
        #expect(throws: RegistryReference.ParseError.badDomain("host:99999")) {
            try RegistryReference.parse("host:99999/a")
        }
        #expect(throws: RegistryReference.ParseError.badRepository("a//b")) { try RegistryReference.parse("a//b") }
    }

    @Test func specImagesAcceptRegistryReferences() throws {
        let spec = try SpecLoader.parse(
            yaml: "name: t\ninit:\n  - linuxkit/init:v1.0\n  - registry.example:5000/team/base:1\n", file: "spec.yml",
            baseDirectory: "/tmp")
        guard case .registry(let first) = spec.initImages[0].ref, case .registry(let second) = spec.initImages[1].ref
        else {
            Issue.record("not parsed as registry references: \(spec.initImages.map(\.ref))")
            return
        }
        #expect(first.description == "docker.io/linuxkit/init:v1.0")
        #expect(second.description == "registry.example:5000/team/base:1")
        // Near-miss schemes are still typos, not images.
        #expect(throws: SpecError.self) {
            try SpecLoader.parse(
                yaml: "name: t\ninit: [debs:busybox-static]\n", file: "spec.yml", baseDirectory: "/tmp")
        }
        // debian:12 is an image, not a typo of deb:.
        let debian = try SpecLoader.parse(
            yaml: "name: t\ninit: ['debian:12']\n", file: "spec.yml", baseDirectory: "/tmp")
        #expect(debian.initImages[0].ref == .registry(try RegistryReference.parse("debian:12")))
    }
}
