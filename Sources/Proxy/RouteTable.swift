/// A container revision's listening address: where the proxy sends a routed request.
public struct Upstream: Sendable, Hashable, CustomStringConvertible {
    public var containerID: String
    public var revision: Int
    /// The container's IPv4 address.
    public var host: String
    public var port: Int

    public init(containerID: String, revision: Int, host: String, port: Int) {
        self.containerID = containerID
        self.revision = revision
        self.host = host
        self.port = port
    }

    public var description: String { "\(containerID)@\(revision)(\(host):\(port))" }
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
    /// The proxy calls this on the connection's event loop (as the task executor preference);
    /// an implementation that answers without suspending costs no thread hop.
    func route(host: String) async -> Route
    /// Bracket every proxied request/exchange, including upgraded tunnels until they close
    /// (used for idle timers, scale to zero, and draining a revision during a rollout).
    /// Called on an event loop: they must not block.
    func requestStarted(_ upstream: Upstream)
    func requestFinished(_ upstream: Upstream)
}
