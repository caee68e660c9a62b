import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The invocation proxy: routes requests by `Host` (HTTP/2's `:authority`) to containers over
/// pooled keep-alive connections or shared HTTP/2 connections, streaming bodies both ways with
/// backpressure, tunnelling upgrades. Clients speak HTTP/1.x or cleartext HTTP/2 (prior knowledge
/// or `Upgrade: h2c`), told apart by their first bytes.
///
/// A `Service`: `run()` binds and serves until graceful shutdown, which stops accepting,
/// lets every in-flight exchange finish (open tunnels are closed), then closes idle connections.
/// Task cancellation closes everything at once.
public final class ProxyServer: Service, Sendable {
    public let configuration: ProxyConfiguration
    private let core: ProxyCore
    private let loops: [ObjectIdentifier: LoopResources]
    private let connections: ConnectionRegistry
    private let lifecycle = Mutex(Lifecycle())

    private struct Lifecycle {
        var listener: (any Channel)? = nil
        var port: Int? = nil
        var done = false
        var shutdownRequested = false
        var portWaiters: [CheckedContinuation<Int?, Never>] = []
    }

    public init(configuration: ProxyConfiguration, routes: any RouteTable, metrics: ProxyMetrics?, logger: Logger) {
        self.configuration = configuration
        self.core = ProxyCore(
            routes: routes,
            metrics: metrics,
            responseTimeout: configuration.responseTimeout.timeAmount,
            idleTimeout: configuration.idleTimeout.timeAmount,
            headerTimeout: configuration.headerTimeout.timeAmount,
            logger: logger
        )
        self.connections = ConnectionRegistry(
            maxConnections: configuration.maxConnections,
            maxPerClient: configuration.maxConnectionsPerClient
        )
        var loops: [ObjectIdentifier: LoopResources] = [:]
        for eventLoop in configuration.eventLoopGroup.makeIterator() {
            loops[ObjectIdentifier(eventLoop)] = LoopResources(eventLoop: eventLoop, configuration: configuration, logger: logger)
        }
        self.loops = loops
    }

    /// The port the listener is bound to, once `run()` has bound it (it waits until then); nil
    /// when binding failed or the server has stopped.
    public var boundPort: Int? {
        get async {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int?, Never>) in
                let answer: Int?? = lifecycle.withLock { state in
                    if let port = state.port { return .some(port) }
                    if state.done { return .some(nil) }
                    state.portWaiters.append(continuation)
                    return .none
                }
                if let answer { continuation.resume(returning: answer) }
            }
        }
    }

    /// Closes pooled idle connections to an upstream (when a revision is retired); connections
    /// to it still in use are closed, not pooled, when their exchange ends.
    public func forget(_ upstream: Upstream) {
        for resources in loops.values { resources.forget(upstream) }
    }

    /// Starts a graceful shutdown, as the service group's would: stop accepting, finish in-flight.
    public func shutdownGracefully() {
        let listener = lifecycle.withLock { state -> (any Channel)? in
            state.shutdownRequested = true
            return state.listener
        }
        listener?.close(promise: nil)
        connections.quiesce()
    }

    /// Open client connections (tunnels included).
    public var openConnections: Int { connections.count }

    public func run() async throws {
        let listener: any Channel
        do {
            listener = try await makeBootstrap().bind(host: configuration.host, port: configuration.port).get()
        } catch {
            finish()
            throw error
        }
        let (waiters, stopEarly) = lifecycle.withLock { state in
            state.listener = listener
            state.port = listener.localAddress?.port
            defer { state.portWaiters = [] }
            return (state.portWaiters, state.shutdownRequested)
        }
        waiters.forEach { $0.resume(returning: listener.localAddress?.port) }
        core.logger.info("proxy listening", metadata: ["address": "\(configuration.host):\(listener.localAddress?.port ?? 0)"])
        loops.values.forEach { $0.startSweeping() }
        if stopEarly { shutdownGracefully() }

        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                try? await listener.closeFuture.get()
                await connections.waitUntilEmpty()
            } onGracefulShutdown: {
                self.shutdownGracefully()
            }
        } onCancel: {
            listener.close(promise: nil)
            self.connections.closeAll()
        }
        for resources in loops.values {
            try? await resources.closeAll().get()
        }
        finish()
        core.logger.info("proxy stopped")
    }

    private func finish() {
        let waiters = lifecycle.withLock { state in
            state.done = true
            state.port = nil
            state.listener = nil
            defer { state.portWaiters = [] }
            return state.portWaiters
        }
        waiters.forEach { $0.resume(returning: nil) }
    }

    private func makeBootstrap() -> ServerBootstrap {
        let core = self.core
        let loops = self.loops
        let connections = self.connections
        let configuration = self.configuration
        return ServerBootstrap(group: configuration.eventLoopGroup)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let resources = loops[ObjectIdentifier(channel.eventLoop)] else {
                        throw ChannelError.badInterfaceAddressFamily
                    }
                    let peer = channel.remoteAddress.flatMap(IPAddress.init)
                    let admission = connections.admit(channel, client: peer)
                    guard case .admitted(let quiescing) = admission else {
                        // Closed at once, nothing read: the cheapest answer under a flood. The
                        // bootstrap closes a channel whose initializer throws.
                        core.metrics?.recordRefused(perClient: admission == .refusedPerClient)
                        throw ConnectionCapReached()
                    }
                    let pipeline = ClientPipeline(
                        core: core,
                        resources: resources,
                        client: ClientAddress(ip: channel.remoteAddress?.ipAddress, isTrusted: configuration.isTrusted(peer)),
                        maxConcurrentStreams: configuration.maxConcurrentStreams
                    )
                    try pipeline.addSniffer(to: channel)
                    if quiescing {
                        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
                    }
                }
            }
    }
}

/// A connection refused at accept by `maxConnections` or `maxConnectionsPerClient`.
struct ConnectionCapReached: Error {}
