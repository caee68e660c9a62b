// `berth-proxy-bench --relay`: a plain TCP relay on SwiftNIO, each client connection glued to a
// connection of its own to the upstream, bytes forwarded as read, one flush per read burst. No
// HTTP at all: the floor of any proxy built on NIO's channel pipeline (what NIO itself costs per
// request), measured beside nginx and Berth's proxy so the gap between the two splits into
// "NIO" and "HTTP and Berth's logic". Not a proxy anyone should run: no routing, no limits.
import NIOCore
import NIOPosix

final class RelayGlue: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var partner: RelayGlue?
    private var context: ChannelHandlerContext?
    private var unflushed = false
    private let upstream: (host: String, port: Int)?

    /// `upstream`: for the client side, where to connect; nil on the upstream side.
    init(upstream: (host: String, port: Int)?) {
        self.upstream = upstream
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// The client side connects on accept and starts reading once the upstream is there.
    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        guard let upstream else { return }
        ClientBootstrap(group: context.eventLoop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                let other = RelayGlue(upstream: nil)
                other.partner = self
                self.partner = other
                return channel.pipeline.addHandler(other)
            }
            .connect(host: upstream.host, port: upstream.port)
            .whenComplete { result in
                switch result {
                case .success: context.channel.setOption(.autoRead, value: true).whenSuccess { context.read() }
                case .failure: context.close(promise: nil)
                }
            }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.context?.write(data, promise: nil)
        unflushed = true
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard unflushed else { return }
        unflushed = false
        partner?.context?.flush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
        partner = nil
        self.context = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Binds the relay on the shared event loop group (one loop per core, as the proxy has) and
/// returns the bound port; it serves until the process ends.
func startRelay(listen: (String, Int), upstream: (String, Int)) async throws -> Int {
    let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.backlog, value: 4096)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
        .childChannelOption(.autoRead, value: false)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(RelayGlue(upstream: (upstream.0, upstream.1)))
            }
        }
        .bind(host: listen.0, port: listen.1).get()
    return server.localAddress?.port ?? 0
}
