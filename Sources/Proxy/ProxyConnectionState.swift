import NIOCore
import NIOHTTP1

/// One client connection's protocol logic, as a value: one mutating function per event, each
/// returning what the channel handler must do. No I/O happens here.
///
/// A request goes idle → routing → connecting → exchanging → idle. The proxy's own answers (404,
/// 502, …) can come before the request body has arrived: the rest of it is then read and dropped
/// (`discarding`) so the connection stays usable. Requests a client pipelines are held, unread
/// beyond one read, until the current response is complete.
struct ProxyConnectionState {
    enum Phase: Equatable {
        case idle
        case routing
        case connecting(Upstream)
        case exchanging(Upstream)
        case discarding
        case upgrading(Upstream)
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
        case sendRequest(HTTPRequestHead, held: CircularBuffer<HTTPServerRequestPart>, sendContinue: Bool)
        case forwardBody(ByteBuffer)
        case forwardEnd(HTTPHeaders?)
        case writeResponseHead(HTTPResponseHead)
        case writeResponseBody(ByteBuffer)
        /// Write the response's end, pool or close the upstream connection, close the exchange.
        case completeResponse(HTTPHeaders?, reuseUpstream: Bool, then: Next)
        /// Answer with a problem; when `finishExchange`, close the upstream connection and the exchange.
        case respond(Problem, keepAlive: Bool, finishExchange: Bool, then: Next)
        /// Close the client and upstream connections (a response cut after its head).
        case abort(finishExchange: Bool)
        /// The 101 response is complete: switch both connections to a raw tunnel.
        case startTunnel
        /// A connection arrived for a request that is gone: pool it unused.
        case releaseUnused
        /// Arm the idle timer and replay pipelined requests.
        case becameIdle
        case close
    }

    private(set) var phase: Phase = .idle
    private(set) var request: RequestInfo?
    private(set) var requestComplete = false
    private(set) var responseStarted = false
    /// The status sent (or to record) for the current request; 499 when the client went away.
    private(set) var responseStatus = 0
    /// Whether requestStarted was called and requestFinished is still owed.
    private(set) var exchangeOpen = false
    private var keepAlive = true
    private var quiescing = false
    private var heldBody = CircularBuffer<HTTPServerRequestPart>()
    private var pipelined = CircularBuffer<HTTPServerRequestPart>()
    private var bodySent = false
    private var retried = false
    private var connectionReused = false
    private let client: ClientAddress
    private var forwardedCache: (host: String?, value: String)? = nil

    init(client: ClientAddress) {
        self.client = client
    }

    var hasPipelined: Bool { !pipelined.isEmpty }

    /// Whether the handler may read from the client now. Reading goes on after a request is
    /// complete (to see the client close), but stops while anything is held.
    func readsAllowed(upstreamWritable: Bool) -> Bool {
        guard pipelined.isEmpty else { return false }
        switch phase {
        case .idle, .discarding: return true
        case .routing, .connecting: return requestComplete || heldBody.isEmpty
        case .exchanging: return requestComplete || upstreamWritable
        case .upgrading, .closed: return false
        }
    }

    // MARK: Client events

    mutating func requestHead(_ head: HTTPRequestHead) -> Action {
        guard phase == .idle else {
            if phase != .closed { pipelined.append(.head(head)) }
            return .none
        }
        let info = RequestInfo(head)
        request = info
        requestComplete = false
        responseStarted = false
        responseStatus = 0
        bodySent = false
        retried = false
        connectionReused = false
        heldBody.removeAll(keepingCapacity: true)
        keepAlive = info.keepAlive && !info.isUpgrade && !quiescing
        if info.host == nil { return answer(.badRequest) }
        if head.method == .CONNECT {
            // The parser stops at CONNECT: nothing after it on this connection is HTTP.
            keepAlive = false
            return answer(.methodNotAllowed)
        }
        if info.hasUnsupportedExpectation { return answer(.expectationFailed) }
        phase = .routing
        return .route(host: info.routeHost)
    }

    mutating func requestBody(_ body: ByteBuffer) -> Action {
        if !pipelined.isEmpty {
            pipelined.append(.body(body))
            return .none
        }
        switch phase {
        case .routing, .connecting:
            heldBody.append(.body(body))
            return .none
        case .exchanging, .upgrading:
            bodySent = true
            return .forwardBody(body)
        case .idle, .discarding, .closed:
            return .none
        }
    }

    mutating func requestEnd(_ trailers: HTTPHeaders?) -> Action {
        if !pipelined.isEmpty {
            pipelined.append(.end(trailers))
            return .none
        }
        switch phase {
        case .routing, .connecting:
            requestComplete = true
            heldBody.append(.end(trailers))
            return .none
        case .exchanging, .upgrading:
            requestComplete = true
            return .forwardEnd(trailers)
        case .discarding:
            requestComplete = true
            if keepAlive && !quiescing {
                phase = .idle
                return .becameIdle
            }
            phase = .closed
            return .close
        case .idle, .closed:
            return .none
        }
    }

    /// The request could not be parsed: answer 400 if nothing was answered yet, and close.
    mutating func malformedRequest() -> Action {
        keepAlive = false
        pipelined.removeAll()
        switch phase {
        case .closed:
            return .none
        case .discarding:
            phase = .closed
            return .close
        case .upgrading:
            return abort()
        case .exchanging where responseStarted:
            return abort()
        case .idle, .routing, .connecting, .exchanging:
            requestComplete = true
            return answer(.badRequest)
        }
    }

    mutating func clientClosed() -> Action {
        pipelined.removeAll()
        heldBody.removeAll()
        let wasOpen = exchangeOpen
        if wasOpen && !responseStarted { responseStatus = 499 }
        phase = .closed
        exchangeOpen = false
        return wasOpen ? .abort(finishExchange: true) : .none
    }

