import HTTP2Pipeline
import NIOCore
import NIOHPACK
import NIOHTTP1
import NIOHTTP2

/// The handlers a client connection gets, by the protocol it speaks: HTTP/1.x (a
/// `ProxyClientHandler` for the connection), or cleartext HTTP/2, from its first bytes (prior
/// knowledge) or after `Upgrade: h2c` (a `ProxyClientHandler` for each stream). Either way each
/// request meets the same state machine, route table and upstream pool.
struct ClientPipeline: Sendable {
    let core: ProxyCore
    let resources: LoopResources
    let client: ClientAddress
    let maxConcurrentStreams: Int

    /// The sniffer that picks one of the two on the first bytes.
    func addSniffer(to channel: any Channel) throws {
        let pipeline = self
        let metrics = core.metrics
        try channel.pipeline.syncOperations.addHandler(HTTPVersionSniffer(
            timeout: core.headerTimeout,
            onTimeout: { metrics?.recordTimeout("header") },
            configure: { context, verdict in
                switch verdict {
                case .http2: try pipeline.addHTTP2(to: context.channel, upgradedRequest: nil)
                case .http1, .needMore: try pipeline.addHTTP1(to: context.channel)
                }
            }
        ))
    }

    func addHTTP1(to channel: any Channel) throws {
        let handler = ProxyClientHandler(core: core, resources: resources, client: client, pipeline: self)
        try channel.pipeline.syncOperations.addHandlers([HTTP1RequestReader(sink: handler), handler])
    }

    /// The HTTP/2 server side: the connection handler with its streams, each stream an HTTP/1-style
    /// exchange for a `ProxyClientHandler`, and NIO's connection manager for the lifecycle (GOAWAY
    /// on graceful shutdown, then closing once the streams are done; closing after the idle timeout
    /// with no stream open). NIOHTTP2's own limits stand against floods of resets, control frames
    /// and continuation frames. `upgradedRequest`: the HTTP/1.1 request that asked for `h2c`,
    /// which becomes stream 1.
    func addHTTP2(to channel: any Channel, upgradedRequest: HTTPRequestHead?) throws {
        let operations = channel.pipeline.syncOperations
        if let upgradedRequest {
            let frame = try UpgradedRequestInjector.headersFrame(for: upgradedRequest, allocator: channel.allocator)
            try operations.addHandler(UpgradedRequestInjector(streamOneHeaders: frame))
        }
        let manager = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            configuration: .init(maxIdleTime: core.idleTimeout, maxAge: nil, maxGraceTime: nil, keepalive: nil)
        )
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: maxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: HPACKDecoder.defaultMaxHeaderListSize),
        ]
        // Room for every stream's window at once, so one stream's unread body does not stall the rest.
        connection.targetWindowSize = 1 << 20
        let core = self.core, resources = self.resources, client = self.client
        try operations.addHandler(WritableNextTick())
        _ = try operations.configureHTTP2Pipeline(
            mode: .server,
            connectionConfiguration: connection,
            streamConfiguration: NIOHTTP2Handler.StreamConfiguration(),
            streamDelegate: manager.http2StreamDelegate,
            position: .last
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandlers([
                    HeadersEndCoalescer(),
                    HTTP2FramePayloadToHTTP1ServerCodec(),
                    ProxyClientHandler(core: core, resources: resources, client: client, pipeline: nil),
                ])
            }
        }
        try operations.addHandler(manager)
        try operations.addHandler(ShutdownDeadline(after: core.idleTimeout))
        // The manager starts its idle timer on channelActive, which this connection saw before the
        // manager was there (the protocol is known only from the first bytes).
        if channel.isActive {
            manager.channelActive(context: try operations.context(handler: manager))
        }
    }
}

/// A deadline for an HTTP/2 connection's graceful close. NIO's connection manager sends GOAWAY
/// and a PING, and waits for the PING's ack before it closes the connection once its streams are
/// done; a client that never acks would hold the proxy's shutdown open. After `after` (the idle
/// timeout, which also bounds every stream's silence) the connection is closed.
final class ShutdownDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTP2Frame

    private let after: TimeAmount
    private var scheduled: Scheduled<Void>? = nil

    init(after: TimeAmount) {
        self.after = after
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, scheduled == nil {
            let channel = context.channel
            scheduled = context.eventLoop.scheduleTask(in: after) { channel.close(promise: nil) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        scheduled?.cancel()
    }

    func channelInactive(context: ChannelHandlerContext) {
        scheduled?.cancel()
        context.fireChannelInactive()
    }
}
