import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A bearer token and when to stop using it.
struct BearerToken: Sendable {
    var value: String
    var expires: ContinuousClock.Instant
}

/// Authorization that outlives one request: bearer tokens per (endpoint host, scope), and Basic
/// credentials for hosts that asked for them, so later requests skip the 401 round trip.
actor AuthCache {
    struct Key: Hashable, Sendable {
        var host: String
        var scope: String
    }

    private var tokens: [Key: BearerToken] = [:]
    private var basic: [String: String] = [:]
    private var inFlight: [Key: Task<BearerToken, any Error>] = [:]
    private(set) var tokenRequests = 0

    func authorization(for key: Key) -> String? {
        if let token = tokens[key] {
            if token.expires > .now { return "Bearer \(token.value)" }
            tokens[key] = nil
        }
        return basic[key.host]
    }

    func rememberBasic(_ header: String, host: String) {
        basic[host] = header
    }

    func countTokenRequest() {
        tokenRequests += 1
    }

    /// A token for `key` other than `rejected`: one another request cached meanwhile, else a new
    /// one. Concurrent requests for the same key share one token request.
    func token(for key: Key, replacing rejected: String?,
               fetch: @escaping @Sendable () async throws -> BearerToken) async throws -> BearerToken {
        if let token = tokens[key], token.expires > .now, "Bearer \(token.value)" != rejected {
            return token
        }
        tokens[key] = nil
        if let pending = inFlight[key] {
            return try await pending.value
        }
        let task = Task { try await fetch() }
        inFlight[key] = task
        defer { inFlight[key] = nil }
        let token = try await task.value
        tokens[key] = token
        return token
    }
}

extension RegistryClient {
    /// The `Authorization` value that answers a 401's challenges (the 401 to `rejected`): a
    /// bearer token when offered (anonymous unless credentials are configured), else Basic
    /// credentials.
    func authorize(after challenges: [AuthChallenge], rejected: String?, endpoint: RegistryEndpoint, scope: String,
                   key: AuthCache.Key) async throws -> String {
        let host = endpoint.credentialHost
        if let bearer = challenges.first(where: \.isBearer) {
            let token = try await auth.token(for: key, replacing: rejected) { [self] in
                try await requestToken(bearer, endpoint: endpoint, scope: scope)
            }
            return "Bearer \(token.value)"
        }
        if challenges.contains(where: \.isBasic) {
            guard let credentials = configuration.credentials(for: host) else {
                throw RegistryError.unauthorized(host: host, detail: Self.noCredentialsDetail(host))
            }
            let header = Self.basicAuthorization(credentials)
            await auth.rememberBasic(header, host: endpoint.host)
            return header
        }
        let detail = challenges.isEmpty
            ? "the registry answered 401 without a usable WWW-Authenticate challenge"
            : "the registry asks for an authentication scheme other than Basic or Bearer"
        throw RegistryError.unauthorized(host: host, detail: detail)
    }

    static func basicAuthorization(_ credentials: RegistryCredentials) -> String {
        "Basic " + Data("\(credentials.username):\(credentials.password)".utf8).base64EncodedString()
    }

    /// GET realm?service=S&scope=SCOPE, with Basic credentials when configured for the registry.
    func requestToken(_ challenge: AuthChallenge, endpoint: RegistryEndpoint, scope: String) async throws -> BearerToken {
        let host = endpoint.credentialHost
        guard let realm = challenge.realm, !realm.isEmpty else {
            throw RegistryError.unauthorized(host: host, detail: "the registry's bearer challenge has no realm")
        }
        // Before anything is built or sent: a realm of another scheme (http+unix://, file://)
        // or plain HTTP from an HTTPS registry fails here, naming the realm; its address is
        // checked where the connection is made.
        _ = try connector.checkedTarget(realm, purpose: .tokenRealm, plainHTTPAccepted: endpoint.scheme == "http")
        guard var components = URLComponents(string: realm), let scheme = components.scheme?.lowercased(),
              let realmHost = components.host, !realmHost.isEmpty
        else {
            throw RegistryError.unauthorized(
                host: host, detail: "the registry's bearer challenge has no usable realm (\(Sanitized.text(realm)))")
        }
        var query = components.queryItems ?? []
        if let service = challenge.parameters["service"] {
            query.append(URLQueryItem(name: "service", value: service))
        }
        for item in (challenge.parameters["scope"] ?? scope).split(separator: " ") {
            query.append(URLQueryItem(name: "scope", value: String(item)))
        }
        components.queryItems = query
        guard let url = components.string else {
            throw RegistryError.unauthorized(host: host, detail: "cannot build a token request from realm \(realm)")
        }

        var headers = HTTPHeaders()
        let credentials = configuration.credentials(for: host)
        if let credentials {
            let realmAuthority = components.port.map { "\(realmHost):\($0)" } ?? realmHost
            // Credentials go over plain HTTP only where the user already accepted plain HTTP.
            if scheme == "https" || endpoint.scheme == "http" || configuration.isInsecure(realmAuthority) {
                headers.add(name: "Authorization", value: Self.basicAuthorization(credentials))
            } else {
                logger.warning("not sending the credentials for \(host) to the plain-HTTP token server \(realm)")
            }
        }

        let realmDescription = Sanitized.text(Self.redacted(realm))
        return try await withRetries(configuration.retry, "token for \(scope) from \(realmDescription)") {
            await auth.countTokenRequest()
            let response = try await execute(url: url, headers: headers, endpoint: endpoint, purpose: .tokenRealm)
            switch response.status.code {
            case 200:
                let body = try await collect(response, limit: 1 << 20, endpoint: realmDescription) {
                    RegistryError.invalidResponse("the token from \(realmDescription) is larger than 1 MiB")
                }
                return try Self.decodeToken(body, from: realmDescription)
            case 401, 403:
                let summary = RegistryErrorBody.summary(await readErrorBody(response))
                let suffix = summary.isEmpty ? "" : " (\(summary))"
                let detail = credentials.map {
                    "the token server \(realmDescription) rejected the credentials of user \"\($0.username)\"\(suffix)"
                } ?? Self.noCredentialsDetail(host) + suffix
                throw RegistryError.unauthorized(host: host, detail: detail)
            default:
                throw await statusError(response, url: url)
            }
        }
    }

    private struct TokenResponse: Decodable {
        var token: String?
        var access_token: String?
        var expires_in: Double?
    }

    static func decodeToken(_ body: Data, from realm: String, now: ContinuousClock.Instant = .now) throws -> BearerToken {
        guard let response = try? JSONDecoder().decode(TokenResponse.self, from: body),
              let value = [response.token, response.access_token].compactMap({ $0 }).first(where: { !$0.isEmpty })
        else {
            throw RegistryError.invalidResponse("the token server \(realm) answered without a token")
        }
        let lifetime = response.expires_in.flatMap { $0 > 0 ? $0 : nil } ?? 60
        // Renew a little early so that a token does not expire between check and use.
        let usable = max(lifetime - 10, lifetime / 2)
        return BearerToken(value: value, expires: now + .milliseconds(Int64(usable * 1000)))
    }
}
