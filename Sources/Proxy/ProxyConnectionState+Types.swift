import NIOCore
import NIOHTTP1

/// The connection state machine's vocabulary: which timeout runs, the phases, and the actions
/// the handler carries out.
extension ProxyConnectionState {
    /// Which timeout runs now.
    enum Deadline: Equatable {
        /// Routing (bounded by the route table's own wait) and connecting (the connect timeout).
        case none
        /// The header timeout: from accept, or from the first byte of a kept-alive connection's
        /// next request, to the end of its head. Not restarted by more bytes (a slow-drip head).
        case requestHead
        /// The idle timeout between keep-alive requests, until the next request's first byte.
        case keepAlive
        /// The response timeout: the request is complete and forwarded, its response head is awaited.
        case response
        /// The idle timeout, restarted by any progress: a request body part read (the body read
        /// timeout between chunks), a response part relayed. A client that stops reading the
        /// response makes none, as reads from the upstream stop with it (a write stall); nor does
        /// an upstream gone quiet mid-response. Also bounds the flush before a close.
        case progress
    }

    enum Phase: Equatable {
        case idle
        case routing
        case connecting(Upstream)
        case exchanging(Upstream)
        case discarding
        case upgrading(Upstream)
        /// `Upgrade: h2c` taken: waiting for the request's end, then the connection is HTTP/2.
        case switchingToHTTP2
        case closed
    }

    /// What follows the end of a response.
    enum Next: Equatable {
        case idle
        case close
        /// Keep reading and dropping the request body; idle (or close) at its end.
        case discard
    }

    enum Action: Equatable {
        case none
        /// Ask the route table; its answer comes back as `routed`.
        case route(host: String)
        /// Open the exchange (requestStarted), then acquire a connection: `upstreamConnected` or
        /// `connectFailed` follows.
        case connect(Upstream)
        /// A fresh connection for a retry, within the same exchange.
        case reconnect(Upstream)
        /// The upstream is bound: send the head and the held parts; answer 100 if asked.
        case sendRequest(RequestHead, held: [RequestPart], sendContinue: Bool)
        case forwardBody(ByteBuffer)
        case forwardEnd(HTTPHeaders?)
        case writeResponseHead(ResponseHead)
        case writeResponseBody(ByteBuffer)
        /// Write the response's end, pool or close the upstream connection, close the exchange.
        case completeResponse(HTTPHeaders?, reuseUpstream: Bool, then: Next)
        /// Answer with a problem; when `finishExchange`, close the upstream connection and the exchange.
        case respond(Problem, keepAlive: Bool, finishExchange: Bool, then: Next)
        /// Close the client and upstream connections (a response cut after its head).
        case abort(finishExchange: Bool)
        /// The 101 response is complete: switch both connections to a raw tunnel.
        case startTunnel
        /// Answer 101 to `Upgrade: h2c` and go on as HTTP/2, this request being stream 1.
        case upgradeToHTTP2(RequestHead)
        /// A connection arrived for a request that is gone: pool it unused.
        case releaseUnused
        /// Arm the idle timer and replay pipelined requests.
        case becameIdle
        case close

        /// Whether this is `connect`: the route it was given for is used (a pattern match, where
        /// comparing with `.connect(upstream)` built and compared a second action).
        var connects: Bool {
            if case .connect = self { return true }
            return false
        }
    }
}
