import NIOCore
import NIOHTTP1

/// How the client handler ends a response: its end written and flushed, then the connection idle,
/// closed, or still reading a request body to drop; and the proxy's own answers (`Problem`).
extension ProxyClientHandler {
    func writeEnd(_ trailers: HTTPHeaders?, then next: ProxyConnectionState.Next) {
        guard let context else { return }
        switch next {
        case .close:
            let written = context.eventLoop.makePromise(of: Void.self)
            writeResponse(.end(trailers), promise: written)
            flushClient()
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        case .idle:
            writeResponse(.end(trailers))
            flushClient()
            becameIdle()
        case .discard:
            if isStream {
                let written = context.eventLoop.makePromise(of: Void.self)
                writeResponse(.end(trailers), promise: written)
                endWritten = written.futureResult
            } else {
                writeResponse(.end(trailers))
            }
            flushClient()
            resumeReadingIfAllowed()
        }
    }

    /// On an HTTP/2 stream, a close once the response's end is written: the stream then ends
    /// cleanly when the request has ended too, where closing it earlier would reset it (CANCEL).
    func close() {
        guard let context else { return }
        if let endWritten {
            endWritten.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
    }

    func respond(_ problem: Problem, keepAlive: Bool, then next: ProxyConnectionState.Next) {
        guard let context else { return }
        writeResponse(.head(ResponseHead(problem.responseHead(keepAlive: keepAlive))))
        if state.request?.isHEAD != true {
            writeResponse(.body(.byteBuffer(problem.bodyBuffer(allocator: context.channel.allocator))))
        }
        writeEnd(nil, then: next)
    }
}
