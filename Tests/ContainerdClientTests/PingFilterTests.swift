@testable import ContainerdClient
import NIOCore
import NIOEmbedded
import XCTest

/// Stands in for grpc-swift's handlers: what reaches them, in order.
private final class EventRecorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    var events: [String] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        events.append("read \(unwrapInboundIn(data).readableBytes)")
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        events.append(context.channel.isWritable ? "writable" : "not writable")
    }
}

final class PingFilterTests: XCTestCase {
    func frame(type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, payload: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(payload.count >> 16))
        buffer.writeInteger(UInt16(payload.count & 0xffff))
        buffer.writeInteger(type)
        buffer.writeInteger(flags)
        buffer.writeInteger(stream)
        buffer.writeBytes(payload)
        return buffer
    }

    func joined(_ frames: [ByteBuffer]) -> ByteBuffer {
        frames.reduce(into: ByteBuffer()) { result, frame in
            var frame = frame
            result.writeBuffer(&frame)
        }
    }

    func forwarded(_ actions: [PingFilter.Action]) -> ByteBuffer {
        joined(actions.compactMap { if case .forward(let bytes) = $0 { return bytes } else { return nil } })
    }

    func acknowledged(_ actions: [PingFilter.Action]) -> [[UInt8]] {
        actions.compactMap { if case .acknowledge(let payload) = $0 { return Array(payload.readableBytesView) } else { return nil } }
    }

    func testPingsAreTakenOutAndEverythingElsePassesInOrder() {
        let settings = frame(type: 4, payload: [0, 3, 0, 0, 0, 100])
        let ping = frame(type: 6, payload: [2, 4, 16, 16, 9, 14, 7, 7])
        let pingAck = frame(type: 6, flags: 1, payload: [1, 1, 1, 1, 1, 1, 1, 1])
        let data = frame(type: 0, flags: 1, stream: 1, payload: Array(repeating: 42, count: 300))
        var filter = PingFilter()
        let actions = filter.receive(joined([settings, ping, data, pingAck, ping]))
        XCTAssertEqual(forwarded(actions), joined([settings, data, pingAck]))
        XCTAssertEqual(acknowledged(actions), [[2, 4, 16, 16, 9, 14, 7, 7], [2, 4, 16, 16, 9, 14, 7, 7]])
        // The acknowledgement comes between the frames it was between.
        guard case .forward = actions[0], case .acknowledge = actions[1], case .forward = actions[2] else {
            return XCTFail("\(actions)")
        }
    }

    func testFramesSplitAcrossReadsAreReassembled() {
        let data = frame(type: 0, stream: 3, payload: Array(0..<200).map(UInt8.init))
        let ping = frame(type: 6, payload: [1, 2, 3, 4, 5, 6, 7, 8])
        let all = joined([data, ping, data])
        var filter = PingFilter()
        var actions: [PingFilter.Action] = []
        // One byte at a time: the worst a socket can do.
        for i in 0..<all.readableBytes {
            actions += filter.receive(all.getSlice(at: i, length: 1)!)
        }
        XCTAssertEqual(forwarded(actions), joined([data, data]))
        XCTAssertEqual(acknowledged(actions), [[1, 2, 3, 4, 5, 6, 7, 8]])
    }

    func testTheAcknowledgementIsAPingAckWithTheSamePayload() {
        var payload = ByteBuffer()
        payload.writeBytes([9, 8, 7, 6, 5, 4, 3, 2])
        let ack = PingFilter.acknowledgement(payload, allocator: ByteBufferAllocator())
        XCTAssertEqual(ack, frame(type: 6, flags: 1, payload: [9, 8, 7, 6, 5, 4, 3, 2]))
    }

    /// The connection's own handlers: the filter first, next to the socket, and "writable again"
    /// reaching the HTTP/2 handler only at the next turn of the loop, after the read in which the
    /// filter flushed its acknowledgement.
    func testTheConnectionsPipelineFiltersFirstAndDefersWritableAgain() throws {
        let channel = EmbeddedChannel()
        try ContainerdConnection.addHandlers(to: channel)
        let recorder = EventRecorder()
        try channel.pipeline.syncOperations.addHandler(recorder)

        let data = frame(type: 0x0, stream: 1, payload: [1, 2, 3])
        try channel.writeInbound(joined([data, frame(type: 0x6, payload: [7, 7, 7, 7, 7, 7, 7, 7])]))
        XCTAssertEqual(recorder.events, ["read \(data.readableBytes)"])
        let ack = try XCTUnwrap(channel.readOutbound(as: ByteBuffer.self))
        XCTAssertEqual(ack.getInteger(at: 3, as: UInt8.self), 0x6)

        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        XCTAssertEqual(recorder.events.last, "not writable")
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        XCTAssertEqual(recorder.events.last, "not writable")
        channel.embeddedEventLoop.run()
        XCTAssertEqual(recorder.events.last, "writable")
        _ = try channel.finish()
    }
}
