import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A failure worth retrying: a 429/5xx answer or a broken connection. After the last attempt
/// it becomes the `RegistryError` it stands for.
enum TransportFailure: Error {
    case status(Int, url: String, body: String, retryAfter: Duration?)
    case connection(endpoint: String, underlying: String)

    var retryAfter: Duration? {
        if case .status(_, _, _, let retryAfter) = self { return retryAfter }
        return nil
    }

    var registryError: RegistryError {
        switch self {
        case .status(let status, let url, let body, _):
            return .unexpectedStatus(status, url: url, body: body)
        case .connection(let endpoint, let underlying):
            return .unreachable(endpoint: endpoint, underlying: underlying)
        }
    }
}

/// An error thrown by a caller's `consume` closure, carried past retries and mirrors unchanged.
struct ConsumerFailure: Error {
    var underlying: any Error
}

/// A GET on a registry endpoint, in the repository that `scope` names.
struct RegistryRequest: Sendable {
    var url: String
    var headers: HTTPHeaders
    var endpoint: RegistryEndpoint
    var scope: String
}

extension RegistryClient {
    /// Sends `request` with the authorization cached for its endpoint and scope; on a 401,
    /// answers the challenge (another token or Basic credentials) and sends it once more.
    /// Redirects are followed. The response is returned for any status but 401 and 403, which
    /// become `.unauthorized`.
    func send(_ request: RegistryRequest) async throws -> HTTPClientResponse {
        let key = AuthCache.Key(host: request.endpoint.host, scope: request.scope)
        var authorization = await auth.authorization(for: key)
        var answeredChallenge = false
        while true {
            let (response, redirected) = try await sendFollowingRedirects(request, authorization: authorization)
            let status = response.status.code
            // A 401 or 403 from a storage host we were redirected to is not the registry's to answer.
            guard !redirected, status == 401 || status == 403 else { return response }
            let body = await readErrorBody(response)
            let host = request.endpoint.credentialHost
            if status == 403 {
                let summary = RegistryErrorBody.summary(body)
                throw RegistryError.unauthorized(host: host, detail: "access denied\(summary.isEmpty ? "" : " (\(summary))")")
            }
            if answeredChallenge {
                throw RegistryError.unauthorized(host: host, detail: rejectionDetail(for: request.endpoint, body: body))
            }
            let challenges = AuthChallenge.parse(response.headers["WWW-Authenticate"])
            authorization = try await authorize(after: challenges, rejected: authorization, endpoint: request.endpoint,
                                                scope: request.scope, key: key)
            answeredChallenge = true
        }
    }

    private func rejectionDetail(for endpoint: RegistryEndpoint, body: Data) -> String {
        let summary = RegistryErrorBody.summary(body)
        let suffix = summary.isEmpty ? "" : " (\(summary))"
        if let credentials = configuration.credentials(for: endpoint.credentialHost) {
            return "the registry rejected the credentials of user \"\(credentials.username)\", or that user may not pull this repository\(suffix)"
        }
        // Docker Hub answers this way for repositories that do not exist, too.
        return "the repository does not exist or needs credentials, and no credentials are configured for "
            + "\(endpoint.credentialHost) (add them to the registry credentials or a Docker config.json)\(suffix)"
    }

    static func noCredentialsDetail(_ host: String) -> String {
        "authentication required and no credentials are configured for \(host) (add them to the registry credentials or a Docker config.json)"
    }

    private func sendFollowingRedirects(_ request: RegistryRequest,
                                        authorization: String?) async throws -> (HTTPClientResponse, redirected: Bool) {
        var url = request.url
        var authorization = authorization
        for hop in 0...Self.maxRedirects {
            var headers = request.headers
            if let authorization {
                headers.replaceOrAdd(name: "Authorization", value: authorization)
            }
            let response = try await execute(url: url, headers: headers, endpoint: request.endpoint,
                                             purpose: hop == 0 ? .registry : .redirect)
            guard [301, 302, 303, 307, 308].contains(response.status.code),
                  let location = response.headers.first(name: "Location")
            else {
                return (response, hop > 0)
            }
            await discard(response)
            guard let next = URL(string: location, relativeTo: URL(string: url))?.absoluteURL.absoluteString else {
                throw RegistryError.invalidResponse("\(Self.redacted(url)) redirected to an invalid location")
            }
            // Registries redirect blobs to storage hosts, which must not see the registry's credentials.
            if Self.origin(of: next) != Self.origin(of: url) {
                authorization = nil
            }
            url = next
        }
        throw RegistryError.invalidResponse("\(Self.redacted(request.url)): more than \(Self.maxRedirects) redirects")
    }

