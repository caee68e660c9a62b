import NIOCore
import NIOHTTP1

/// The client handler on an HTTP/1 connection: what its `HTTP1RequestReader` asks and tells it
/// (`requestPart` is with the other events), and its writes, as bytes, not down the pipeline.
extension ProxyClientHandler {
    func requestMalformed(unsupportedCoding: Bool) {
        perform(state.malformedRequest(unsupportedCoding ? .notImplemented : .badRequest))
    }

    /// As `ProxyConnectionState.requestHead` decides: a CONNECT is refused and closed, an upgrade
    /// is tunnelled, an `h2c` offer taken; a declined offer is an HTTP/1.1 request like another.
    func switchesProtocols(after head: RequestHead) -> Bool {
        let info = RequestInfo(head)
        return head.method == .CONNECT || info.isUpgrade || info.upgradesToHTTP2
    }

    /// Flushes the client connection, with the head its writer holds (`HTTP1Writer`): every flush
    /// of the client connection goes through here.
    func flushClient() {
        guard let context else { return }
        if !isStream { responseWriter.releaseHeld(context: context) }
        context.flush()
    }

    /// A response part to the client: as bytes on an HTTP/1 connection, as a part to an HTTP/2
    /// stream's codec.
    func writeResponse(_ part: HTTPPart<ResponseHead, IOData>, promise: EventLoopPromise<Void>? = nil) {
        guard let context else { return }
        if isStream {
            context.write(wrapOutboundOut(part.mapHead(\.typed)), promise: promise)
        } else {
            responseWriter.write(part, context: context, promise: promise)
        }
    }
}
