import NIOCore
import NIOHTTP1

/// The two ways a client connection stops carrying HTTP/1 exchanges: a tunnel after an upstream's
/// 101 (WebSocket and the like), and HTTP/2 after the proxy's own 101 to `Upgrade: h2c`.
extension ProxyClientHandler {
    /// The 101 to an upgrade request is through: both connections become a raw tunnel.
    func startTunnel() {
        guard let context, let connection = upstream, let upstreamContext = connection.context,
            let target = exchangeUpstream
        else {
            perform(.abort(finishExchange: true))
            return
        }
        upstream = nil
        exchangeUpstream = nil
        timer?.cancel()
        let routes = core.routes
        let metrics = containerMetrics(for: target)
        let start = requestStart
        let clientChannel = context.channel
        let proxyMetrics = core.metrics
        let session = TunnelSession(
            eventLoop: context.eventLoop,
            idleTimeout: core.idleTimeout,
            onIdle: {
                proxyMetrics?.recordTunnelTimeout()
                clientChannel.close(promise: nil)
            },
            onClose: {
                routes.requestFinished(target)
                metrics?.finished(status: 101, duration: elapsed(since: start))
            }
        )
        connection.unbind()
        flushClient()
        do {
            let upstreamChannel = upstreamContext.channel
            try Tunnel.splice(client: context, upstream: upstreamContext, session: session)
            if !clientChannel.isActive || !upstreamChannel.isActive {
                // Closed before the tunnel handlers were there to see it.
                session.close()
                clientChannel.close(promise: nil)
                upstreamChannel.close(promise: nil)
            }
        } catch {
            session.close()
            context.close(promise: nil)
            connection.close()
        }
    }

    /// Answers 101 and goes on as HTTP/2 (RFC 7540 §3.2): the HTTP/1 handlers leave, the HTTP/2
    /// ones come, and the request that asked becomes stream 1 (`UpgradedRequestInjector`). Reads
    /// were held since the request ended (the client sends its preface only after the 101), and
    /// any bytes the HTTP/1 decoder still holds are handed on to the new handlers.
    func upgradeToHTTP2(_ head: RequestHead) {
        guard let context, let pipeline else {
            context?.close(promise: nil)
            return
        }
        timer?.cancel()
        var headers = HTTPHeaders()
        headers.add(name: "connection", value: "upgrade")
        headers.add(name: "upgrade", value: "h2c")
        writeResponse(.head(ResponseHead(version: .http1_1, status: .switchingProtocols, fields: HeadFields(headers))))
        writeResponse(.end(nil))
        flushClient()
        let channel = context.channel
        let operations = channel.pipeline.syncOperations
        do {
            let decoder = try operations.handler(type: HTTP1RequestReader.self)
            operations.removeHandler(context: context, promise: nil)
            try pipeline.addHTTP2(to: channel, upgradedRequest: head.typed)
            operations.removeHandler(decoder, promise: nil)
            channel.read()
        } catch {
            core.logger.debug("h2c upgrade failed", metadata: ["error": "\(error)"])
            channel.close(promise: nil)
        }
    }
}
