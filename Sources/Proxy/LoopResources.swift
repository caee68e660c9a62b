import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// What the proxy keeps per event loop: the idle upstream connections and the task executor for
/// routing. Client and upstream connections of one exchange share a loop, so the pool is touched
/// only from that loop and needs no lock.
final class LoopResources: @unchecked Sendable {
    let eventLoop: any EventLoop
    let executor: EventLoopTaskExecutor
    private let configuration: ProxyConfiguration
    private let logger: Logger
    // Confined to `eventLoop`.
    private var pool: IdleConnectionPool<UpstreamConnection>
    private var sweeper: RepeatedTask? = nil

    init(eventLoop: any EventLoop, configuration: ProxyConfiguration, logger: Logger) {
        self.eventLoop = eventLoop
        self.executor = EventLoopTaskExecutor(eventLoop: eventLoop)
        self.configuration = configuration
        self.logger = logger
        self.pool = IdleConnectionPool(
            maxPerUpstream: configuration.maxIdleConnectionsPerUpstream,
            idleTimeout: configuration.idleTimeout.timeAmount
        )
    }

    /// A pooled connection to `upstream` that is still open, if any.
    func takeIdle(_ upstream: Upstream) -> UpstreamConnection? {
        eventLoop.preconditionInEventLoop()
        while true {
            let (connection, expired) = pool.acquire(upstream, now: .now())
            expired.forEach { $0.close() }
            guard let connection else { return nil }
            if connection.isActive { return connection }
        }
    }

    /// After an exchange: back to the pool if the connection can carry another request, else closed.
    func release(_ connection: UpstreamConnection) {
        eventLoop.preconditionInEventLoop()
        guard connection.prepareForReuse() else {
            connection.close()
            return
        }
        let refused = pool.release(connection, to: connection.upstream, epoch: connection.epoch, now: .now())
        refused?.close()
    }

    /// A pooled connection that its upstream closed.
    func remove(_ connection: UpstreamConnection) {
        pool.remove(connection, from: connection.upstream)
    }

    func forget(_ upstream: Upstream) {
        eventLoop.execute {
            self.pool.forget(upstream).forEach { $0.close() }
        }
    }

    func startSweeping() {
        let interval = max(TimeAmount.nanoseconds(configuration.idleTimeout.timeAmount.nanoseconds / 2), .milliseconds(100))
        eventLoop.execute {
            self.sweeper = self.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                self.pool.expire(now: .now()).forEach { $0.close() }
            }
        }
    }

    func closeAll() -> EventLoopFuture<Void> {
        eventLoop.submit {
            self.sweeper?.cancel()
            self.sweeper = nil
            self.pool.removeAll().forEach { $0.close() }
        }
    }

    var idleCount: Int {
        eventLoop.preconditionInEventLoop()
        return pool.count
    }

    /// Opens a connection to `upstream` on this loop.
    func connect(_ upstream: Upstream) -> EventLoopFuture<any Channel> {
        let epoch = pool.epoch(of: upstream)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout.timeAmount)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let connection = UpstreamConnection(upstream: upstream, epoch: epoch, resources: self)
                    var encoderConfiguration = HTTPRequestEncoder.Configuration()
                    encoderConfiguration.automaticallySetFramingHeaders = false
                    try channel.pipeline.syncOperations.addHandlers([
                        HTTPRequestEncoder(configuration: encoderConfiguration),
                        ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .forwardBytes)),
                        connection,
                    ])
                }
            }
        if let address = try? SocketAddress(ipAddress: upstream.host, port: upstream.port) {
            return bootstrap.connect(to: address)
        }
        return bootstrap.connect(host: upstream.host, port: upstream.port)
    }
}
