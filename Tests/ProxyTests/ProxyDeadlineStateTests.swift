import NIOCore
import NIOHTTP1
import XCTest

@testable import Proxy

/// Which timeout runs in each phase of a client connection, and what its expiry does.
final class ProxyDeadlineStateTests: XCTestCase {
    typealias State = ProxyConnectionState
    let upstream = Upstream(containerID: "c1", revision: 3, host: "10.0.0.7", port: 8080)

    func head(_ method: HTTPMethod = .GET, _ uri: String = "/", _ headers: [(String, String)] = [("Host", "a.test")]) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: HTTPHeaders(headers))
    }

    func makeState() -> State { State(client: ClientAddress(ip: "192.0.2.9")) }

    /// A complete GET answered 200 with keep-alive: the state is idle again.
    func completeExchange(_ state: inout State) {
        _ = state.requestHead(head())
        _ = state.requestEnd(nil)
        _ = state.routed(.upstream(upstream))
        _ = state.upstreamConnected(reused: false)
        _ = state.responseHead(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["content-length": "0"]))
        XCTAssertEqual(state.responseEnd(nil, upstreamReusable: true), .completeResponse(nil, reuseUpstream: true, then: .idle))
    }

    /// A POST whose body has not all arrived, bound to the upstream.
    func uploading(_ state: inout State) {
        _ = state.requestHead(head(.POST, "/", [("Host", "a.test"), ("Content-Length", "10")]))
        _ = state.routed(.upstream(upstream))
        guard case .sendRequest = state.upstreamConnected(reused: false) else { return XCTFail("expected sendRequest") }
    }

    func testHalfAHeadOnAFreshConnectionGets408AndClose() {
        var state = makeState()
        let generation = state.deadlineGeneration
        state.headBytesArrived()
        XCTAssertEqual(state.deadline, .requestHead)
        XCTAssertEqual(state.deadlineGeneration, generation, "more bytes do not extend the header timeout (slow drip)")
        XCTAssertEqual(state.timeoutLabel, "header")
        XCTAssertEqual(state.timedOut(upstreamWritable: true), .respond(.requestTimeout, keepAlive: false, finishExchange: false, then: .close))
        XCTAssertEqual(state.phase, .closed)
        XCTAssertEqual(state.responseStatus, 408)
        XCTAssertNil(state.request, "no earlier request's method decides the answer's body")
        XCTAssertEqual(state.deadline, .progress, "the 408's flush is bounded too")
        XCTAssertEqual(state.timedOut(upstreamWritable: true), .close)
    }

    func testACompleteHeadStopsTheHeaderTimeout() {
        var state = makeState()
        state.headBytesArrived()
        XCTAssertEqual(state.requestHead(head()), .route(host: "a.test"))
        XCTAssertEqual(state.deadline, .none, "routing is bounded by the route table")
        XCTAssertEqual(state.timedOut(upstreamWritable: true), .none)
        _ = state.requestEnd(nil)
        _ = state.routed(.upstream(upstream))
        XCTAssertEqual(state.deadline, .none, "connecting is bounded by the connect timeout")
    }

    func testKeepAliveWaitsWithTheIdleTimeoutThenTheHeaderTimeoutFromTheFirstByte() {
        var state = makeState()
        completeExchange(&state)
        XCTAssertEqual(state.deadline, .keepAlive)
        XCTAssertEqual(state.timeoutLabel, "idle")
        let idleGeneration = state.deadlineGeneration
        state.headBytesArrived()
        XCTAssertEqual(state.deadline, .requestHead)
        XCTAssertNotEqual(state.deadlineGeneration, idleGeneration, "the header timeout starts at the first byte")
        let headGeneration = state.deadlineGeneration
        state.headBytesArrived()
        XCTAssertEqual(state.deadlineGeneration, headGeneration)
        XCTAssertEqual(state.timedOut(upstreamWritable: true), .respond(.requestTimeout, keepAlive: false, finishExchange: false, then: .close))
    }

    func testAnIdleKeepAliveConnectionClosesSilently() {
        var state = makeState()
        completeExchange(&state)
        XCTAssertEqual(state.timedOut(upstreamWritable: true), .close)
        XCTAssertEqual(state.phase, .closed)
        XCTAssertEqual(state.deadline, .none)
    }

    func testHeadBytesWhileAnExchangeRunsChangeNothing() {
        var state = makeState()
        _ = state.requestHead(head())
        _ = state.requestEnd(nil)
        let generation = state.deadlineGeneration
        state.headBytesArrived()
        XCTAssertEqual(state.deadlineGeneration, generation)
        XCTAssertEqual(state.deadline, .none)
    }

    func testTheResponseTimeoutRunsOnceTheRequestIsComplete() {
        var state = makeState()
        _ = state.requestHead(head())
        _ = state.requestEnd(nil)
        _ = state.routed(.upstream(upstream))
        _ = state.upstreamConnected(reused: false)
        XCTAssertEqual(state.deadline, .response)
        XCTAssertEqual(state.timeoutLabel, "response")
    }

    func testABodyThatStopsArrivingGets408AndClose() {
        var state = makeState()
        uploading(&state)
        XCTAssertEqual(state.deadline, .progress, "the body read timeout, not the response timeout, while the body arrives")
        let generation = state.deadlineGeneration
        XCTAssertEqual(state.requestBody(ByteBuffer(string: "abc")), .forwardBody(ByteBuffer(string: "abc")))
        XCTAssertNotEqual(state.deadlineGeneration, generation, "each chunk restarts it")
        XCTAssertEqual(state.timeoutLabel, "body")
        XCTAssertEqual(state.timedOut(upstreamWritable: true), .respond(.requestTimeout, keepAlive: false, finishExchange: true, then: .close))
        XCTAssertEqual(state.phase, .closed)
        XCTAssertFalse(state.exchangeOpen)
    }

    func testABodyHeldBackByASlowUpstreamIs504() {
        var state = makeState()
        uploading(&state)
        _ = state.requestBody(ByteBuffer(string: "abc"))
        XCTAssertFalse(state.readsAllowed(upstreamWritable: false))
        guard case .respond(.gatewayTimeout, _, true, _) = state.timedOut(upstreamWritable: false) else {
            return XCTFail("the upstream stopped taking the body: its fault")
        }
    }

    func testTheLastBodyPartStartsTheResponseTimeout() {
        var state = makeState()
        uploading(&state)
        XCTAssertEqual(state.requestEnd(nil), .forwardEnd(nil))
        XCTAssertEqual(state.deadline, .response)
    }

    func testAResponseThatStopsMovingIsCut() {
        var state = makeState()
        _ = state.requestHead(head())
        _ = state.requestEnd(nil)
        _ = state.routed(.upstream(upstream))
        _ = state.upstreamConnected(reused: false)
        _ = state.responseHead(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["content-length": "100"]))
        XCTAssertEqual(state.deadline, .progress)
        let generation = state.deadlineGeneration
        _ = state.responseBody(ByteBuffer(string: "x"))
        XCTAssertNotEqual(state.deadlineGeneration, generation, "a relayed part is progress")
        XCTAssertEqual(state.timeoutLabel, "transfer")
        // A client that stops reading stops the upstream reads: no part comes, the deadline passes.
        XCTAssertEqual(state.timedOut(upstreamWritable: true), .abort(finishExchange: true))
        XCTAssertEqual(state.phase, .closed)
    }

    func testDiscardingABodyThatStopsCloses() {
        var state = makeState()
        _ = state.requestHead(head(.POST, "/", [("Host", "a.test"), ("Content-Length", "10")]))
        XCTAssertEqual(state.routed(.notFound), .respond(.notFound, keepAlive: true, finishExchange: false, then: .discard))
        XCTAssertEqual(state.deadline, .progress)
        let generation = state.deadlineGeneration
        XCTAssertEqual(state.requestBody(ByteBuffer(string: "abc")), .none)
        XCTAssertNotEqual(state.deadlineGeneration, generation)
        XCTAssertEqual(state.timeoutLabel, "body")
        XCTAssertEqual(state.timedOut(upstreamWritable: true), .close)
    }

    func testTheFlushBeforeACloseIsBounded() {
        var state = makeState()
        _ = state.requestHead(head(.GET, "/", [("Host", "a.test"), ("Connection", "close")]))
        _ = state.requestEnd(nil)
        _ = state.routed(.upstream(upstream))
        _ = state.upstreamConnected(reused: false)
        _ = state.responseHead(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["content-length": "0"]))
        XCTAssertEqual(state.responseEnd(nil, upstreamReusable: true), .completeResponse(nil, reuseUpstream: true, then: .close))
        XCTAssertEqual(state.deadline, .progress)
        XCTAssertEqual(state.timeoutLabel, "flush")
        XCTAssertEqual(state.timedOut(upstreamWritable: true), .close)
    }

    func testAnUpgradeIsBoundedUntilTheTunnelTakesOver() {
        var state = makeState()
        _ = state.requestHead(head(.GET, "/ws", [("Host", "a.test"), ("Connection", "upgrade"), ("Upgrade", "websocket")]))
        _ = state.requestEnd(nil)
        _ = state.routed(.upstream(upstream))
        _ = state.upstreamConnected(reused: false)
        guard case .writeResponseHead = state.responseHead(HTTPResponseHead(version: .http1_1, status: .switchingProtocols)) else {
            return XCTFail()
        }
        XCTAssertEqual(state.deadline, .progress)
        XCTAssertEqual(state.timedOut(upstreamWritable: true), .abort(finishExchange: true))
    }

    func testAClosedClientStopsEveryDeadline() {
        var state = makeState()
        uploading(&state)
        _ = state.clientClosed()
        XCTAssertEqual(state.deadline, .none)
        XCTAssertEqual(state.timedOut(upstreamWritable: true), .none)
    }
}
