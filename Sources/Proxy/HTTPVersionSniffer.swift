import NIOCore

/// Which HTTP a client connection speaks, told by its first bytes: the HTTP/2 connection preface
/// (cleartext HTTP/2 with prior knowledge, RFC 9113 §3.3) or anything else, which is HTTP/1.x
/// for the HTTP/1 parser to judge.
enum ConnectionPreface {
    static let http2: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    enum Verdict: Equatable {
        case http1
        case http2
        /// Every byte so far is the preface's: wait for more.
        case needMore
    }

    /// The verdict on the first bytes: HTTP/1 as soon as one differs from the preface, so an
    /// HTTP/1 request is told by its first byte (no method starts with `PRI`'s `P`, `R`).
    static func classify(_ bytes: some Collection<UInt8>) -> Verdict {
        var matched = 0
        for (byte, expected) in zip(bytes, http2) {
            guard byte == expected else { return .http1 }
            matched += 1
        }
        return matched == http2.count ? .http2 : .needMore
    }
}

/// The first handler of a client connection. It holds the first bytes until `ConnectionPreface`
/// decides, has the pipeline configured for that protocol, hands it those bytes and leaves: one
/// look at the first read, nothing on later ones.
///
/// A connection that sends nothing decisive within the header timeout is closed, as an HTTP/1
/// connection that sends no request head would be; so is one still undecided at graceful shutdown.
final class HTTPVersionSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let configure: (ChannelHandlerContext, ConnectionPreface.Verdict) throws -> Void
    private let timeout: TimeAmount
    private let onTimeout: () -> Void
    private var held = HeldBytes()
    private var timer: Scheduled<Void>? = nil
    private var decided = false

    /// `configure` adds the protocol's handlers after this one (it is called on the event loop).
    init(timeout: TimeAmount, onTimeout: @escaping () -> Void,
         configure: @escaping (ChannelHandlerContext, ConnectionPreface.Verdict) throws -> Void) {
        self.timeout = timeout
        self.onTimeout = onTimeout
        self.configure = configure
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startTimer(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startTimer(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !decided else {
            context.fireChannelRead(data)
            return
        }
        let bytes = held.joined(with: unwrapInboundIn(data))
        let verdict = ConnectionPreface.classify(bytes.readableBytesView)
        guard verdict != .needMore else {
            held.hold(bytes)
            return
        }
        decided = true
        timer?.cancel()
        timer = nil
        do {
            try configure(context, verdict)
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// Graceful shutdown before the protocol is known: nothing was asked yet, so the connection
    /// closes, as an idle HTTP/1 one does.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent && !decided {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func startTimer(context: ChannelHandlerContext) {
        guard timer == nil, !decided else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (sniffer, context) = loopBound.value
            sniffer.onTimeout()
            context.close(promise: nil)
        }
    }
}

/// Bytes a handler holds across reads until it has enough of them to decide what they are.
struct HeldBytes {
    private var bytes: ByteBuffer? = nil

    /// What was held, then `next`; nothing is held any more.
    mutating func joined(with next: ByteBuffer) -> ByteBuffer {
        guard var earlier = bytes else { return next }
        var next = next
        earlier.writeBuffer(&next)
        bytes = nil
        return earlier
    }

    mutating func hold(_ bytes: ByteBuffer) {
        self.bytes = bytes
    }

    /// What is held, if anything; nothing is held any more.
    mutating func take() -> ByteBuffer? {
        defer { bytes = nil }
        return bytes
    }
}
