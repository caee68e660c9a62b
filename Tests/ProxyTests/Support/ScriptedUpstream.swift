import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// An upstream that answers every request it reads with the same raw bytes, whatever they are:
/// for responses no HTTP library would write.
final class ScriptedUpstream: Sendable {
    let port: Int
    private let channel: any Channel
    private let acceptedCount: NIOLockedValueBox<Int>

    var accepted: Int { acceptedCount.withLockedValue { $0 } }

    private init(port: Int, channel: any Channel, accepted: NIOLockedValueBox<Int>) {
        self.port = port
        self.channel = channel
        self.acceptedCount = accepted
    }

    static func start(answering response: String) async throws -> ScriptedUpstream {
        let accepted = NIOLockedValueBox(0)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                accepted.withLockedValue { $0 += 1 }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Answerer(response: response))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return ScriptedUpstream(port: channel.localAddress!.port!, channel: channel, accepted: accepted)
    }

    func stop() async {
        try? await channel.close()
    }

    private final class Answerer: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let response: String

        init(response: String) {
            self.response = response
        }

        /// A request's head ends with an empty line; the scripted requests have no body.
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let text = String(buffer: unwrapInboundIn(data))
            guard text.hasSuffix("\r\n\r\n") else { return }
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response)), promise: nil)
        }
    }
}
