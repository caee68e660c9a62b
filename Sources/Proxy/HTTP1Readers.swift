import NIOCore
import NIOHTTP1

/// The bytes an HTTP/1 reader holds between reads, parsed in place, the parser, and the reader's
/// state around them: one parse loop at a time, nothing read after an error or after it left.
/// One value, so that each step of a parse loop is one access to the reader's state (a class
/// property's, checked for exclusivity at run time), the parser's included.
struct HTTP1Input<Parser> {
    var parser: Parser
    private var pending: ByteBuffer? = nil
    private var parsing = false
    private(set) var removed = false
    private(set) var failed = false

    var leftoverCount: Int { pending?.readableBytes ?? 0 }

    init(_ parser: Parser) {
        self.parser = parser
    }

    /// The storage held, for the test that it stays bounded.
    var heldCapacity: Int { pending?.capacity ?? 0 }

    /// The bytes read before are only what a message still needs (part of a head, of a chunk's
    /// size line): they are moved to the front first, so a long body read in pieces that each
    /// end within such a line never grows the buffer by what was consumed.
    private mutating func append(_ bytes: ByteBuffer) {
        guard var buffer = pending else {
            pending = bytes
            return
        }
        pending = nil
        buffer.discardReadBytes()
        buffer.writeImmutableBuffer(bytes)
        pending = buffer
    }

    /// The next event: `step` runs the parser on the pending bytes, which it consumes (taken out
    /// of `pending` meanwhile, so they are uniquely referenced and not copied). Called with none
    /// left too: a message's end may need no more bytes. Nil once the reader left (the handling
    /// of an event removed it), or when more bytes are needed.
    @inline(__always)
    mutating func next<Event>(_ step: (inout Parser, inout ByteBuffer) throws -> Event?) rethrows -> Event? {
        guard !removed, var buffer = pending else { return nil }
        pending = nil
        defer { pending = buffer }
        return try step(&parser, &buffer)
    }

    /// A read: its bytes are added, and true says to run the parse loop (then `finishReading`).
    /// False after an error, or while a loop runs: a read while an event is being handled (never
    /// from NIO itself) is parsed by that loop.
    mutating func startReading(_ bytes: ByteBuffer) -> Bool {
        guard !failed else { return false }
        append(bytes)
        guard !parsing else { return false }
        parsing = true
        return true
    }

    /// After a read's events: a buffer read to its end is dropped, so the next read's buffer is
    /// used as it is.
    mutating func finishReading() {
        parsing = false
        if pending?.readableBytes == 0 { pending = nil }
    }

    /// The bytes are not HTTP/1: nothing more is read.
    mutating func fail() {
        failed = true
        pending = nil
    }

    /// The reader leaves: what is left goes to the handler that takes over a live connection after
    /// an upgrade (`handOver`); removed as the connection closes, or without an upgrade, it is
    /// dropped, since the handler after a reader reads HTTP parts, never bytes.
    mutating func leave(handOver: Bool) -> ByteBuffer? {
        removed = true
        defer { pending = nil }
        return handOver && !failed && leftoverCount > 0 ? pending : nil
    }
}

/// Where an HTTP/1.1 upstream connection's responses go: its `UpstreamConnection`.
protocol HTTP1ResponseSink: AnyObject {
    /// The request being answered is a HEAD (its response has no body).
    var requestWasHEAD: Bool { get }
    func responseHead(_ head: ResponseHead, keepAlive: Bool)
    func responseBody(_ body: ByteBuffer)
    func responseEnd(_ trailers: HTTPHeaders?)
}

