// Registry authentication: parse a `WWW-Authenticate` challenge (Bearer or Basic), fetch a bearer
// token from the realm it names (with the user's credentials when there are any), and keep the
// resulting `Authorization` header per registry and repository.

import Foundation

/// One `WWW-Authenticate` challenge.
struct AuthChallenge: Equatable {
    enum Scheme: Equatable { case bearer, basic }
    var scheme: Scheme
    var parameters: [String: String]

    /// Parses `Bearer realm="https://auth/token",service="reg",scope="repository:a/b:pull"` or
    /// `Basic realm="Registry"`; nil for schemes Ingot does not speak.
    static func parse(_ header: String) -> AuthChallenge? {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard let space = trimmed.firstIndex(of: " ") ?? (trimmed.isEmpty ? nil : trimmed.endIndex) else { return nil }
        let name = trimmed[..<space].lowercased()
        let scheme: Scheme
        switch name {
        case "bearer": scheme = .bearer
        case "basic": scheme = .basic
        default: return nil
        }
        var parameters: [String: String] = [:]
        var rest = Substring(trimmed[space...])
        while true {
            rest = rest.drop(while: { $0 == " " || $0 == "," })
            guard let eq = rest.firstIndex(of: "=") else { break }
            let key = rest[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            rest = rest[rest.index(after: eq)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var escaped = false
                var end = rest.endIndex
                for i in rest.indices {
                    let c = rest[i]
                    if escaped {
                        value.append(c)
                        escaped = false
                    } else if c == "\\" {
                        escaped = true
                    } else if c == "\"" {
                        end = i
                        break
                    } else {
                        value.append(c)
                    }
                }
                rest = end < rest.endIndex ? rest[rest.index(after: end)...] : rest[rest.endIndex...]
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = rest[..<end].trimmingCharacters(in: .whitespaces)
                rest = rest[end...]
            }
            parameters[key] = value
        }
        return AuthChallenge(scheme: scheme, parameters: parameters)
    }
}

/// Authorization headers already earned, per `base URL|repository`.
actor AuthCache {
    private var headers: [String: String] = [:]

    func header(for key: String) -> String? { headers[key] }
    func set(_ value: String, for key: String) { headers[key] = value }
}

/// The JSON a token endpoint answers with.
struct TokenResponse: Decodable {
    var token: String?
    var accessToken: String?

    enum CodingKeys: String, CodingKey {
        case token
        case accessToken = "access_token"
    }
}
