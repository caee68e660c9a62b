import NIOCore
import NIOHTTP1

/// After a 101: both connections lose their HTTP handlers and are glued byte for byte.
enum Tunnel {
    /// `client` and `upstream` are the contexts of the two HTTP handlers being replaced. The
    /// tunnel handlers go in before the readers leave, so bytes the readers hold (sent right
    /// after the upgrade request or the 101) are forwarded, not lost.
    static func splice(
        client: ChannelHandlerContext,
        upstream: ChannelHandlerContext,
        session: TunnelSession
    ) throws {
        let clientSide = TunnelHandler(session: session)
        let upstreamSide = TunnelHandler(session: session)
        clientSide.partner = upstreamSide
        upstreamSide.partner = clientSide

        let upstreamPipeline = upstream.pipeline.syncOperations
        let clientPipeline = client.pipeline.syncOperations
        let responseReader = try upstreamPipeline.handler(type: HTTP1ResponseReader.self)
        let requestReader = try clientPipeline.handler(type: HTTP1RequestReader.self)

        upstreamPipeline.removeHandler(context: upstream, promise: nil)
        try upstreamPipeline.addHandler(upstreamSide)
        upstreamPipeline.removeHandler(responseReader, promise: nil)

        clientPipeline.removeHandler(context: client, promise: nil)
        try clientPipeline.addHandler(clientSide)
        clientPipeline.removeHandler(requestReader, promise: nil)
    }
}

/// One tunnel's accounting: `onClose` (requestFinished, metrics) runs once, when either side
/// closes. And its idle timeout: no bytes either way for `idleTimeout` runs `onIdle` (which
/// closes it). A side that stops reading stops the other side's reads too, so a write stall is
/// silence as well. Both sides live on one event loop.
final class TunnelSession {
    private var onClose: (() -> Void)?
    private var timer: DeadlineTimer? = nil
    private let idleTimeout: TimeAmount

    init(eventLoop: any EventLoop, idleTimeout: TimeAmount, onIdle: @escaping () -> Void, onClose: @escaping () -> Void) {
        self.onClose = onClose
        self.idleTimeout = idleTimeout
        self.timer = DeadlineTimer(eventLoop: eventLoop, onExpiry: onIdle)
        touch()
    }

    /// Traffic: the idle deadline starts again (moving it later schedules nothing).
    func touch() {
        timer?.set(.now() + idleTimeout)
    }

    func close() {
        timer?.cancel()
        timer = nil
        guard let onClose else { return }
        self.onClose = nil
        onClose()
    }
}

/// Raw bytes from its channel to the partner's, reading only while the partner can take them.
final class TunnelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    var partner: TunnelHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private let session: TunnelSession

    init(session: TunnelSession) {
        self.session = session
    }

    private var isWritable: Bool { context?.channel.isWritable ?? true }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // The HTTP handler may have held a read back; start reading afresh.
        if context.channel.isActive { context.read() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session.touch()
        // Flushed per read: leftovers from a removed decoder come without a readComplete.
        partner?.context?.writeAndFlush(NIOAny(unwrapInboundIn(data)), promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        session.close()
        if let partner {
            self.partner = nil
            partner.partner = nil
            partner.context?.close(promise: nil)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let partner, partner.pendingRead {
            partner.pendingRead = false
            partner.context?.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if partner?.isWritable ?? true {
            context.read()
        } else {
            pendingRead = true
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
