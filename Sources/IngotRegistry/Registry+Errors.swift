// Everything that can go wrong talking to a registry, each message naming the registry, the
// image and what to do about it.

import Foundation
import IngotSpec

/// A registry failure.
public enum RegistryError: Swift.Error, CustomStringConvertible, Sendable {
    /// `--offline` and the image is not in the store.
    case offline(reference: String)
    /// `--offline` and a Debian package is not in the store.
    case offlinePackage(name: String)
    /// No connection (refused, DNS, TLS handshake, timeout).
    case unreachable(host: String, detail: String)
    /// The registry wants credentials we do not have, or rejected the ones we sent.
    case unauthorized(host: String, repository: String, configPath: String, sentCredentials: Bool)
    /// The config names a credential helper for this host, which Ingot does not run.
    case credentialHelper(host: String, helper: String, configPath: String)
    /// The manifest (repository or tag) does not exist.
    case notFound(reference: String)
    /// Any other unexpected HTTP status.
    case status(url: String, code: Int, body: String)
    /// The index has no manifest for the board's platform.
    case noPlatform(reference: String, wanted: String, available: [String])
    /// Content did not hash to the digest it was asked for: refused, nothing stored.
    case digestMismatch(what: String, expected: String, actual: String)
    /// Content length differs from its descriptor.
    case sizeMismatch(what: String, expected: Int64, actual: Int64)
    /// A manifest or index that is not valid JSON of a known kind.
    case badManifest(reference: String, reason: String)
    /// The connection ended before a blob was complete.
    case interrupted(what: String, received: Int64, expected: Int64, detail: String)
    /// A token endpoint's answer could not be used.
    case badToken(realm: String, reason: String)
    /// The extra CA file could not be used.
    case badCAFile(path: String, detail: String)
    /// A local file write failed.
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .offline(let ref):
            return "image \(ref) is not in the store and --offline forbids pulling it; "
                + "run the build once without --offline, or `ingot cache import` an OCI archive of it"
        case .offlinePackage(let name):
            return "Debian package \(name) is not in the store and --offline forbids downloading it; "
                + "run the build once without --offline"
        case .unreachable(let host, let detail):
            return "cannot reach registry \(host): \(detail). Check the address and that the registry runs "
                + "(plain HTTP registries need --registry-http \(host)); use --offline to build from the store only"
        case .unauthorized(let host, let repo, let path, let sent):
            return sent
                ? "registry \(host) rejected the credentials for \(repo) from \(path); log in again (`docker login \(host)`) "
                    + "or fix the 'auths' entry for \(host)"
                : "registry \(host) requires authentication for \(repo) and \(path) has no credentials for it; "
                    + "run `docker login \(host)` or add an 'auths' entry for \(host) with a base64 'auth' of user:password"
        case .credentialHelper(let host, let helper, let path):
            return "\(path) names the credential helper 'docker-credential-\(helper)' for \(host); Ingot does not run "
                + "credential helpers. Add an 'auths' entry with a base64 'auth' for \(host) instead"
        case .notFound(let ref):
            return "image \(ref) was not found in its registry: the repository or tag does not exist "
                + "(check the spelling, or push it first)"
        case .status(let url, let code, let body):
            return "registry answered HTTP \(code) for \(url)" + (body.isEmpty ? "" : ": \(body)")
        case .noPlatform(let ref, let wanted, let available):
            return "image \(ref) has no \(wanted) variant; available: "
                + (available.isEmpty ? "none" : available.joined(separator: ", "))
                + ". Push a \(wanted) image, or pick a board of one of these architectures"
        case .digestMismatch(let what, let expected, let actual):
            return "\(what) hashed to \(actual) but \(expected) was asked for: the registry served wrong content. "
                + "It was refused and nothing was stored; check the registry (or a proxy in between)"
        case .sizeMismatch(let what, let expected, let actual):
            return "\(what) is \(actual) bytes but its descriptor says \(expected): refused, nothing stored"
        case .badManifest(let ref, let reason):
            return "image \(ref): the registry's manifest is unusable (\(reason))"
        case .interrupted(let what, let received, let expected, let detail):
            return "the download of \(what) stopped after \(received) of \(expected) bytes (\(detail)); "
                + "the part received is kept and the next pull resumes it"
        case .badToken(let realm, let reason):
            return "the token service \(realm) gave no usable token (\(reason))"
        case .badCAFile(let path, let detail):
            return "cannot use the CA file \(path): \(detail); pass a PEM file of CA certificates"
        case .io(let path, let reason):
            return "cannot write \(path): \(reason)"
        }
    }
}
