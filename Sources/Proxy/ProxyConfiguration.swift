import NIOCore
import NIOPosix

public struct ProxyConfiguration: Sendable {
    /// The listen address.
    public var host: String
    public var port: Int
    /// Upstream connect: refused or reset gives 502, running past this gives 504.
    public var connectTimeout: Duration
    /// The longest wait for the upstream's response head once the request is sent, counted from
    /// the last request byte forwarded (so a long upload is not cut): past it, 504.
    public var responseTimeout: Duration
    /// Idle client connections (between requests) and pooled upstream connections are closed
    /// after this long.
    public var idleTimeout: Duration
    public var maxIdleConnectionsPerUpstream: Int
    /// The loops serving client connections; each upstream connection lives on its client's loop.
    public var eventLoopGroup: MultiThreadedEventLoopGroup

    public init(
        host: String = "0.0.0.0",
        port: Int = 8080,
        connectTimeout: Duration = .seconds(5),
        responseTimeout: Duration = .seconds(60),
        idleTimeout: Duration = .seconds(60),
        maxIdleConnectionsPerUpstream: Int = 64,
        eventLoopGroup: MultiThreadedEventLoopGroup = .singleton
    ) {
        self.host = host
        self.port = port
        self.connectTimeout = connectTimeout
        self.responseTimeout = responseTimeout
        self.idleTimeout = idleTimeout
        self.maxIdleConnectionsPerUpstream = maxIdleConnectionsPerUpstream
        self.eventLoopGroup = eventLoopGroup
    }
}

extension Duration {
    var timeAmount: TimeAmount {
        let (seconds, attoseconds) = self.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
