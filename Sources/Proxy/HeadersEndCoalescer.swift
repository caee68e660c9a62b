import NIOCore
import NIOHTTP2

/// On a client's HTTP/2 stream: a response head that the end follows at once, with no body (a
/// 204, a HEAD, gRPC's trailers-only answer such as DEADLINE_EXCEEDED), goes out as one HEADERS
/// frame with END_STREAM. NIO's HTTP/1 codec sends it as HEADERS and then an empty DATA frame with
/// END_STREAM: the same to HTTP, but a gRPC client reads headers that do not end the stream as
/// the start of a response, and takes the status in them for metadata.
///
/// A HEADERS frame without END_STREAM is held until the next write or flush: merged when that
/// write is an empty DATA frame ending the stream, sent as it is otherwise.
final class HeadersEndCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private var held: (headers: HTTP2Frame.FramePayload.Headers, promise: EventLoopPromise<Void>?)? = nil

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let payload = unwrapOutboundIn(data)
        if let (headers, heldPromise) = held {
            held = nil
            if Self.isEmptyEnd(payload) {
                var merged = headers
                merged.endStream = true
                if let heldPromise, let promise { heldPromise.futureResult.cascade(to: promise) }
                context.write(wrapOutboundOut(.headers(merged)), promise: heldPromise ?? promise)
                return
            }
            context.write(wrapOutboundOut(.headers(headers)), promise: heldPromise)
        }
        if case .headers(let headers) = payload, !headers.endStream {
            held = (headers, promise)
            return
        }
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        if let (headers, promise) = held {
            held = nil
            context.write(wrapOutboundOut(.headers(headers)), promise: promise)
        }
        context.flush()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if let (_, promise) = held {
            held = nil
            promise?.fail(ChannelError.ioOnClosedChannel)
        }
    }

    static func isEmptyEnd(_ payload: HTTP2Frame.FramePayload) -> Bool {
        guard case .data(let data) = payload, data.endStream, data.paddingBytes == nil,
              case .byteBuffer(let bytes) = data.data else { return false }
        return bytes.readableBytes == 0
    }
}
