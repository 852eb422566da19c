// The registry client's pure parts: WWW-Authenticate challenges, Docker config credentials
// (auths, Docker Hub aliases, credential helpers refused), platform choice in an index (arm64 →
// arm64/v8, variants), and reference-keyed layout names.

import Foundation
import Testing

@testable import IngotRegistry
@testable import IngotSources

@Suite struct RegistryUnitTests {
    @Test func challengesParse() {
        let bearer = AuthChallenge.parse(
            #"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#
        )
        #expect(
            bearer
                == AuthChallenge(
                    scheme: .bearer,
                    parameters: [
                        "realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                        "scope": "repository:library/alpine:pull",
                    ]))
        #expect(
            AuthChallenge.parse(#"Basic realm="ingot-test""#)
                == AuthChallenge(scheme: .basic, parameters: ["realm": "ingot-test"]))
        #expect(
            AuthChallenge.parse(#"Bearer realm="a\"b", error="insufficient_scope""#)?.parameters["realm"] == #"a"b"#)
        #expect(AuthChallenge.parse("Negotiate abc") == nil)
        #expect(AuthChallenge.parse("") == nil)
    }

    @Test func credentialsComeFromAuthsAndHelpersAreRefused() throws {
        let dir = try TempDir("ingot-registry-unit")
        defer { dir.cleanup() }
        let path = dir.path + "/config.json"
        try dir.write(
            "config.json",
            """
            {"auths": {"https://index.docker.io/v1/": {"auth": "\(Data("hub:pw".utf8).base64EncodedString())"},
                       "registry.example:5000": {"username": "u", "password": "p:w"}},
             "credHelpers": {"ghcr.io": "gh"}}
            """)
        #expect(
            try DockerConfigFile.credentials(for: "docker.io", path: path)
                == RegistryCredentials(username: "hub", password: "pw"))
        #expect(
            try DockerConfigFile.credentials(for: "registry.example:5000", path: path)
                == RegistryCredentials(username: "u", password: "p:w"))
        #expect(try DockerConfigFile.credentials(for: "other.example", path: path) == nil)
        #expect(try DockerConfigFile.credentials(for: "x", path: dir.path + "/missing.json") == nil)
        do {
            _ = try DockerConfigFile.credentials(for: "ghcr.io", path: path)
            Issue.record("a credential helper was not refused")
        } catch let error as RegistryError {
            #expect("\(error)".contains("docker-credential-gh"))
            #expect("\(error)".contains("Ingot does not run credential helpers"))
        }
        #expect(RegistryCredentials(username: "a", password: "b").basicHeader == "Basic YTpi")
    }

    func index(_ platforms: [(String, String?)]) -> RegistryIndex {
        RegistryIndex(
            schemaVersion: 2, mediaType: nil,
            manifests: platforms.enumerated().map { i, p in
                RegistryDescriptor(
                    mediaType: RegistryMediaType.ociManifest,
                    digest: "sha256:" + String(repeating: String(i), count: 64), size: 1,
                    platform: .init(architecture: p.0, os: p.0 == "unknown" ? "unknown" : "linux", variant: p.1))
            })
    }

    @Test func platformSelection() {
        let arm64 = RegistryPlatform.linux(debianArch: "arm64")
        #expect(arm64.description == "linux/arm64/v8")
        // An exact variant beats an entry without one; arm/v7 never serves arm64.
        let (exact, available) = index([("arm", "v7"), ("arm64", nil), ("arm64", "v8"), ("unknown", nil)]).select(arm64)
        #expect(exact?.digest.hasSuffix("2222") == true)
        #expect(available == ["linux/arm/v7", "linux/arm64", "linux/arm64/v8"])
        let (loose, _) = index([("amd64", nil), ("arm64", nil)]).select(arm64)
        #expect(loose?.digest.hasSuffix("1111") == true)
        let (none, listed) = index([("amd64", nil), ("arm", "v7")]).select(arm64)
        #expect(none == nil && listed == ["linux/amd64", "linux/arm/v7"])
        #expect(RegistryPlatform.linux(debianArch: "amd64").accepts(RegistryPlatform(architecture: "amd64")))
        #expect(
            !RegistryPlatform(architecture: "arm", variant: "v7").accepts(
                RegistryPlatform(architecture: "arm", variant: "v6")))
    }

    @Test func layoutNamesRoundTrip() {
        for ref in [
            "docker.io/library/alpine:3.19", "127.0.0.1:5000/team/web@sha256:" + String(repeating: "a", count: 64),
        ] {
            let name = ImageStore.encode(ref)
            #expect(!name.contains("/") && !name.contains(":"))
            #expect(ImageStore.decode(name) == ref)
        }
        let found = ImageStore.hexDigests(
            in: Data(
                #"{"digest":"sha256:\#(String(repeating: "b", count: 64))","x":"\#(String(repeating: "c", count: 65))"}"#
                    .utf8))
        #expect(found == [String(repeating: "b", count: 64)])
    }
}
