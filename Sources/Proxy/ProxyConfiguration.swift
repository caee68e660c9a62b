import NIOCore
import NIOPosix

public struct ProxyConfiguration: Sendable {
    /// The listen address.
    public var host: String
    public var port: Int
    /// Upstream connect: refused or reset gives 502, running past this gives 504.
    public var connectTimeout: Duration
    /// The longest wait for the upstream's response head once the whole request is forwarded
    /// (while a body is still arriving, the idle timeout between its parts applies): past it, 504.
    public var responseTimeout: Duration
    /// The longest a client connection may take to send a complete request head: from accept,
    /// or from the first byte of the next request on a kept-alive connection. Past it, a partial
    /// head gets 408 and the connection closes (an empty one just closes).
    public var headerTimeout: Duration
    /// No progress for this long in any phase closes the connection: between keep-alive
    /// requests, between request body chunks, while the client does not read the response, and
    /// in a tunnel with no traffic either way. Pooled upstream connections idle this long too.
    public var idleTimeout: Duration
    public var maxIdleConnectionsPerUpstream: Int
    /// Open client connections (tunnels included); a connection over either cap is closed at accept.
    public var maxConnections: Int
    /// Open client connections from one address (one /64 for IPv6).
    public var maxConnectionsPerClient: Int
    /// Streams one HTTP/2 client connection may have open at once (its SETTINGS).
    public var maxConcurrentStreams: Int
    /// Peers whose X-Forwarded-For, Forwarded, X-Forwarded-Proto/-Host and X-Real-IP are kept;
    /// from any other peer they are dropped and replaced by what the proxy sees.
    public var trustedProxies: [IPNetwork]
    /// The loops serving client connections; each upstream connection lives on its client's loop.
    public var eventLoopGroup: MultiThreadedEventLoopGroup

    public init(
        host: String = "0.0.0.0",
        port: Int = 8080,
        connectTimeout: Duration = .seconds(5),
        responseTimeout: Duration = .seconds(60),
        idleTimeout: Duration = .seconds(60),
        maxIdleConnectionsPerUpstream: Int = 64,
        eventLoopGroup: MultiThreadedEventLoopGroup = .singleton,
        headerTimeout: Duration = .seconds(10),
        maxConnections: Int = 10_000,
        maxConnectionsPerClient: Int = 256,
        trustedProxies: [IPNetwork] = [],
        maxConcurrentStreams: Int = 100
    ) {
        self.host = host
        self.port = port
        self.connectTimeout = connectTimeout
        self.responseTimeout = responseTimeout
        self.idleTimeout = idleTimeout
        self.maxIdleConnectionsPerUpstream = maxIdleConnectionsPerUpstream
        self.eventLoopGroup = eventLoopGroup
        self.headerTimeout = headerTimeout
        self.maxConnections = maxConnections
        self.maxConnectionsPerClient = maxConnectionsPerClient
        self.trustedProxies = trustedProxies
        self.maxConcurrentStreams = maxConcurrentStreams
    }

    func isTrusted(_ peer: IPAddress?) -> Bool {
        guard let peer, !trustedProxies.isEmpty else { return false }
        return trustedProxies.contains { $0.contains(peer) }
    }
}

extension Duration {
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = self.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
