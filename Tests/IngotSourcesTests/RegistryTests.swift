// Pulling from a real registry (Debian's docker-registry, started by each test on 127.0.0.1):
// multi-arch indexes, a missing architecture, tampered blobs, a registry killed mid-transfer,
// HTTPS with a test CA, and htpasswd auth with and without credentials.

import Foundation
import IngotRegistry
import IngotSpec
import Testing

@testable import IngotSources

@Suite(.serialized, .enabled(if: registryToolsPresent, "needs docker-registry, skopeo, htpasswd, openssl, python3"))
struct RegistryTests {
    /// A fixture layout (amd64 + arm64, tag v1), a registry, and a store, all under one temp dir.
    struct Setup {
        let dir: TempDir
        var fixture: OCIFixture
        let registry: TestRegistry
        let store: ContentStore

        init(tls: Bool = false, user: (String, String)? = nil) throws {
            dir = try TempDir("ingot-registry-test")
            fixture = OCIFixture(dir)
            try fixture.buildLayout()
            registry = try TestRegistry(dir: dir.path + "/registry", tls: tls, user: user)
            store = try makeStore(dir)
        }

        func options(offline: Bool = false, credentials: Bool = false) throws -> RegistryOptions {
            let config = dir.path + "/docker-config.json"
            try registry.dockerConfig(at: config, withCredentials: credentials)
            return RegistryOptions(
                offline: offline, plainHTTP: registry.tls ? [] : [registry.host],
                caFile: registry.tls ? registry.caFile : nil, dockerConfigPath: config)
        }

        func resolver(_ arch: Architecture, _ options: RegistryOptions) -> SourceResolver {
            var r = SourceResolver(store: store, lock: nil, arch: arch, logger: nil)
            r.registry = options
            return r
        }

        func reference(_ repoTag: String) throws -> RegistryReference {
            try RegistryReference.parse("\(registry.host)/\(repoTag)")
        }

        func cleanup() {
            registry.stop()
            dir.cleanup()
        }
    }

    func layerDigests(_ image: ResolvedImage) -> [String] {
        image.layers.compactMap { layer in
            if case .archive(_, let digest) = layer.source { return digest.description }
            return nil
        }
    }

    @Test func multiArchIndexPicksTheBoardsArchitecture() async throws {
        let s = try Setup()
        defer { s.cleanup() }
        try s.registry.push("oci:\(s.fixture.layout):v1", to: "team/web:1.4")
        let ref = try s.reference("team/web:1.4")
        for arch in [Architecture.amd64, .arm64] {
            let image = try await s.resolver(arch, try s.options()).resolve(ref: .registry(ref))
            #expect(layerDigests(image) == s.fixture.layers[arch.rawValue])
            #expect(image.config?.env.contains("ARCH=\(arch.rawValue)") == true)
            let input = try #require(image.inputs.first)
            #expect(input.name == "\(s.registry.host)/team/web:1.4")
            #expect(input.origin.hasPrefix("docker://\(s.registry.host)/team/web:1.4@sha256:"))
            #expect(input.origin.hasSuffix(input.sha256))
            #expect(input.arch == arch.rawValue)
        }
        let entries = ImageStore(store: s.store).entries()
        #expect(entries.map(\.arch) == ["amd64", "arm64"])
        #expect(Set(entries.map(\.reference)) == ["\(s.registry.host)/team/web:1.4"])
        // The layout in the store is an ordinary OCI layout: skopeo reads it back.
        let (rc, out) = try sh(["skopeo", "inspect", "--raw", "oci:\(entries[1].directory)"])
        #expect(rc == 0, "\(out)")
        #expect(out.contains(s.fixture.layers["arm64"]![0]))
    }

