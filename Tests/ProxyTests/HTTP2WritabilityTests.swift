import HTTP2Pipeline
import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP2
import XCTest

@testable import Proxy

/// An HTTP/2 connection that becomes writable again in the middle of a read. NIOHTTP2's handler
/// then holds control frames it wrote in that read, not yet marked flushed, and DATA the peer's
/// WINDOW_UPDATE released: told "writable" at once, it sends the DATA ahead of them, which its
/// debug build asserts against (a CI run stopped on it). `WritableNextTick` before the handler
/// passes the event on once the read is complete.
final class HTTP2WritabilityTests: XCTestCase {
    /// Hands every byte `from` wrote to `to` as reads, with no read-complete after them: the
    /// middle of a read loop.
    static func deliver(_ from: EmbeddedChannel, _ to: EmbeddedChannel) throws {
        while let bytes = try from.readOutbound(as: ByteBuffer.self) {
            to.pipeline.fireChannelRead(bytes)
        }
    }

    /// Hands what `from` wrote to `to`, and says how many bytes that was.
    static func bytesDelivered(_ from: EmbeddedChannel, _ to: EmbeddedChannel) throws -> Int {
        var count = 0
        while let bytes = try from.readOutbound(as: ByteBuffer.self) {
            count += bytes.readableBytes
            to.pipeline.fireChannelRead(bytes)
        }
        to.pipeline.fireChannelReadComplete()
        return count
    }

    func testWritableInTheMiddleOfAReadWaitsForTheReadToComplete() throws {
        let server = EmbeddedChannel(), client = EmbeddedChannel()
        try server.pipeline.syncOperations.addHandler(WritableNextTick())
        try server.pipeline.syncOperations.addHandler(NIOHTTP2Handler(mode: .server, eventLoop: server.eventLoop) { stream in
            stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(LargeAnswer()) }
        })
        try client.pipeline.syncOperations.addHandler(NIOHTTP2Handler(mode: .client, eventLoop: client.eventLoop) {
            $0.eventLoop.makeSucceededVoidFuture()
        })
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try client.connect(to: address).wait()
        try server.connect(to: address).wait()
        for _ in 0..<3 {
            try Self.deliver(client, server)
            server.pipeline.fireChannelReadComplete()
            try Self.deliver(server, client)
            client.pipeline.fireChannelReadComplete()
        }

        // Stream 1: the answer is larger than the client's window, so DATA waits for a WINDOW_UPDATE.
        let request = HPACKHeaders([(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "a")])
        try client.writeOutbound(HTTP2Frame(streamID: 1, payload: .headers(.init(headers: request, endStream: true))))
        try Self.deliver(client, server)
        server.pipeline.fireChannelReadComplete()
        let first = try Self.bytesDelivered(server, client)
        XCTAssertLessThan(first, LargeAnswer.size, "the client's window holds the rest back")

        // Not writable; then, in one read, the window opens and a PING comes (its ack is a control
        // frame written in the read); the socket becomes writable before the read completes.
        server.isWritable = false
        server.pipeline.fireChannelWritabilityChanged()
        try client.writeOutbound(HTTP2Frame(streamID: 0, payload: .windowUpdate(windowSizeIncrement: 1 << 20)))
        try client.writeOutbound(HTTP2Frame(streamID: 1, payload: .windowUpdate(windowSizeIncrement: 1 << 20)))
        try client.writeOutbound(HTTP2Frame(streamID: 0, payload: .ping(HTTP2PingData(withInteger: 7), ack: false)))
        try Self.deliver(client, server)
        server.isWritable = true
        server.pipeline.fireChannelWritabilityChanged()
        XCTAssertNil(try server.readOutbound(as: ByteBuffer.self), "nothing goes out in the middle of the read")
        server.pipeline.fireChannelReadComplete()
        server.embeddedEventLoop.run()

        // The ack and the rest of the answer, in that order, and the client reads them all.
        XCTAssertGreaterThan(try Self.bytesDelivered(server, client), LargeAnswer.size - first)
        var pingAcked = false
        while let frame = try client.readInbound(as: HTTP2Frame.self) {
            if case .ping(let data, ack: true) = frame.payload, data == HTTP2PingData(withInteger: 7) { pingAcked = true }
        }
        XCTAssertTrue(pingAcked)
        XCTAssertNoThrow(try client.throwIfErrorCaught())
        XCTAssertNoThrow(try server.throwIfErrorCaught())
        XCTAssertEqual(LargeAnswer.delivered, 1)
    }

    func testOnlyWritableAgainWaitsAndTwoCountOnce() throws {
        let channel = EmbeddedChannel()
        let counter = WritabilityCounter()
        try channel.pipeline.syncOperations.addHandlers([WritableNextTick(), counter])
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        XCTAssertEqual(counter.seen, [false], "not writable goes on at once")
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        channel.pipeline.fireChannelWritabilityChanged()
        XCTAssertEqual(counter.seen, [false])
        channel.embeddedEventLoop.run()
        XCTAssertEqual(counter.seen, [false, true], "writable again goes on at the next turn, once")
    }
}

/// A stream that answers its request with `size` bytes, and counts the answers whose end was sent.
private final class LargeAnswer: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload
    static let size = 200_000
    nonisolated(unsafe) static var delivered = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .headers = unwrapInboundIn(data) else { return }
        context.write(wrapOutboundOut(.headers(.init(headers: [":status": "200"]))), promise: nil)
        let body = ByteBuffer(repeating: 1, count: Self.size)
        context.writeAndFlush(wrapOutboundOut(.data(.init(data: .byteBuffer(body), endStream: true)))).whenSuccess {
            Self.delivered += 1
        }
    }
}

private final class WritabilityCounter: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    var seen: [Bool] = []

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        seen.append(context.channel.isWritable)
    }
}
