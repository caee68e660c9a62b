import HTTP2Pipeline
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix

/// One event loop's HTTP/2 cleartext connection to an upstream that speaks h2c, shared by that
/// loop's exchanges with it: each exchange is a stream (`UpstreamConnection` with `isStream`).
///
/// Opened on the first exchange; retired (no new streams) when the upstream sends GOAWAY, when
/// the upstream is forgotten (a revision retired) or when a retry asks for a fresh connection;
/// closed once retired with no stream left, or after the idle timeout with none open.
/// Confined to its loop, as `LoopResources` is.
final class HTTP2UpstreamSession: @unchecked Sendable {
    /// Completes once the connection is up and its HTTP/2 handler ready for streams.
    let multiplexer: EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer>
    private(set) var channel: (any Channel)? = nil
    private(set) var openStreams = 0
    private(set) var idleSince: NIODeadline
    private var isRetired = false
    private(set) var isEstablished = false

    init(multiplexer: EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer>, now: NIODeadline) {
        self.multiplexer = multiplexer
        self.idleSince = now
    }

    func established(_ channel: any Channel) {
        self.channel = channel
        isEstablished = true
        if isRetired && openStreams == 0 { channel.close(promise: nil) }
    }

    func streamOpened() {
        openStreams += 1
    }

    func streamEnded(now: NIODeadline) {
        openStreams -= 1
        if openStreams == 0 {
            idleSince = now
            if isRetired { channel?.close(promise: nil) }
        }
    }

    /// No new streams; closed once the open ones end.
    func retire() {
        isRetired = true
        if openStreams == 0 { channel?.close(promise: nil) }
    }

    func close() {
        isRetired = true
        channel?.close(promise: nil)
    }

    func isIdle(longerThan timeout: TimeAmount, now: NIODeadline) -> Bool {
        openStreams == 0 && idleSince + timeout <= now
    }

    /// Opens the connection on `eventLoop`. `watch` is told of the upstream's GOAWAY and of the
    /// connection's end.
    static func connect(
        to upstream: Upstream,
        on eventLoop: any EventLoop,
        connectTimeout: TimeAmount,
        watch: @escaping @Sendable (HTTP2SessionWatcher.Event) -> Void
    ) -> EventLoopFuture<any Channel> {
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    var connection = NIOHTTP2Handler.ConnectionConfiguration()
                    connection.initialSettings = [
                        // Berth never takes a pushed stream.
                        HTTP2Setting(parameter: .enablePush, value: 0),
                        HTTP2Setting(parameter: .maxHeaderListSize, value: 1 << 16),
                    ]
                    connection.targetWindowSize = 1 << 20
                    try channel.pipeline.syncOperations.addHandler(WritableNextTick())
                    _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .client,
                        connectionConfiguration: connection,
                        streamConfiguration: NIOHTTP2Handler.StreamConfiguration()
                    ) { pushed in
                        pushed.close()
                    }
                    try channel.pipeline.syncOperations.addHandler(HTTP2SessionWatcher(watch))
                }
            }
        if let address = try? SocketAddress(ipAddress: upstream.host, port: upstream.port) {
            return bootstrap.connect(to: address)
        }
        return bootstrap.connect(host: upstream.host, port: upstream.port)
    }

    /// The pipeline of an exchange's stream: NIO's codec between HTTP/2 frames and the HTTP/1
    /// parts the client handler exchanges, then the upstream handler.
    static func initializeStream(_ stream: any Channel, upstream: Upstream, resources: LoopResources) -> EventLoopFuture<Void> {
        stream.eventLoop.makeCompletedFuture {
            try stream.pipeline.syncOperations.addHandlers([
                HTTP2FramePayloadToHTTP1ClientCodec(httpProtocol: .http),
                UpstreamConnection(upstream: upstream, epoch: 0, resources: resources, isStream: true),
            ])
        }
    }
}

/// After the HTTP/2 handler of an upstream session: sees the connection-level frames and the
/// connection's end, and tells the session's owner.
final class HTTP2SessionWatcher: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame

    enum Event {
        case goAway
        case closed
    }

    private let watch: @Sendable (Event) -> Void

    init(_ watch: @escaping @Sendable (Event) -> Void) {
        self.watch = watch
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .goAway = unwrapInboundIn(data).payload { watch(.goAway) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        watch(.closed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A connection-level protocol error: NIOHTTP2 has sent GOAWAY; nothing more to do on it.
        context.close(promise: nil)
    }
}
