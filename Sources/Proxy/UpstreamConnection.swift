import NIOCore
import NIOHTTP1

/// The handler at the end of an upstream connection's pipeline, or of one stream's on a shared
/// HTTP/2 connection (`isStream`: one exchange, never pooled; closing it resets the stream, which
/// is how a client's cancellation reaches the upstream). Bound to one client handler per
/// exchange, it relays the response to it and only reads on while the client can take more.
final class UpstreamConnection: ChannelDuplexHandler, RemovableChannelHandler, HTTP1ResponseSink {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    let upstream: Upstream
    let epoch: Int
    let isStream: Bool
    private let resources: LoopResources
    private(set) var context: ChannelHandlerContext? = nil
    private var state = UpstreamConnectionState()
    private var client: ProxyClientHandler? = nil
    private var pendingRead = false
    private var requestWriter = HTTP1Writer<RequestHead>()
    /// The request being answered is a HEAD: its response has no body (`HTTP1ResponseReader`).
    private(set) var requestWasHEAD = false

    init(upstream: Upstream, epoch: Int, resources: LoopResources, isStream: Bool = false) {
        self.upstream = upstream
        self.epoch = epoch
        self.isStream = isStream
        self.resources = resources
    }

    var isActive: Bool { context?.channel.isActive ?? false }
    var isWritable: Bool { context?.channel.isWritable ?? true }
    var isReused: Bool { state.isReused }
    var channel: (any Channel)? { context?.channel }

    // MARK: Used by the client handler

    func bind(to client: ProxyClientHandler) {
        self.client = client
    }

    /// The exchange is over; the connection is pooled or closed next.
    func unbind() {
        client = nil
        if pendingRead {
            // An idle connection keeps reading, so a close by the upstream is seen.
            pendingRead = false
            context?.read()
        }
    }

    /// True when the connection can carry another request (and is now idle).
    func prepareForReuse() -> Bool {
        client = nil
        return state.release() && isActive && !isStream
    }

    func sendHead(_ head: RequestHead) {
        state.requestHeadSent()
        requestWasHEAD = head.method == .HEAD
        send(.head(head))
    }

    func sendBody(_ body: ByteBuffer) {
        send(.body(.byteBuffer(body)))
    }

    func sendEnd(_ trailers: HTTPHeaders?) {
        state.requestEndSent()
        send(.end(trailers))
    }

    /// As bytes on an HTTP/1.1 connection, as a part to a stream's HTTP/2 codec.
    private func send(_ part: HTTPPart<RequestHead, IOData>) {
        guard let context else { return }
        if isStream {
            context.write(wrapOutboundOut(part.mapHead(\.typed)), promise: nil)
        } else {
            requestWriter.write(part, context: context, promise: nil)
        }
    }

    func flush() {
        guard let context else { return }
        if !isStream { requestWriter.releaseHeld(context: context) }
        context.flush()
    }

    func close() {
        client = nil
        state.closed()
        context?.close(promise: nil)
    }

    func clientBecameWritable() {
        guard pendingRead else { return }
        pendingRead = false
        context?.read()
    }

    // MARK: ChannelHandler

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// A stream's response parts (an HTTP/1.1 connection's come from its `HTTP1ResponseReader`).
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): responseHead(ResponseHead(head), keepAlive: false)  // a stream is never pooled
        case .body(let body): responseBody(body)
        case .end(let trailers): responseEnd(trailers)
        }
    }

    // MARK: HTTP1ResponseSink

    func responseHead(_ head: ResponseHead, keepAlive: Bool) {
        guard let client else { return idleConnectionRead() }
        state.responseHeadReceived(status: head.status.code, keepAlive: keepAlive)
        client.upstreamResponseHead(head)
    }

    func responseBody(_ body: ByteBuffer) {
        guard let client else { return idleConnectionRead() }
        client.upstreamResponseBody(body)
    }

    func responseEnd(_ trailers: HTTPHeaders?) {
        guard let client else { return idleConnectionRead() }
        state.responseEndReceived()
        client.upstreamResponseEnd(trailers, reusable: state.isReusable)
    }

    /// Nothing may arrive on an idle connection.
    private func idleConnectionRead() {
        close()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        client?.upstreamReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.closed()
        if let client {
            self.client = nil
            client.upstreamFailed(self)
        } else if !isStream {
            resources.remove(self)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Unparseable responses and resets alike: channelInactive tells the client handler.
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { client?.upstreamBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if let client, !client.isClientWritable {
            pendingRead = true
        } else {
            context.read()
        }
    }
}
