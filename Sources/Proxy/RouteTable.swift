/// The HTTP a container serves on its port, as its revision says.
public enum UpstreamProtocol: Sendable, Hashable {
    /// HTTP/1.1: requests go over pooled keep-alive connections, one exchange at a time.
    case http1
    /// HTTP/2 over cleartext with prior knowledge: each request is a stream on one shared
    /// connection per event loop (what gRPC servers speak).
    case h2c
}

/// One instance of a container revision, at its listening address: where the proxy sends a
/// routed request. Two upstreams are the same when they name the same instance at the same
/// address (pooled connections are kept by it); the protocol is the revision's, and the timeout
/// and the timing are the request's.
public struct Upstream: Sendable, Hashable, CustomStringConvertible {
    public var containerID: String
    public var revision: Int
    /// 0 for a revision's first instance.
    public var instance: Int
    /// The container's IPv4 address.
    public var host: String
    public var port: Int
    /// What the container speaks on `port`.
    public var speaks: UpstreamProtocol
    /// How long the response head may take once the request was sent (past it, 504); nil: the
    /// proxy's own `responseTimeout`.
    public var responseTimeout: Duration?
    /// A `Server-Timing` value for the response (the phases of the wake-up the request waited
    /// for); nil adds none.
    public var serverTiming: String?

    public init(containerID: String, revision: Int, instance: Int = 0, host: String, port: Int,
                speaks: UpstreamProtocol = .http1, responseTimeout: Duration? = nil, serverTiming: String? = nil) {
        self.containerID = containerID
        self.revision = revision
        self.instance = instance
        self.host = host
        self.port = port
        self.speaks = speaks
        self.responseTimeout = responseTimeout
        self.serverTiming = serverTiming
    }

    public static func == (a: Upstream, b: Upstream) -> Bool {
        a.containerID == b.containerID && a.revision == b.revision && a.instance == b.instance && a.host == b.host
            && a.port == b.port
    }

    /// A subset of what `==` compares (enough to tell upstreams apart: one host's ports are
    /// distinct): the idle pool hashes an upstream twice per proxied request.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(containerID)
        hasher.combine(instance)
        hasher.combine(port)
    }

    public var description: String { "\(containerID)@\(revision)#\(instance)(\(host):\(port))" }
}

/// Where a request goes, as decided by the ``RouteTable``.
public enum Route: Sendable, Equatable {
    case upstream(Upstream)
    /// Unknown host: 404.
    case notFound
    /// Starting or waking and not ready within the bound: 503. The reason is logged, never sent.
    case unavailable(String)
    /// The container failed: 502. The reason is logged, never sent.
    case failed(String)
}

/// Berth's side of the proxy: routing, wake-up and draining.
public protocol RouteTable: Sendable {
    /// Where a request for `host` (lowercased, port removed) goes. May wait, bounded by the
    /// implementation, while the container starts or wakes from idle; the proxy holds the
    /// request meanwhile (never reads more of its body than buffers allow).
    ///
    /// The proxy calls this on the connection's event loop (as the task executor preference),
    /// only when `routeNow(host:)` had no answer.
    func route(host: String) async -> Route
    /// Where a request for `host` goes when that is known at once, on the event loop, without
    /// waiting or blocking (a ready instance with room, an unknown host, a full queue); nil when
    /// the answer has to wait (a wake-up, a queue), and then `route(host:)` decides. An answer
    /// here costs the request no task: this is every request's path while containers run.
    /// A nil answer must leave nothing behind (no slot taken, nothing queued).
    func routeNow(host: String) -> Route?
    /// Bracket every proxied request/exchange, including upgraded tunnels until they close
    /// (used for idle timers, scale to zero, and draining a revision during a rollout).
    /// Called on an event loop: they must not block.
    func requestStarted(_ upstream: Upstream)
    func requestFinished(_ upstream: Upstream)
    /// An upstream `route` returned that the proxy will not use (the client went away while
    /// the route was decided): no exchange was opened for it, so `requestFinished` will not come.
    /// A route table that holds a slot of the instance from `route` on gives it back here.
    func routeUnused(_ upstream: Upstream)
}

extension RouteTable {
    public func routeUnused(_ upstream: Upstream) {}
    public func routeNow(host: String) -> Route? { nil }
}
