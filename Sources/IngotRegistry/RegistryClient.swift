// The distribution API client: one AsyncHTTPClient per build (HTTPS with the system's CAs plus an
// optional extra CA file, plain HTTP for hosts the user names), mirrors tried before the origin,
// the 401 → challenge → token/basic → retry dance, and resolving tag → index → platform manifest.

import AsyncHTTPClient
import Crypto
import Foundation
import IngotSpec
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

/// Talks to OCI distribution registries for one build.
///
/// Call `shutdown()` when done: the HTTP client owns connections.
public final class RegistryClient: Sendable {
    let http: HTTPClient
    public let options: RegistryOptions
    let logger: Logger?
    let auth = AuthCache()

    /// Manifests and indexes larger than this are refused (they are JSON documents of a few KB).
    static let manifestLimit = 4 << 20

    /// Creates a client.
    /// - Parameters:
    ///   - options: hosts, mirrors, CA file, credentials path, parallelism.
    ///   - logger: debug logs of requests.
    /// - Throws: `RegistryError.badCAFile` when the extra CA file cannot be read.
    public init(options: RegistryOptions, logger: Logger? = nil) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let ca = options.caFile {
            do {
                _ = try NIOSSLCertificate.fromPEMFile(ca)
            } catch {
                throw RegistryError.badCAFile(path: ca, detail: "\(error)")
            }
            tls.additionalTrustRoots = [.file(ca)]
        }
        var config = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .follow(max: 5, allowCycles: false),
            timeout: .init(connect: .seconds(10), read: .seconds(60)))
        config.connectionPool = .init(idleTimeout: .seconds(30))
        config.httpVersion = .http1Only
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        self.options = options
        self.logger = logger
    }

    /// Closes the connections.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    /// Base URLs for `domain`: its mirror first (when set), then the origin.
    func endpoints(for domain: String) -> [String] {
        var list: [String] = []
        if let mirror = options.mirrors[domain] {
            list.append(mirror.hasSuffix("/") ? String(mirror.dropLast()) : mirror)
        }
        let host = domain == RegistryReference.dockerHub ? "registry-1.docker.io" : domain
        list.append((options.plainHTTP.contains(domain) ? "http://" : "https://") + host)
        return list
    }

    /// Sends a GET, answering one authentication challenge; tries each endpoint (mirror, origin)
    /// until one answers something other than a connection failure or 404.
    /// - Returns: the response and the endpoint that gave it.
    func get(
        _ path: String, reference: RegistryReference, headers: [(String, String)] = [],
        timeout: TimeAmount = .minutes(60)
    ) async throws -> (HTTPClientResponse, String) {
        let bases = endpoints(for: reference.domain)
        var lastError: Swift.Error?
        for (i, base) in bases.enumerated() {
            let isLast = i == bases.count - 1
            do {
                let response = try await authorisedGet(
                    base: base, path: path, reference: reference, headers: headers, timeout: timeout)
                if response.status == .notFound, !isLast {
                    logger?.debug("mirror \(base) has no \(path); trying the next endpoint")
                    continue
                }
                return (response, base)
            } catch let error as RegistryError {
                if case .unreachable = error, !isLast {
                    logger?.debug("mirror \(base) unreachable (\(error)); trying the next endpoint")
                    lastError = error
                    continue
                }
                throw error
            }
        }
        throw lastError ?? RegistryError.unreachable(host: reference.domain, detail: "no endpoint")
    }

    private func authorisedGet(
        base: String, path: String, reference: RegistryReference, headers: [(String, String)], timeout: TimeAmount
    ) async throws -> HTTPClientResponse {
        let key = "\(base)|\(reference.repository)"
        let host = Self.host(of: base)
        var authorization = await auth.header(for: key)
        var sentCredentials = false
        for attempt in 0..<2 {
            var request = HTTPClientRequest(url: base + path)
            request.method = .GET
            request.headers.add(name: "User-Agent", value: "ingot/0.1")
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let authorization { request.headers.replaceOrAdd(name: "Authorization", value: authorization) }
            let response = try await send(request, host: host, timeout: timeout)
            guard response.status == .unauthorized else { return response }
            let challengeText = response.headers.first(name: "WWW-Authenticate") ?? ""
            _ = try? await response.body.collect(upTo: 1 << 16)
            let configPath = options.resolvedDockerConfigPath()
            guard attempt == 0, let challenge = AuthChallenge.parse(challengeText) else {
                throw RegistryError.unauthorized(
                    host: host, repository: reference.repository, configPath: configPath,
                    sentCredentials: sentCredentials)
            }
            let credentials =
                try DockerConfigFile.credentials(for: reference.domain, path: configPath)
                ?? (host != reference.domain ? try DockerConfigFile.credentials(for: host, path: configPath) : nil)
            sentCredentials = credentials != nil
            switch challenge.scheme {
            case .basic:
                guard let credentials else {
                    throw RegistryError.unauthorized(
                        host: host, repository: reference.repository, configPath: configPath, sentCredentials: false)
                }
                authorization = credentials.basicHeader
            case .bearer:
                authorization =
                    "Bearer "
                    + (try await token(
                        for: challenge, reference: reference, credentials: credentials, configPath: configPath))
            }
            if let authorization { await auth.set(authorization, for: key) }
        }
        throw RegistryError.unauthorized(
            host: host, repository: reference.repository, configPath: options.resolvedDockerConfigPath(),
            sentCredentials: sentCredentials)
    }

    /// Fetches a bearer token from the challenge's realm.
    private func token(
        for challenge: AuthChallenge, reference: RegistryReference, credentials: RegistryCredentials?,
        configPath: String
    ) async throws -> String {
        guard let realm = challenge.parameters["realm"], var components = URLComponents(string: realm) else {
            throw RegistryError.badToken(realm: "(none)", reason: "the challenge names no realm")
        }
        var items = components.queryItems ?? []
        if let service = challenge.parameters["service"] { items.append(URLQueryItem(name: "service", value: service)) }
        items.append(
            URLQueryItem(
                name: "scope", value: challenge.parameters["scope"] ?? "repository:\(reference.repository):pull"))
        components.queryItems = items
        guard let url = components.string else { throw RegistryError.badToken(realm: realm, reason: "bad realm URL") }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "User-Agent", value: "ingot/0.1")
        if let credentials { request.headers.add(name: "Authorization", value: credentials.basicHeader) }
        let response = try await send(request, host: Self.host(of: realm), timeout: .seconds(60))
        let body = try await collect(response, limit: 1 << 20, what: realm)
        if response.status == .unauthorized || response.status == .forbidden {
            throw RegistryError.unauthorized(
                host: reference.domain, repository: reference.repository, configPath: configPath,
                sentCredentials: credentials != nil)
        }
        guard response.status == .ok else {
            throw RegistryError.badToken(realm: realm, reason: "HTTP \(response.status.code)")
        }
        guard let parsed = try? JSONDecoder().decode(TokenResponse.self, from: Data(body)),
            let token = parsed.token ?? parsed.accessToken, !token.isEmpty
        else { throw RegistryError.badToken(realm: realm, reason: "no 'token' in the answer") }
        return token
    }

    /// Executes a request, turning connection failures into `RegistryError.unreachable`.
    func send(_ request: HTTPClientRequest, host: String, timeout: TimeAmount) async throws -> HTTPClientResponse {
        logger?.debug("GET \(request.url)")
        do {
            return try await http.execute(request, timeout: timeout, logger: nil)
        } catch let error as RegistryError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw RegistryError.unreachable(host: host, detail: Self.explain(error))
        }
    }

    /// A short human reason for an HTTP/TLS/connection failure.
    static func explain(_ error: Swift.Error) -> String {
        let text = String(describing: error)
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        if text.contains("connectTimeout") { return "connection timed out" }
        if text.contains("readTimeout") { return "the registry stopped answering (read timeout)" }
        if text.contains("remoteConnectionClosed") || text.contains("ioOnClosedChannel") {
            return "the connection was closed"
        }
        if text.contains("handshakeFailed") || text.contains("NIOSSLError") || text.contains("BoringSSL") {
            return "TLS handshake failed (\(text)); for a private CA pass --registry-ca FILE"
        }
        return text
    }

    static func host(of url: String) -> String {
        var s = Substring(url)
        if let r = s.range(of: "://") { s = s[r.upperBound...] }
        if let slash = s.firstIndex(of: "/") { s = s[..<slash] }
        return String(s)
    }

    /// Reads a whole (small) body, refusing more than `limit` bytes.
    func collect(_ response: HTTPClientResponse, limit: Int, what: String) async throws -> [UInt8] {
        do {
            var buffer = try await response.body.collect(upTo: limit)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch let error as NIOTooManyBytesError {
            throw RegistryError.badManifest(reference: what, reason: "larger than \(limit) bytes (\(error))")
        } catch {
            throw RegistryError.unreachable(host: what, detail: Self.explain(error))
        }
    }

    static func sha256(_ bytes: [UInt8]) -> String {
        "sha256:" + SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}
