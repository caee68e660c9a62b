import NIOCore

/// Takes HTTP/2 PING frames out of the bytes containerd sends, so the client answers them
/// itself.
///
/// Why: containerd's Go gRPC server estimates bandwidth-delay product by sending a PING after
/// nearly every request it receives, while SwiftNIO's HTTP/2 handler treats more than 200
/// control frames in 30 s as a denial-of-service attack and closes the connection, which a busy
/// node agent reaches within seconds. grpc-swift does not let clients raise that limit, so the
/// pings are acknowledged here, before the HTTP/2 handler sees them.
struct PingFilter {
    enum Action: Equatable {
        /// Bytes of complete frames other than PINGs, for the HTTP/2 handler.
        case forward(ByteBuffer)
        /// Send a PING ACK with this payload.
        case acknowledge(ByteBuffer)
    }

    static let frameHeaderLength = 9
    static let pingType: UInt8 = 0x6
    static let ackFlag: UInt8 = 0x1

    private var pending = ByteBuffer()

    /// Consumes inbound bytes; returns what to do, in order. A partial frame waits for the rest.
    mutating func receive(_ bytes: ByteBuffer) -> [Action] {
        if pending.readableBytes == 0 {
            pending = bytes
        } else {
            var bytes = bytes
            pending.writeBuffer(&bytes)
        }
        var actions: [Action] = []
        var forwardStart = pending.readerIndex
        var cursor = pending.readerIndex
        while let length = pending.getUInt24(at: cursor),
              let type = pending.getInteger(at: cursor + 3, as: UInt8.self),
              let flags = pending.getInteger(at: cursor + 4, as: UInt8.self),
              pending.writerIndex - cursor >= Self.frameHeaderLength + length {
            let frameEnd = cursor + Self.frameHeaderLength + length
            if type == Self.pingType, flags & Self.ackFlag == 0, length == 8 {
                if cursor > forwardStart {
                    actions.append(.forward(pending.getSlice(at: forwardStart, length: cursor - forwardStart)!))
                }
                actions.append(.acknowledge(pending.getSlice(at: cursor + Self.frameHeaderLength, length: 8)!))
                forwardStart = frameEnd
            }
            cursor = frameEnd
        }
        if cursor > forwardStart {
            actions.append(.forward(pending.getSlice(at: forwardStart, length: cursor - forwardStart)!))
        }
        pending.moveReaderIndex(to: cursor)
        if pending.readableBytes == 0 {
            pending = ByteBuffer()
        } else {
            pending.discardReadBytes()
        }
        return actions
    }

    /// The PING ACK frame for a payload.
    static func acknowledgement(_ payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var frame = allocator.buffer(capacity: frameHeaderLength + 8)
        frame.writeUInt24(8)
        frame.writeInteger(pingType)
        frame.writeInteger(ackFlag)
        frame.writeInteger(UInt32(0))
        var payload = payload
        frame.writeBuffer(&payload)
        return frame
    }
}

extension ByteBuffer {
    fileprivate func getUInt24(at index: Int) -> Int? {
        guard let high = getInteger(at: index, as: UInt8.self), let low = getInteger(at: index + 1, as: UInt16.self) else {
            return nil
        }
        return Int(high) << 16 | Int(low)
    }

    fileprivate mutating func writeUInt24(_ value: Int) {
        writeInteger(UInt8(truncatingIfNeeded: value >> 16))
        writeInteger(UInt16(truncatingIfNeeded: value))
    }
}

/// Carries out `PingFilter`'s actions; sits first in the connection's pipeline, next to the
/// socket, so it sees raw frames in and writes its acknowledgements straight out.
final class PingFilterHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var filter = PingFilter()

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var acknowledged = false
        for action in filter.receive(unwrapInboundIn(data)) {
            switch action {
            case .forward(let bytes):
                context.fireChannelRead(wrapInboundOut(bytes))
            case .acknowledge(let payload):
                context.write(wrapOutboundOut(PingFilter.acknowledgement(payload, allocator: context.channel.allocator)),
                              promise: nil)
                acknowledged = true
            }
        }
        if acknowledged { context.flush() }
    }
}
