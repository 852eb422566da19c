// Credentials from the user's Docker client config (`~/.docker/config.json`): `auths` entries with
// a base64 `auth` (or `username`/`password`). Credential helpers (`credsStore`, `credHelpers`)
// are refused with a clear message rather than run.

import Foundation

/// A user name and password for one registry.
public struct RegistryCredentials: Sendable, Hashable {
    public var username: String
    public var password: String

    /// The `Authorization: Basic` value.
    public var basicHeader: String { "Basic " + Data("\(username):\(password)".utf8).base64EncodedString() }
}

/// The parts of Docker's config.json Ingot reads.
struct DockerConfigFile: Decodable {
    struct Entry: Decodable {
        var auth: String?
        var username: String?
        var password: String?
        var identitytoken: String?
    }
    var auths: [String: Entry]?
    var credsStore: String?
    var credHelpers: [String: String]?

    /// The credentials for `domain`, nil when the file has none (or does not exist).
    /// - Throws: `RegistryError.credentialHelper` when only a helper could answer.
    static func credentials(for domain: String, path: String) throws -> RegistryCredentials? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let config = try? JSONDecoder().decode(DockerConfigFile.self, from: data) else {
            throw RegistryError.badManifest(reference: path, reason: "not a readable Docker config.json")
        }
        let wanted = aliases(of: domain)
        for (key, entry) in config.auths ?? [:] where wanted.contains(normalise(key)) {
            if let auth = entry.auth, !auth.isEmpty {
                guard let decoded = Data(base64Encoded: auth).flatMap({ String(data: $0, encoding: .utf8) }),
                    let colon = decoded.firstIndex(of: ":")
                else {
                    throw RegistryError.badManifest(
                        reference: path, reason: "the 'auth' of '\(key)' is not base64 of user:password")
                }
                return RegistryCredentials(
                    username: String(decoded[..<colon]), password: String(decoded[decoded.index(after: colon)...]))
            }
            if let user = entry.username, let password = entry.password {
                return RegistryCredentials(username: user, password: password)
            }
        }
        for (key, helper) in config.credHelpers ?? [:] where wanted.contains(normalise(key)) {
            throw RegistryError.credentialHelper(host: domain, helper: helper, configPath: path)
        }
        if let store = config.credsStore, !store.isEmpty {
            throw RegistryError.credentialHelper(host: domain, helper: store, configPath: path)
        }
        return nil
    }

    /// `https://index.docker.io/v1/` → `index.docker.io`; `http://host:5000/v2/` → `host:5000`.
    static func normalise(_ key: String) -> String {
        var k = Substring(key)
        for scheme in ["https://", "http://"] where k.hasPrefix(scheme) { k = k.dropFirst(scheme.count) }
        if let slash = k.firstIndex(of: "/") { k = k[..<slash] }
        return k.lowercased()
    }

    /// Docker Hub goes by several names in config files.
    static func aliases(of domain: String) -> Set<String> {
        let d = domain.lowercased()
        if d == "docker.io" || d == "index.docker.io" || d == "registry-1.docker.io" {
            return ["docker.io", "index.docker.io", "registry-1.docker.io"]
        }
        return [d]
    }
}