/// The upstream connection's response decoder: carries out `HTTP1ResponseParser` on the bytes
/// read, asking the sink whether the request was a HEAD. The parts go to the sink by a direct
/// call, not down the pipeline: a part passed as `NIOAny` is boxed, and unboxed by a dynamic
/// cast. Errors and the close still travel the pipeline. Removed after a 101 (see `Tunnel`), it
/// hands the bytes it holds to the handler that follows, so none are lost.
final class HTTP1ResponseReader: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let sink: any HTTP1ResponseSink
    private var input = HTTP1Input(HTTP1ResponseParser())

    init(sink: any HTTP1ResponseSink) {
        self.sink = sink
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard input.startReading(unwrapInboundIn(data)) else { return }
        defer { input.finishReading() }
        do {
            // Asked once per read: the request an upstream connection answers changes only after
            // its response ended, and a second response in the same read is refused anyway.
            let requestWasHEAD = sink.requestWasHEAD
            while let event = try input.next({ try $0.next(&$1, requestWasHEAD: requestWasHEAD) }) {
                deliver(event)
            }
        } catch {
            input.fail()
            context.fireErrorCaught(error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !input.failed {
            do {
                let leftover = input.leftoverCount
                if let event = try input.parser.inputEnded(leftover: leftover) { deliver(event) }
            } catch {
                input.fail()
                context.fireErrorCaught(error)
            }
        }
        context.fireChannelInactive()
    }

    /// After a 101 the bytes held are the tunnel's, for the handler that replaces the connection's.
    func handlerRemoved(context: ChannelHandlerContext) {
        let handOver = input.parser.isUpgraded && context.channel.isActive
        if let leftover = input.leave(handOver: handOver) {
            context.fireChannelRead(wrapInboundOut(leftover))
        }
    }

    /// `consume`: the head moves on to the sink, where a copy was made and dropped per response.
    private func deliver(_ event: consuming HTTP1ResponseParser.Event) {
        switch consume event {
        case .head(let head, let keepAlive): sink.responseHead(head, keepAlive: keepAlive)
        case .body(let body): sink.responseBody(body)
        case .end(let trailers): sink.responseEnd(trailers)
        }
    }
}

/// Where a client connection's HTTP/1 requests go: its `ProxyClientHandler`.
protocol HTTP1RequestSink: AnyObject {
    func requestPart(_ part: RequestPart)
    /// Whether the connection leaves HTTP/1 after this request that asks to (a tunnel, HTTP/2,
    /// CONNECT's close), or serves it as HTTP/1.1 and reads on (a declined `h2c` offer).
    func switchesProtocols(after head: RequestHead) -> Bool
    /// The bytes are not HTTP/1 (a 400, and the connection closes), or use a transfer coding the
    /// proxy does not implement (501).
    func requestMalformed(unsupportedCoding: Bool)
}

/// The client connection's request decoder: carries out `HTTP1RequestParser` on the bytes read
/// and hands the parts to the sink by a direct call (see `HTTP1ResponseReader`). Removed for a
/// tunnel or for HTTP/2 after `Upgrade: h2c`, it hands the bytes it holds to the handler that
/// follows.
final class HTTP1RequestReader: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let sink: any HTTP1RequestSink
    private var input = HTTP1Input(HTTP1RequestParser())

    init(sink: any HTTP1RequestSink) {
        self.sink = sink
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard input.startReading(unwrapInboundIn(data)) else { return }
        defer { input.finishReading() }
        do {
            while let event = try input.next({ try $0.next(&$1) }) {
                switch consume event {  // the head moves on to the sink, not copied
                case .head(let head):
                    if input.parser.upgradeFollows && !sink.switchesProtocols(after: head) { input.parser.declineUpgrade() }
                    sink.requestPart(.head(head))
                case .body(let body): sink.requestPart(.body(body))
                case .end(let trailers): sink.requestPart(.end(trailers))
                }
            }
        } catch {
            input.fail()
            sink.requestMalformed(unsupportedCoding: (error as? HTTP1Malformed)?.unsupportedCoding ?? false)
        }
    }

    /// After an upgrade request the bytes held are the tunnel's or HTTP/2's, for the handlers
    /// that take over (an upgrade the upstream refused, or a CONNECT, closes the connection).
    func handlerRemoved(context: ChannelHandlerContext) {
        let handOver = input.parser.isUpgraded && context.channel.isActive
        if let leftover = input.leave(handOver: handOver) {
            context.fireChannelRead(wrapInboundOut(leftover))
        }
    }
}
