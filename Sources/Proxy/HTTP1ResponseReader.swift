import NIOCore
import NIOHTTP1

/// Where an HTTP/1.1 upstream connection's responses go: its `UpstreamConnection`.
protocol HTTP1ResponseSink: AnyObject {
    func responseHead(_ head: HTTPResponseHead, keepAlive: Bool)
    func responseBody(_ body: ByteBuffer)
    func responseEnd(_ trailers: HTTPHeaders?)
}

/// The upstream connection's response decoder: carries out `HTTP1ResponseParser` on the bytes
/// read, and tells it which requests were HEADs as they are written. The parts go to the sink
/// by a direct call, not down the pipeline: a part passed as `NIOAny` is boxed, and unboxed by a
/// dynamic cast. Errors and the close still travel the pipeline. Removed after a 101 (see
/// `Tunnel`), it hands the bytes it holds to the handler that follows, so none are lost.
final class HTTP1ResponseReader: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private let sink: any HTTP1ResponseSink
    private var parser = HTTP1ResponseParser()
    /// Bytes read and not yet consumed.
    private var pending: ByteBuffer? = nil
    private var parsing = false
    private var removed = false
    private var failed = false

    init(sink: any HTTP1ResponseSink) {
        self.sink = sink
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let bytes = unwrapInboundIn(data)
        if pending == nil {
            pending = bytes
        } else {
            pending!.writeImmutableBuffer(bytes)
        }
        // A read while an event is being handled (never from NIO itself) waits for that loop.
        guard !parsing else { return }
        parsing = true
        defer { parsing = false }
        do {
            while !removed, let event = try nextEvent() {
                deliver(event)
            }
            // A buffer read to its end is dropped, so the next read's buffer is used as it is.
            if pending?.readableBytes == 0 { pending = nil }
        } catch {
            failed = true
            pending = nil
            context.fireErrorCaught(error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !failed {
            do {
                if let event = try parser.inputEnded(leftover: pending?.readableBytes ?? 0) {
                    deliver(event)
                }
            } catch {
                failed = true
                context.fireErrorCaught(error)
            }
        }
        context.fireChannelInactive()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .head(let head) = unwrapOutboundIn(data) {
            parser.requestSent(isHEAD: head.method == .HEAD)
        }
        context.write(data, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
        if let leftover = pending, leftover.readableBytes > 0, !failed {
            pending = nil
            context.fireChannelRead(NIOAny(leftover))
        }
    }

    /// The parser's next event from the pending bytes, which it consumes in place (taken out of
    /// `pending` meanwhile, so they are uniquely referenced and not copied). Called with none left
    /// too: a response's end may need no more bytes.
    private func nextEvent() throws -> HTTP1ResponseParser.Event? {
        guard var buffer = pending else { return nil }
        pending = nil
        defer { pending = buffer }
        return try parser.next(&buffer)
    }

    private func deliver(_ event: HTTP1ResponseParser.Event) {
        switch event {
        case .head(let head, let keepAlive): sink.responseHead(head, keepAlive: keepAlive)
        case .body(let body): sink.responseBody(body)
        case .end(let trailers): sink.responseEnd(trailers)
        }
    }
}
