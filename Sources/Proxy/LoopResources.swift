import Logging
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix

/// What the proxy keeps per event loop: the idle upstream connections, the HTTP/2 sessions to
/// upstreams that speak h2c, and the task executor for routing. Client and upstream connections
/// of one exchange share a loop, so the pool and the sessions are touched only from that loop
/// and need no lock.
final class LoopResources: @unchecked Sendable {
    let eventLoop: any EventLoop
    let executor: EventLoopTaskExecutor
    private let configuration: ProxyConfiguration
    private let logger: Logger
    // Confined to `eventLoop`.
    private var pool: IdleConnectionPool<UpstreamConnection>
    private var sessions: [Upstream: HTTP2UpstreamSession] = [:]
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
            self.sessions.removeValue(forKey: upstream)?.retire()
        }
    }

    func startSweeping() {
        let interval = max(TimeAmount.nanoseconds(configuration.idleTimeout.timeAmount.nanoseconds / 2), .milliseconds(100))
        eventLoop.execute {
            self.sweeper = self.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                let now = NIODeadline.now()
                self.pool.expire(now: now).forEach { $0.close() }
                for (upstream, session) in self.sessions where session.isIdle(longerThan: self.configuration.idleTimeout.timeAmount, now: now) {
                    self.sessions[upstream] = nil
                    session.close()
                }
            }
        }
    }

    func closeAll() -> EventLoopFuture<Void> {
        eventLoop.submit {
            self.sweeper?.cancel()
            self.sweeper = nil
            self.pool.removeAll().forEach { $0.close() }
            self.sessions.values.forEach { $0.close() }
            self.sessions.removeAll()
        }
    }

    var idleCount: Int {
        eventLoop.preconditionInEventLoop()
        return pool.count
    }

    /// A new stream to an h2c upstream, on this loop's session with it (opened when there is none,
    /// or, when `fresh`, in place of the one there is), and whether that session was already up.
    func openStream(_ upstream: Upstream, fresh: Bool) -> (stream: EventLoopFuture<any Channel>, reused: Bool) {
        eventLoop.preconditionInEventLoop()
        if fresh { sessions.removeValue(forKey: upstream)?.retire() }
        let session = sessions[upstream] ?? startSession(upstream)
        let reused = session.isEstablished
        session.streamOpened()
        let stream = session.multiplexer.flatMap { [self] multiplexer in
            multiplexer.createStreamChannel { stream in
                HTTP2UpstreamSession.initializeStream(stream, upstream: upstream, resources: self)
            }
        }
        stream.whenComplete { [self] result in
            switch result {
            case .success(let channel):
                channel.closeFuture.whenComplete { _ in session.streamEnded(now: .now()) }
            case .failure:
                session.streamEnded(now: .now())
                // A session that never came up is not kept: the next exchange tries again.
                if !session.isEstablished, sessions[upstream] === session { sessions[upstream] = nil }
            }
        }
        return (stream, reused)
    }

    private func startSession(_ upstream: Upstream) -> HTTP2UpstreamSession {
        let promise = eventLoop.makePromise(of: NIOHTTP2Handler.StreamMultiplexer.self)
        let session = HTTP2UpstreamSession(multiplexer: promise.futureResult, now: .now())
        sessions[upstream] = session
        let loop = NIOLoopBound((self, session), eventLoop: eventLoop)
        let connected = HTTP2UpstreamSession.connect(
            to: upstream, on: eventLoop, connectTimeout: configuration.connectTimeout.timeAmount
        ) { event in
            let (resources, session) = loop.value
            // Either way no new stream goes to it; on GOAWAY the open ones finish.
            if resources.sessions[upstream] === session { resources.sessions[upstream] = nil }
            if event == .goAway { session.retire() }
        }
        connected.whenComplete { result in
            let (_, session) = loop.value
            do {
                let channel = try result.get()
                do {
                    let multiplexer = try channel.pipeline.syncOperations.handler(type: NIOHTTP2Handler.self).syncMultiplexer()
                    session.established(channel)
                    promise.succeed(multiplexer)
                } catch {
                    channel.close(promise: nil)
                    throw error
                }
            } catch {
                promise.fail(error)
            }
        }
        return session
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
                    try channel.pipeline.syncOperations.addHandlers([HTTP1ResponseReader(sink: connection), connection])
                }
            }
        if let address = try? SocketAddress(ipAddress: upstream.host, port: upstream.port) {
            return bootstrap.connect(to: address)
        }
        return bootstrap.connect(host: upstream.host, port: upstream.port)
    }
}
