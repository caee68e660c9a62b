import NIOCore

/// Goes directly before NIOHTTP2's connection handler (the proxy's connections both ways, berthd's
/// connection to containerd, and the tests' own HTTP/2 peers) and passes a "writable again" event
/// on at the event loop's next turn; "no longer writable" goes on at once.
///
/// Why: NIOHTTP2Handler (1.46) writes its own frames in the middle of a read (PING and SETTINGS
/// acks, WINDOW_UPDATE, RST_STREAM) and marks them flushed only at read-complete, and it flushes
/// the socket itself when it resets a stream, which can make the socket writable there and then.
/// Told "writable" with such frames unmarked, it sends DATA ahead of them: an assertion in a
/// debug build ("Received flush data frames while buffering control frames", which stopped a CI
/// run), and in a release build DATA that may overtake its stream's HEADERS. At the next turn
/// every read has completed, so every frame written is marked. The handler reads the channel's
/// writability itself when the event comes, so a later change in between is never lost.
public final class WritableNextTick: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = NIOAny

    private var context: ChannelHandlerContext? = nil
    private var scheduled = false

    public init() {}

    /// One next to the socket of a connection grpc-swift made (its `channelDebuggingCallbacks`
    /// hand over the channel with the HTTP/2 handler already in it).
    public static func addFirst(to channel: any Channel) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(WritableNextTick(), position: .first)
        }
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        guard context.channel.isWritable else {
            context.fireChannelWritabilityChanged()
            return
        }
        guard !scheduled else { return }
        scheduled = true
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let handler = handler.value
            handler.scheduled = false
            handler.context?.fireChannelWritabilityChanged()
        }
    }
}
