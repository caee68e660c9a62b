import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import OCI

/// The bytes of a manifest or index, and the descriptor that names them.
public struct FetchedManifest: Sendable {
    /// The media type the registry served, the sha256 and the size of `data`.
    public var descriptor: Descriptor
    public var data: Data

    public init(descriptor: Descriptor, data: Data) {
        self.descriptor = descriptor
        self.data = data
    }
}

/// A client for the OCI distribution API: resolves references and fetches manifests and
/// blobs, with authentication, mirrors, retries and verification of everything it returns.
///
/// containerd 1.6 cannot pull by itself over its API, so this is how content gets in.
public final class RegistryClient: Sendable {
    public let configuration: RegistryConfiguration
    let connector: EgressConnector
    let logger: Logger
    let auth = AuthCache()

    static let manifestSizeLimit = 4 << 20
    static let inMemoryBlobLimit: Int64 = 16 << 20
    static let maxRedirects = 5
    /// Until the response head arrives; a body is bounded by the read timeout instead, since a
    /// multi-gigabyte layer may take as long as it takes while bytes keep coming.
    static let headDeadline: TimeAmount = .seconds(120)

    /// Makes its own HTTP clients (redirects handled here, so that each hop is checked and the
    /// registry's `Authorization` does not travel to a storage host; connect timeout 10 s, read
    /// timeout 60 s, no connection retries of their own), connecting only where the
    /// configuration's egress policy allows.
    public convenience init(configuration: RegistryConfiguration, logger: Logger = Logger(label: "berth.registry")) {
        self.init(configuration: configuration, logger: logger, resolve: EgressConnector.systemResolve)
    }

    /// With another resolver than getaddrinfo: for tests of what the policy does with the answers.
    init(configuration: RegistryConfiguration, logger: Logger = Logger(label: "berth.registry"),
         resolve: @escaping EgressConnector.Resolver) {
        self.configuration = configuration
        self.logger = logger
        var httpConfiguration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(10), read: .seconds(60)),
            decompression: .disabled)
        // The pool would otherwise retry a refused connection itself until the connect
        // timeout, making each of our attempts (and each dead mirror) cost 10 s.
        httpConfiguration.connectionPool.retryConnectionEstablishment = false
        connector = EgressConnector(policy: configuration.egressPolicy, configuration: httpConfiguration, resolve: resolve)
        for mirror in configuration.invalidMirrors {
            logger.warning("ignoring mirror \"\(mirror)\": mirrors must be http:// or https:// URLs")
        }
    }

    /// Shuts down the HTTP clients.
    public func shutdown() async throws {
        try await connector.shutdown()
    }

    /// Requests made to token servers so far, retries included.
    public func tokenRequestCount() async -> Int {
        await auth.tokenRequests
    }

    static func pullScope(_ repository: String) -> String {
        "repository:\(repository):pull"
    }

    /// Mirrors get one retry at most: the registry behind them is the fallback, and a dead
    /// mirror should not cost a full backoff on every blob.
    func retryPolicy(for endpoint: RegistryEndpoint) -> RetryPolicy {
        guard endpoint.isMirror else { return configuration.retry }
        var policy = configuration.retry
        policy.maxAttempts = min(policy.maxAttempts, 2)
        return policy
    }

    /// Runs `operation` on each endpoint of the reference's registry in turn (mirrors first);
    /// a mirror failing with a `RegistryError` passes the request on to the next endpoint.
    func onEndpoints<T>(for reference: ImageReference,
                        _ operation: (RegistryEndpoint) async throws -> T) async throws -> T {
        let endpoints = configuration.endpoints(for: reference.registry)
        for endpoint in endpoints.dropLast() {
            do {
                return try await operation(endpoint)
            } catch let error as RegistryError {
                logger.info("mirror \(endpoint) failed: \(error); trying the next endpoint")
            }
        }
        return try await operation(endpoints[endpoints.count - 1])
    }
}
