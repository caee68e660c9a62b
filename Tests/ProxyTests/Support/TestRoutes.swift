import Foundation
import Logging
import NIOCore
import NIOPosix
import Prometheus
import Synchronization
@testable import Proxy

/// A route table for tests: fixed hosts, optional delay, and a log of the bracketing calls.
final class TestRoutes: RouteTable {
    private let table: Mutex<[String: Route]>
    private let counts = Mutex<[String: (started: Int, finished: Int)]>([:])
    let routeDelay: Duration?
    let routeCalls = Atomic<Int>(0)

    init(_ table: [String: Route], routeDelay: Duration? = nil) {
        self.table = Mutex(table)
        self.routeDelay = routeDelay
    }

    func set(_ host: String, _ route: Route) {
        table.withLock { $0[host] = route }
    }

    /// Without a delay the answer comes at once, on the proxy's task-free path, as berthd's does
    /// while a container runs; with one, through `route(host:)`, as a wake-up does.
    func routeNow(host: String) -> Route? {
        guard routeDelay == nil else { return nil }
        routeCalls.wrappingAdd(1, ordering: .relaxed)
        return table.withLock { $0[host] } ?? .notFound
    }

    func route(host: String) async -> Route {
        routeCalls.wrappingAdd(1, ordering: .relaxed)
        if let routeDelay { try? await Task.sleep(for: routeDelay) }
        return table.withLock { $0[host] } ?? .notFound
    }

    func requestStarted(_ upstream: Upstream) {
        counts.withLock { $0[upstream.containerID, default: (0, 0)].started += 1 }
    }

    func requestFinished(_ upstream: Upstream) {
        counts.withLock { $0[upstream.containerID, default: (0, 0)].finished += 1 }
    }

    func started(_ containerID: String) -> Int { counts.withLock { $0[containerID]?.started ?? 0 } }
    func finished(_ containerID: String) -> Int { counts.withLock { $0[containerID]?.finished ?? 0 } }
    func inFlight(_ containerID: String) -> Int {
        counts.withLock { ($0[containerID]?.started ?? 0) - ($0[containerID]?.finished ?? 0) }
    }
}

extension Upstream {
    static func test(_ id: String, _ upstream: TestUpstream) -> Upstream {
        Upstream(containerID: id, revision: 1, host: "127.0.0.1", port: upstream.port)
    }

    static func test(_ id: String, port: Int) -> Upstream {
        Upstream(containerID: id, revision: 1, host: "127.0.0.1", port: port)
    }
}

/// A running proxy on an ephemeral loopback port.
struct RunningProxy {
    let server: ProxyServer
    let port: Int
    let task: Task<Void, any Error>
    let registry: PrometheusCollectorRegistry

    static func start(
        routes: any RouteTable,
        connectTimeout: Duration = .seconds(2),
        responseTimeout: Duration = .seconds(10),
        idleTimeout: Duration = .seconds(30),
        maxIdle: Int = 16,
        headerTimeout: Duration = .seconds(10),
        maxConnections: Int = 10_000,
        maxConnectionsPerClient: Int = 256,
        trustedProxies: [IPNetwork] = []
    ) async throws -> RunningProxy {
        let registry = PrometheusCollectorRegistry()
        var logger = Logger(label: "proxy-test")
        logger.logLevel = ProcessInfo.processInfo.environment["PROXY_TEST_LOG"] == nil ? .warning : .trace
        let server = ProxyServer(
            configuration: ProxyConfiguration(
                host: "127.0.0.1",
                port: 0,
                connectTimeout: connectTimeout,
                responseTimeout: responseTimeout,
                idleTimeout: idleTimeout,
                maxIdleConnectionsPerUpstream: maxIdle,
                headerTimeout: headerTimeout,
                maxConnections: maxConnections,
                maxConnectionsPerClient: maxConnectionsPerClient,
                trustedProxies: trustedProxies
            ),
            routes: routes,
            metrics: ProxyMetrics(registry: registry),
            logger: logger
        )
        let task = Task { try await server.run() }
        guard let port = await server.boundPort else { throw TestClientError(description: "proxy did not bind") }
        return RunningProxy(server: server, port: port, task: task, registry: registry)
    }

    func stop() async {
        server.shutdownGracefully()
        _ = try? await withTimeout(10) { try await task.value }
    }
}

/// A port nothing listens on.
func closedPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    _ = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