    /// Graceful shutdown: finish the current exchange, then close.
    mutating func quiesce() -> Action {
        quiescing = true
        keepAlive = false
        if phase == .idle && pipelined.isEmpty {
            phase = .closed
            return .close
        }
        return .none
    }

    mutating func idleTimedOut() -> Action {
        guard phase == .idle, pipelined.isEmpty else { return .none }
        phase = .closed
        return .close
    }

    // MARK: Routing and connecting

    mutating func routed(_ route: Route) -> Action {
        guard phase == .routing else { return .none }
        switch route {
        case .upstream(let upstream):
            phase = .connecting(upstream)
            exchangeOpen = true
            return .connect(upstream)
        case .notFound:
            return answer(.notFound)
        case .unavailable:
            return answer(.serviceUnavailable)
        case .failed:
            return answer(.badGateway)
        }
    }

    mutating func upstreamConnected(reused: Bool) -> Action {
        guard case .connecting(let upstream) = phase, let request else { return .releaseUnused }
        phase = .exchanging(upstream)
        connectionReused = reused
        let head = HeaderRewriter.upstreamRequestHead(
            for: request,
            client: client,
            forwarded: forwardedElement(host: request.host)
        )
        let held = heldBody
        heldBody = CircularBuffer()
        if held.contains(where: { if case .body = $0 { return true } else { return false } }) {
            bodySent = true
        }
        let sendContinue = request.expectsContinue && !requestComplete && !retried
        return .sendRequest(head, held: held, sendContinue: sendContinue)
    }

    mutating func connectFailed(timedOut: Bool) -> Action {
        guard case .connecting = phase else { return .none }
        return answer(timedOut ? .gatewayTimeout : .badGateway)
    }

    // MARK: Upstream events

    mutating func responseHead(_ head: HTTPResponseHead) -> Action {
        guard case .exchanging(let upstream) = phase, let request else { return .none }
        if head.status.code == 101 {
            guard request.isUpgrade, requestComplete else { return upstreamFailed() }
            phase = .upgrading(upstream)
            responseStarted = true
            responseStatus = 101
            return .writeResponseHead(HeaderRewriter.clientResponseHead(head, for: request, keepAlive: false).head)
        }
        let rewritten = HeaderRewriter.clientResponseHead(head, for: request, keepAlive: keepAlive && !quiescing)
        keepAlive = rewritten.keepAlive
        responseStarted = true
        responseStatus = Int(head.status.code)
        return .writeResponseHead(rewritten.head)
    }

    mutating func responseBody(_ body: ByteBuffer) -> Action {
        guard case .exchanging = phase, responseStarted else { return .none }
        return .writeResponseBody(body)
    }

    /// `upstreamReusable`: the upstream connection's own verdict (keep-alive, fully read).
    mutating func responseEnd(_ trailers: HTTPHeaders?, upstreamReusable: Bool) -> Action {
        switch phase {
        case .upgrading:
            return .startTunnel
        case .exchanging where responseStarted:
            exchangeOpen = false
            let reuse = upstreamReusable && requestComplete
            let next: Next
            if !requestComplete {
                phase = .discarding
                next = .discard
            } else if keepAlive && !quiescing {
                phase = .idle
                next = .idle
            } else {
                phase = .closed
                next = .close
            }
            return .completeResponse(trailers, reuseUpstream: reuse, then: next)
        default:
            return .none
        }
    }

    /// The upstream connection closed, reset or sent something unparseable before the response ended.
    mutating func upstreamFailed() -> Action {
        switch phase {
        case .exchanging(let upstream):
            if responseStarted { return abort() }
            if connectionReused && !retried && !bodySent && requestComplete && request?.isIdempotent == true {
                // Most likely a pooled connection the upstream closed as we reused it.
                retried = true
                phase = .connecting(upstream)
                heldBody = [.end(nil)]
                return .reconnect(upstream)
            }
            return answer(.badGateway)
        case .upgrading:
            return abort()
        default:
            return .none
        }
    }

    mutating func responseTimedOut() -> Action {
        guard case .exchanging = phase, !responseStarted else { return .none }
        return answer(.gatewayTimeout)
    }

    mutating func takePipelined() -> CircularBuffer<HTTPServerRequestPart> {
        defer { pipelined = CircularBuffer() }
        return pipelined
    }

    // MARK: Helpers

    private mutating func answer(_ problem: Problem) -> Action {
        let finish = exchangeOpen
        exchangeOpen = false
        responseStarted = true
        responseStatus = Int(problem.status.code)
        heldBody.removeAll()
        let next: Next
        if requestComplete {
            next = keepAlive && !quiescing ? .idle : .close
        } else if request?.expectsContinue == true && !bodySent {
            // The client may never send a body it was not asked for: the connection cannot continue.
            next = .close
        } else {
            next = .discard
        }
        switch next {
        case .idle: phase = .idle
        case .close: phase = .closed
        case .discard: phase = .discarding
        }
        let stayOpen = next != .close && keepAlive && !quiescing
        return .respond(problem, keepAlive: stayOpen, finishExchange: finish, then: next)
    }

    private mutating func abort() -> Action {
        let finish = exchangeOpen
        exchangeOpen = false
        phase = .closed
        pipelined.removeAll()
        return .abort(finishExchange: finish)
    }

    private mutating func forwardedElement(host: String?) -> String {
        if let cache = forwardedCache, cache.host == host { return cache.value }
        let value = HeaderRewriter.forwardedElement(client: client, host: host)
        forwardedCache = (host, value)
        return value
    }
}