    /// One GET to an address the egress policy allows (checked by `EgressConnector` where the
    /// connection is made), logged at debug level; failures to get an answer become
    /// `TransportFailure`s. A refusal is a `RegistryError.egressRefused`, not retried.
    func execute(url: String, headers: HTTPHeaders, endpoint: RegistryEndpoint,
                 purpose: EgressPurpose) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        request.headers = headers
        request.headers.replaceOrAdd(name: "User-Agent", value: configuration.userAgent)
        // A token server is not the endpoint: failures name the realm.
        let name = purpose == .tokenRealm ? Sanitized.text(Self.redacted(url)) : endpoint.description
        do {
            let response = try await connector.execute(request, url: url, purpose: purpose,
                                                       plainHTTPAccepted: endpoint.scheme == "http",
                                                       endpoint: name, deadline: .now() + Self.headDeadline)
            logger.debug("GET \(Self.redacted(url)) \(response.status.code)")
            return response
        } catch {
            logger.debug("GET \(Self.redacted(url)) failed: \(error)")
            throw transportFailure(error, endpoint: name)
        }
    }

    /// Classifies an error from the HTTP client or a body stream.
    func transportFailure(_ error: any Error, endpoint: String) -> any Error {
        if error is RegistryError || error is TransportFailure || error is ConsumerFailure || error is CancellationError {
            return error
        }
        if Task.isCancelled {
            return CancellationError()
        }
        if let error = error as? HTTPClientError,
           [HTTPClientError.invalidURL, .emptyHost, .emptyScheme, .alreadyShutdown].contains(error) {
            return RegistryError.invalidConfiguration("\(endpoint): \(error.shortDescription)")
        }
        return TransportFailure.connection(endpoint: endpoint, underlying: Self.describe(error))
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            return error.shortDescription.lowercased()
        }
        if let error = error as? IOError {
            return String(cString: strerror(error.errnoCode)).lowercased()
        }
        return String(describing: error)
    }

    /// Runs `operation` until it succeeds, retrying `TransportFailure`s as `policy` allows.
    func withRetries<T>(_ policy: RetryPolicy, _ what: @autoclosure () -> String,
                        _ operation: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await operation()
            } catch let failure as TransportFailure {
                guard attempt < policy.maxAttempts else { throw failure.registryError }
                let delay = policy.delay(afterAttempt: attempt, retryAfter: failure.retryAfter)
                logger.debug("\(what()): \(failure.registryError); attempt \(attempt + 1) of \(policy.maxAttempts) in \(delay)")
                try await Task.sleep(for: delay)
                attempt += 1
            }
        }
    }

    /// The error for a status the caller has no use for: retryable ones become `TransportFailure`s.
    func statusError(_ response: HTTPClientResponse, url: String) async -> any Error {
        let status = Int(response.status.code)
        let summary = RegistryErrorBody.summary(await readErrorBody(response))
        if RetryPolicy.isRetryable(status: status) {
            return TransportFailure.status(status, url: Self.redacted(url), body: summary,
                                           retryAfter: RetryPolicy.retryAfter(response.headers.first(name: "Retry-After")))
        }
        return RegistryError.unexpectedStatus(status, url: Self.redacted(url), body: summary)
    }

    /// The whole body, at most `limit` bytes; a longer one throws `tooLarge()`.
    func collect(_ response: HTTPClientResponse, limit: Int, endpoint: String,
                 tooLarge: () -> RegistryError) async throws -> Data {
        if let length = Self.contentLength(response), length > limit {
            throw tooLarge()
        }
        var data = Data()
        do {
            for try await chunk in response.body {
                guard data.count + chunk.readableBytes <= limit else { throw tooLarge() }
                data.append(contentsOf: chunk.readableBytesView)
            }
        } catch {
            throw transportFailure(error, endpoint: endpoint)
        }
        return data
    }

    /// Up to 64 KiB of an error body; a failure to read it is not worth reporting.
    func readErrorBody(_ response: HTTPClientResponse) async -> Data {
        var data = Data()
        do {
            for try await chunk in response.body {
                data.append(contentsOf: chunk.readableBytesView)
                if data.count >= 64 << 10 { break }
            }
        } catch {}
        return data
    }

    func discard(_ response: HTTPClientResponse) async {
        _ = await readErrorBody(response)
    }

    static func contentLength(_ response: HTTPClientResponse) -> Int64? {
        response.headers.first(name: "Content-Length").flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// The URL without its query, which on storage redirects carries signatures.
    static func redacted(_ url: String) -> String {
        url.firstIndex(of: "?").map { String(url[..<$0]) } ?? url
    }

    static func origin(of url: String) -> String {
        guard let components = URLComponents(string: url) else { return url }
        let scheme = components.scheme?.lowercased() ?? ""
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        return "\(scheme)://\(components.host?.lowercased() ?? ""):\(port)"
    }
}
