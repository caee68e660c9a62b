import NIOCore
import NIOHTTP1

/// One client connection's protocol logic, as a value: one mutating function per event, each
/// returning what the channel handler must do. No I/O happens here.
///
/// A request goes idle → routing → connecting → exchanging → idle. The proxy's own answers (404,
/// 502, …) can come before the request body has arrived: the rest of it is then read and dropped
/// (`discarding`) so the connection stays usable. Requests a client pipelines are held, unread
/// beyond one read, until the current response is complete.
///
/// Every phase has a deadline (`deadline`, restarted whenever `deadlineGeneration` moves); the
/// handler only turns it into a timer and reports `timedOut`. What a timeout means is decided here.
struct ProxyConnectionState {
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
    /// What arrived of the request's body while routing and connecting. An array: handed to the
    /// action and replaced by an empty one, which costs no allocation (a `CircularBuffer` made
    /// one of 16 slots for every request).
    private var heldBody: [RequestPart] = []
    private var pipelined = CircularBuffer<RequestPart>()
    private var bodySent = false
    private var retried = false
    private var connectionReused = false
    private let client: ClientAddress
    private var forwarding = ForwardingFields()
    private(set) var deadline = Deadline.requestHead
    /// Moves whenever `deadline` starts again.
    private(set) var deadlineGeneration: UInt32 = 1
    /// Bytes of a request head have arrived, but not the whole head.
    private var partialHead = false

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
        case .switchingToHTTP2: return !requestComplete
        }
    }

    // MARK: Client events

    mutating func requestHead(_ head: consuming RequestHead) -> Action {
        guard phase == .idle else {
            if phase != .closed { pipelined.append(.head(head)) }
            return .none
        }
        let info = RequestInfo(head)
        request = info
        partialHead = false
        restart(.none)
        requestComplete = false
        responseStarted = false
        responseStatus = 0
        bodySent = false
        retried = false
        connectionReused = false
        heldBody.removeAll(keepingCapacity: true)
        keepAlive = info.keepAlive && !info.isUpgrade && !quiescing
        if case .CONNECT = info.head.method {
            // The parser stops at CONNECT: nothing after it on this connection is HTTP.
            keepAlive = false
            return answer(.methodNotAllowed)
        }
        if info.host == nil || info.hasInvalidTarget { return answer(.badRequest) }
        if info.hasUnsupportedExpectation { return answer(.expectationFailed) }
        if info.upgradesToHTTP2 && !quiescing {
            // The end follows at once (the request has no body); then the connection switches.
            phase = .switchingToHTTP2
            return .none
        }
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
            restart(.progress)
            return .forwardBody(body)
        case .discarding:
            restart(.progress)
            return .none
        case .idle, .closed, .switchingToHTTP2:
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
            restart(responseStarted ? .progress : .response)
            return .forwardEnd(trailers)
        case .discarding:
            requestComplete = true
            if keepAlive && !quiescing {
                phase = .idle
                restart(.keepAlive)
                return .becameIdle
            }
            phase = .closed
            restart(.none)
            return .close
        case .switchingToHTTP2:
            requestComplete = true
            phase = .closed
            restart(.none)
            return .upgradeToHTTP2(request!.head)
        case .idle, .closed:
            return .none
        }
    }

    /// The request could not be parsed: answer 400 if nothing was answered yet, and close.
    /// `problem`: 400, or 501 for a transfer coding the proxy does not implement.
    mutating func malformedRequest(_ problem: Problem = .badRequest) -> Action {
        keepAlive = false
        pipelined.removeAll()
        switch phase {
        case .closed:
            return .none
        case .discarding:
            phase = .closed
            restart(.none)
            return .close
        case .upgrading:
            return abort()
        case .exchanging where responseStarted:
            return abort()
        case .idle, .routing, .connecting, .exchanging, .switchingToHTTP2:
            requestComplete = true
            return answer(problem)
        }
    }

    mutating func clientClosed() -> Action {
        pipelined.removeAll()
        heldBody.removeAll()
        let wasOpen = exchangeOpen
        if wasOpen && !responseStarted { responseStatus = 499 }
        phase = .closed
        exchangeOpen = false
        restart(.none)
        return wasOpen ? .abort(finishExchange: true) : .none
    }

    /// Graceful shutdown: finish the current exchange, then close.
    mutating func quiesce() -> Action {
        quiescing = true
        keepAlive = false
        if phase == .idle && pipelined.isEmpty {
            phase = .closed
            restart(.none)
            return .close
        }
        return .none
    }

    /// Bytes arrived that did not complete a request head (the handler saw a read end with no
    /// message). On a kept-alive connection the next request has begun: the header timeout
    /// replaces the idle timeout.
    mutating func headBytesArrived() {
        guard phase == .idle, pipelined.isEmpty else { return }
        partialHead = true
        if deadline == .keepAlive { restart(.requestHead) }
    }

    /// The current deadline passed. `upstreamWritable` tells a client that stopped sending its
    /// body (its fault: 408) from an upstream that stopped taking it (504).
    mutating func timedOut(upstreamWritable: Bool) -> Action {
        switch deadline {
        case .none:
            return .none
        case .requestHead, .keepAlive:
            guard phase == .idle, pipelined.isEmpty else { return .none }
            phase = .closed
            restart(.none)
            guard partialHead else { return .close }
            // Half a head: say why before closing (as nginx's 408); an empty connection just closes.
            keepAlive = false
            request = nil
            responseStarted = true
            responseStatus = 408
            restart(.progress)
            return .respond(.requestTimeout, keepAlive: false, finishExchange: false, then: .close)
        case .response:
            guard case .exchanging = phase, !responseStarted else { return .none }
            return answer(.gatewayTimeout)
        case .progress:
            switch phase {
            case .exchanging where !responseStarted:
                // The request body stopped: the client's doing (408), unless the upstream
                // stopped taking it and reads were paused for it (504).
                if readsAllowed(upstreamWritable: upstreamWritable) { return answer(.requestTimeout, close: true) }
                return answer(.gatewayTimeout)
            case .exchanging, .upgrading:
                return abort()
            case .discarding, .closed:
                phase = .closed
                restart(.none)
                return .close
            case .idle, .routing, .connecting, .switchingToHTTP2:
                return .none
            }
        }
    }

    // MARK: Routing and connecting

    mutating func routed(_ route: Route) -> Action {
        guard phase == .routing else { return .none }
        switch route {
        case .upstream(let upstream):
            phase = .connecting(upstream)
            restart(.none)
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
        let held = heldBody
        heldBody = []
        let holdsBody = held.contains(where: { if case .body = $0 { return true } else { return false } })
        if holdsBody { bodySent = true }
        // An HTTP/2 request's body is framed by its stream: one that may have a body and gives no
        // length goes to an HTTP/1.1 upstream chunked.
        let chunk = request.head.version.major >= 2 && !request.hasContentLength && (holdsBody || !requestComplete)
        let head = HeaderRewriter.upstreamRequestHead(
            for: request,
            client: client,
            forwarding: &forwarding,
            upstream: upstream.speaks,
            chunked: chunk
        )
        let sendContinue = request.expectsContinue && !requestComplete && !retried
        restart(requestComplete ? .response : .progress)
        return .sendRequest(head, held: held, sendContinue: sendContinue)
    }

    mutating func connectFailed(timedOut: Bool) -> Action {
        guard case .connecting = phase else { return .none }
        return answer(timedOut ? .gatewayTimeout : .badGateway)
    }

    // MARK: Upstream events

    mutating func responseHead(_ head: ResponseHead) -> Action {
        guard case .exchanging(let upstream) = phase, let request else { return .none }
        if head.status.code == 101 {
            guard request.isUpgrade, requestComplete else { return upstreamFailed() }
            phase = .upgrading(upstream)
            responseStarted = true
            responseStatus = 101
            restart(.progress)
            return .writeResponseHead(HeaderRewriter.clientResponseHead(head, for: request, keepAlive: false).head)
        }
        let rewritten = HeaderRewriter.clientResponseHead(head, for: request, keepAlive: keepAlive && !quiescing)
        keepAlive = rewritten.keepAlive
        responseStarted = true
        responseStatus = Int(head.status.code)
        restart(.progress)
        return .writeResponseHead(rewritten.head)
    }

    mutating func responseBody(_ body: ByteBuffer) -> Action {
        guard case .exchanging = phase, responseStarted else { return .none }
        restart(.progress)
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
                restart(.progress)
            } else if keepAlive && !quiescing {
                phase = .idle
                next = .idle
                restart(.keepAlive)
            } else {
                phase = .closed
                next = .close
                restart(.progress)
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
                restart(.none)
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

    mutating func takePipelined() -> CircularBuffer<RequestPart> {
        defer { pipelined = CircularBuffer() }
        return pipelined
    }

    // MARK: Helpers

    /// `close`: end the connection after the answer, whatever is left of the request.
    private mutating func answer(_ problem: Problem, close: Bool = false) -> Action {
        let finish = exchangeOpen
        exchangeOpen = false
        responseStarted = true
        responseStatus = Int(problem.status.code)
        heldBody.removeAll()
        let next: Next
        if close {
            keepAlive = false
            next = .close
        } else if requestComplete {
            next = keepAlive && !quiescing ? .idle : .close
        } else if request?.expectsContinue == true && !bodySent {
            // The client may never send a body it was not asked for: the connection cannot continue.
            next = .close
        } else {
            next = .discard
        }
        switch next {
        case .idle:
            phase = .idle
            restart(.keepAlive)
        case .close, .discard:
            phase = next == .close ? .closed : .discarding
            restart(.progress)
        }
        let stayOpen = next != .close && keepAlive && !quiescing
        return .respond(problem, keepAlive: stayOpen, finishExchange: finish, then: next)
    }

    private mutating func abort() -> Action {
        let finish = exchangeOpen
        exchangeOpen = false
        phase = .closed
        pipelined.removeAll()
        restart(.none)
        return .abort(finishExchange: finish)
    }

    /// What a timeout now would cut, for the timeouts metric.
    var timeoutLabel: String {
        switch deadline {
        case .none: return "none"
        case .requestHead: return "header"
        case .keepAlive: return "idle"
        case .response: return "response"
        case .progress:
            switch phase {
            case .discarding: return "body"
            case .exchanging: return responseStarted ? "transfer" : "body"
            case .closed: return "flush"
            default: return "transfer"
            }
        }
    }

    private mutating func restart(_ next: Deadline) {
        deadline = next
        deadlineGeneration &+= 1
    }

}