    @Test func missingArchitectureNamesTheAvailableOnes() async throws {
        let s = try Setup()
        defer { s.cleanup() }
        // Only the amd64 image, as a single-platform manifest.
        try s.registry.push("oci:\(s.fixture.layout):v1", to: "team/only-amd64:1", all: false)
        // (skopeo without --all picks the host's platform, amd64)
        let ref = try s.reference("team/only-amd64:1")
        let error = await #expect(throws: (any Error).self) {
            _ = try await s.resolver(.arm64, try s.options()).resolve(ref: .registry(ref))
        }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("no linux/arm64/v8 variant"), "\(text)")
        #expect(text.contains("available: linux/amd64"), "\(text)")
        #expect(ImageStore(store: s.store).entries().isEmpty)

        // An index listing other platforms names them all.
        try s.registry.push("oci:\(s.fixture.layout):v1", to: "team/multi:1")
        let multi = try s.reference("team/multi:1")
        let riscv = RegistryPlatform(architecture: "riscv64")
        let client = try RegistryClient(options: try s.options())
        let indexError = await #expect(throws: RegistryError.self) {
            _ = try await client.resolve(multi, platform: riscv)
        }
        try await client.shutdown()
        let indexText = "\(indexError.map { "\($0)" } ?? "")"
        #expect(indexText.contains("available: linux/amd64, linux/arm64"), "\(indexText)")
    }

    @Test func tamperedBlobIsRefusedAndNothingIsCached() async throws {
        let s = try Setup()
        defer { s.cleanup() }
        try s.registry.push("oci:\(s.fixture.layout):v1", to: "team/web:bad")
        let layer = try #require(s.fixture.layers["amd64"]?.first)
        let data = s.registry.blobData(layer)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: data))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: data))

        let ref = try s.reference("team/web:bad")
        let error = await #expect(throws: (any Error).self) {
            _ = try await s.resolver(.amd64, try s.options()).resolve(ref: .registry(ref))
        }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("served wrong content"), "\(text)")
        #expect(text.contains(layer), "\(text)")
        #expect(!s.store.contains(try Digest(parsing: layer)))
        #expect(ImageStore(store: s.store).entries().isEmpty)
        let partials = (try? FileManager.default.contentsOfDirectory(atPath: s.store.root + "/partial")) ?? []
        #expect(!partials.contains(String(layer.dropFirst(7))))
    }

    @Test func registryKilledMidPullLeavesTheStoreConsistentAndARetryCompletes() async throws {
        var s = try Setup()
        defer { s.cleanup() }
        // One big incompressible layer so the transfer takes a while through the proxy.
        let big = s.dir.path + "/big"
        try FileManager.default.createDirectory(atPath: big + "/etc", withIntermediateDirectories: true)
        try sh(["dd", "if=/dev/urandom", "of=\(big)/etc/blob", "bs=1M", "count=24", "status=none"])
        let tar = s.dir.path + "/big.tar"
        try sh(["tar", "-cf", tar, "-C", big, "."])
        // The layout is built by hand with the fixture helpers.
        let bigFixture = OCIFixture(try TempDir("ingot-registry-big"))
        defer { bigFixture.dir.cleanup() }
        let layerData = try Data(contentsOf: URL(fileURLWithPath: tar))
        let layerDesc = try bigFixture.blob(layerData, mediaType: "application/vnd.oci.image.layer.v1.tar")
        let config = try bigFixture.blob(
            try bigFixture.json([
                "architecture": "amd64", "os": "linux",
                "rootfs": ["type": "layers", "diff_ids": [layerDesc["digest"]!]],
            ]),
            mediaType: "application/vnd.oci.image.config.v1+json")
        let manifest = try bigFixture.blob(
            try bigFixture.json([
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config,
                "layers": [layerDesc],
            ]), mediaType: "application/vnd.oci.image.manifest.v1+json",
            extra: ["annotations": ["org.opencontainers.image.ref.name": "v1"]])
        try bigFixture.dir.write(
            "layout/index.json", try bigFixture.json(["schemaVersion": 2, "manifests": [manifest]]))
        try bigFixture.dir.write("layout/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}")
        try s.registry.push("oci:\(bigFixture.layout):v1", to: "team/big:1", all: false)
        s.fixture.layers["big"] = [layerDesc["digest"] as! String]

        let proxy = try ThrottlingProxy(to: s.registry.port, bytesPerSecond: 4 << 20, dir: s.dir.path)
        defer { proxy.stop() }
        var options = try s.options()
        let proxied = "127.0.0.1:\(proxy.port)"
        options.plainHTTP.insert(proxied)
        let ref = try RegistryReference.parse("\(proxied)/team/big:1")
        let resolver = s.resolver(.amd64, options)
        let pull = Task { try await resolver.resolve(ref: .registry(ref)) }
        // Wait until part of the layer has arrived, then kill the registry.
        let layerHex = String((layerDesc["digest"] as! String).dropFirst(7))
        let partial = s.store.root + "/partial/" + layerHex
        var seen: Int64 = 0
        // Sleeping with Task.sleep (not usleep) leaves this thread to the pull task: on a 2-core
        // machine the pool has two threads, and blocking tests beside this one may hold the other.
        for _ in 0..<2400 {
            seen = ((try? FileManager.default.attributesOfItem(atPath: partial))?[.size] as? NSNumber)?.int64Value ?? 0
            if seen > 2 << 20 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(seen > 2 << 20, "the layer never started arriving")
        s.registry.kill()
        let result = await pull.result
        guard case .failure(let error) = result else {
            Issue.record("the pull succeeded although the registry was killed")
            return
        }
        let text = "\(error)"
        #expect(text.contains("stopped after") || text.contains("cannot reach"), "\(text)")
        // Consistent store: no layout names the image, the half layer is not a blob.
        #expect(ImageStore(store: s.store).entries().isEmpty)
        #expect(!s.store.contains(try Digest(parsing: "sha256:" + layerHex)))

        // After a restart the same pull completes, resuming the partial layer.
        try s.registry.start()
        let puller = RegistryPuller(store: s.store, options: options)
        let outcome = try await puller.pull(ref, arch: "amd64")
        #expect(
            outcome.bytesReceived < outcome.bytesTotal,
            "received \(outcome.bytesReceived) of \(outcome.bytesTotal): not resumed")
        #expect(s.store.contains(try Digest(parsing: "sha256:" + layerHex)))
        _ = try s.store.path(for: try Digest(parsing: "sha256:" + layerHex))  // re-verifies the sha256
        #expect(ImageStore(store: s.store).entries().count == 1)
    }

    @Test func httpsWithATestCA() async throws {
        let s = try Setup(tls: true)
        defer { s.cleanup() }
        try s.registry.push("oci:\(s.fixture.layout):v1", to: "secure/web:1")
        let ref = try s.reference("secure/web:1")
        let image = try await s.resolver(.arm64, try s.options()).resolve(ref: .registry(ref))
        #expect(layerDigests(image) == s.fixture.layers["arm64"])

        // Without the CA the certificate is not trusted.
        var untrusted = try s.options()
        untrusted.caFile = nil
        let other = try TempDir("ingot-registry-untrusted")
        defer { other.cleanup() }
        let error = await #expect(throws: (any Error).self) {
            var r = SourceResolver(store: try makeStore(other), lock: nil, arch: .arm64, logger: nil)
            r.registry = untrusted
            _ = try await r.resolve(ref: .registry(ref))
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("TLS"), "\(error.map { "\($0)" } ?? "")")
    }

    @Test func htpasswdAuthNeedsCredentialsFromTheDockerConfig() async throws {
        let s = try Setup(tls: true, user: ("ingot", "s3cret-pass"))
        defer { s.cleanup() }
        try s.registry.push("oci:\(s.fixture.layout):v1", to: "private/web:1")
        let ref = try s.reference("private/web:1")

        let error = await #expect(throws: (any Error).self) {
            _ = try await s.resolver(.amd64, try s.options(credentials: false)).resolve(ref: .registry(ref))
        }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("requires authentication"), "\(text)")
        #expect(text.contains("docker-config.json"), "\(text)")
        #expect(text.contains("docker login \(s.registry.host)"), "\(text)")
        #expect(ImageStore(store: s.store).entries().isEmpty)

        let image = try await s.resolver(.amd64, try s.options(credentials: true)).resolve(ref: .registry(ref))
        #expect(layerDigests(image) == s.fixture.layers["amd64"])

        // Wrong password: rejected, and the message says so.
        let config = s.dir.path + "/wrong.json"
        try JSONSerialization.data(withJSONObject: [
            "auths": [s.registry.host: ["auth": Data("ingot:wrong".utf8).base64EncodedString()]]
        ]).write(to: URL(fileURLWithPath: config))
        var wrong = try s.options()
        wrong.dockerConfigPath = config
        let other = try TempDir("ingot-registry-wrong")
        defer { other.cleanup() }
        let rejected = await #expect(throws: (any Error).self) {
            var r = SourceResolver(store: try makeStore(other), lock: nil, arch: .amd64, logger: nil)
            r.registry = wrong
            _ = try await r.resolve(ref: .registry(ref))
        }
        #expect("\(rejected.map { "\($0)" } ?? "")".contains("rejected the credentials"))
    }

    @Test func bearerTokenChallengeIsAnsweredWithTheConfigsCredentials() async throws {
        let s = try Setup()
        defer { s.cleanup() }
        try s.registry.push("oci:\(s.fixture.layout):v1", to: "private/app:2")
        let front = try BearerFront(to: s.registry.port, user: "robot", password: "t0ken-pass", dir: s.dir.path)
        defer { front.stop() }
        let ref = try RegistryReference.parse("\(front.host)/private/app:2")
        let config = s.dir.path + "/bearer-config.json"
        func options(_ auths: [String: Any]) throws -> RegistryOptions {
            try JSONSerialization.data(withJSONObject: ["auths": auths]).write(to: URL(fileURLWithPath: config))
            return RegistryOptions(plainHTTP: [front.host], dockerConfigPath: config)
        }
        // No credentials: the token endpoint refuses, and the error says where credentials go.
        let refused = await #expect(throws: (any Error).self) {
            _ = try await s.resolver(.arm64, try options([:])).resolve(ref: .registry(ref))
        }
        #expect("\(refused.map { "\($0)" } ?? "")".contains("requires authentication"))
        // With them: token fetched, manifest and blobs pulled through the front.
        let good = try options([front.host: ["auth": Data("robot:t0ken-pass".utf8).base64EncodedString()]])
        let image = try await s.resolver(.arm64, good).resolve(ref: .registry(ref))
        #expect(layerDigests(image) == s.fixture.layers["arm64"])
    }

    @Test func offlineUsesTheStoreAndNeverTheNetwork() async throws {
        let s = try Setup()
        defer { s.cleanup() }
        try s.registry.push("oci:\(s.fixture.layout):v1", to: "team/web:2")
        let ref = try s.reference("team/web:2")
        let online = try await s.resolver(.amd64, try s.options()).resolve(ref: .registry(ref))
        s.registry.stop()
        let offline = try await s.resolver(.amd64, try s.options(offline: true)).resolve(ref: .registry(ref))
        #expect(layerDigests(offline) == layerDigests(online))
        #expect(offline.inputs.first?.origin == online.inputs.first?.origin)
        // Online with the registry down fails: proves the offline pull did not need it.
        await #expect(throws: (any Error).self) {
            _ = try await s.resolver(.amd64, try s.options()).resolve(ref: .registry(ref))
        }
        // An image never pulled is refused offline with the way out.
        let missing = try s.reference("team/other:1")
        let error = await #expect(throws: (any Error).self) {
            _ = try await s.resolver(.amd64, try s.options(offline: true)).resolve(ref: .registry(missing))
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("--offline forbids pulling"))
    }

    @Test func mirrorIsTriedBeforeTheOrigin() async throws {
        let s = try Setup()
        defer { s.cleanup() }
        try s.registry.push("oci:\(s.fixture.layout):v1", to: "library/web:3")
        // The origin does not exist; the mirror (our registry) has the image.
        var options = try s.options()
        options.mirrors["registry.invalid"] = "http://\(s.registry.host)"
        let ref = try RegistryReference.parse("registry.invalid/library/web:3")
        let image = try await s.resolver(.amd64, options).resolve(ref: .registry(ref))
        #expect(layerDigests(image) == s.fixture.layers["amd64"])
    }
}
