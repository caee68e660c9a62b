import NIOCore
import NIOHTTP1
import XCTest

@testable import Proxy

final class ProxyConnectionStateTests: XCTestCase {
    typealias State = ProxyConnectionState
    let upstream = Upstream(containerID: "c1", revision: 3, host: "10.0.0.7", port: 8080)

    func head(
        _ method: HTTPMethod = .GET,
        _ uri: String = "/",
        version: HTTPVersion = .http1_1,
        _ headers: [(String, String)] = [("Host", "App.Example.com:8080")]
    ) -> HTTPRequestHead {
        HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(headers))
    }

    func makeState() -> State { State(client: ClientAddress(ip: "192.0.2.9")) }

    /// Drives a GET to the exchanging phase and returns the head sent upstream.
    @discardableResult
    func exchange(_ state: inout State, _ request: HTTPRequestHead? = nil, reused: Bool = false) -> RequestHead? {
        XCTAssertEqual(state.requestHead(request ?? head()), .route(host: "app.example.com"))
        XCTAssertEqual(state.requestEnd(nil), .none)
        XCTAssertEqual(state.routed(.upstream(upstream)), .connect(upstream))
        guard case .sendRequest(let sent, let held, _) = state.upstreamConnected(reused: reused) else {
            XCTFail("expected sendRequest")
            return nil
        }
        XCTAssertEqual(held, [.end(nil)])
        return sent
    }

    func testKeepAliveExchangeReturnsToIdle() {
        var state = makeState()
        let sent = exchange(&state)
        XCTAssertEqual(sent?.version, .http1_1)
        XCTAssertTrue(state.exchangeOpen)
        let response = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["content-length": "2"])
        guard case .writeResponseHead(let written) = state.responseHead(response) else { return XCTFail() }
        XCTAssertEqual(written.headers["content-length"], ["2"])
        XCTAssertEqual(state.responseBody(ByteBuffer(string: "ok")), .writeResponseBody(ByteBuffer(string: "ok")))
        XCTAssertEqual(state.responseEnd(nil, upstreamReusable: true), .completeResponse(nil, reuseUpstream: true, then: .idle))
        XCTAssertEqual(state.phase, .idle)
        XCTAssertFalse(state.exchangeOpen)
        XCTAssertEqual(state.responseStatus, 200)
    }

    func testMissingOrRepeatedHostIs400() {
        var state = makeState()
        XCTAssertEqual(state.requestHead(head(.GET, "/", [])), .respond(.badRequest, keepAlive: true, finishExchange: false, then: .discard))
        XCTAssertEqual(state.requestEnd(nil), .becameIdle)
        XCTAssertEqual(
            state.requestHead(head(.GET, "/", [("Host", "a"), ("Host", "b")])),
            .respond(.badRequest, keepAlive: true, finishExchange: false, then: .discard)
        )
    }

    func testRouteRefusalsMapToProblems() {
        for (route, problem) in [(Route.notFound, Problem.notFound), (.unavailable("waking"), .serviceUnavailable), (.failed("exit 1"), .badGateway)] {
            var state = makeState()
            _ = state.requestHead(head())
            _ = state.requestEnd(nil)
            XCTAssertEqual(state.routed(route), .respond(problem, keepAlive: true, finishExchange: false, then: .idle))
            XCTAssertEqual(state.phase, .idle)
        }
    }

    func testBodyIsHeldUntilTheUpstreamIsBoundAndReadsPause() {
        var state = makeState()
        _ = state.requestHead(head(.POST, "/", [("Host", "a"), ("Content-Length", "4")]))
        XCTAssertTrue(state.readsAllowed(upstreamWritable: true))
        XCTAssertEqual(state.requestBody(ByteBuffer(string: "ab")), .none)
        XCTAssertFalse(state.readsAllowed(upstreamWritable: true), "nothing more is read while a part is held")
        _ = state.routed(.upstream(upstream))
        guard case .sendRequest(_, let held, false) = state.upstreamConnected(reused: false) else { return XCTFail() }
        XCTAssertEqual(held, [.body(ByteBuffer(string: "ab"))])
        XCTAssertTrue(state.readsAllowed(upstreamWritable: true))
        XCTAssertFalse(state.readsAllowed(upstreamWritable: false), "backpressure from the upstream")
        XCTAssertEqual(state.requestBody(ByteBuffer(string: "cd")), .forwardBody(ByteBuffer(string: "cd")))
        XCTAssertEqual(state.requestEnd(nil), .forwardEnd(nil))
        XCTAssertTrue(state.readsAllowed(upstreamWritable: false), "after the request, reading only watches for close")
    }

    func testExpectContinueIsAnsweredOnceConnected() {
        var state = makeState()
        _ = state.requestHead(head(.PUT, "/", [("Host", "a"), ("Expect", "100-continue"), ("Content-Length", "9")]))
        _ = state.routed(.upstream(upstream))
        guard case .sendRequest(let sent, _, true) = state.upstreamConnected(reused: false) else { return XCTFail() }
        XCTAssertFalse(sent.headers.contains(name: "expect"), "the proxy answers 100 itself")
    }

    func testExpectContinueRefusedClosesTheConnection() {
        var state = makeState()
        _ = state.requestHead(head(.PUT, "/", [("Host", "a"), ("Expect", "100-continue"), ("Content-Length", "9")]))
        XCTAssertEqual(state.routed(.notFound), .respond(.notFound, keepAlive: false, finishExchange: false, then: .close))
    }

    func testUnknownExpectationIs417() {
        var state = makeState()
        XCTAssertEqual(
            state.requestHead(head(.PUT, "/", [("Host", "a"), ("Expect", "teapot")])),
            .respond(.expectationFailed, keepAlive: true, finishExchange: false, then: .discard)
        )
    }

    func testConnectFailures() {
        for (timedOut, problem) in [(false, Problem.badGateway), (true, .gatewayTimeout)] {
            var state = makeState()
            _ = state.requestHead(head())
            _ = state.requestEnd(nil)
            _ = state.routed(.upstream(upstream))
            XCTAssertEqual(state.connectFailed(timedOut: timedOut), .respond(problem, keepAlive: true, finishExchange: true, then: .idle))
            XCTAssertFalse(state.exchangeOpen)
        }
    }

    func testResponseTimeoutBeforeHeadIs504() {
        var state = makeState()
        exchange(&state)
        XCTAssertEqual(state.deadline, .response)
        XCTAssertEqual(state.timedOut(upstreamWritable: true), .respond(.gatewayTimeout, keepAlive: true, finishExchange: true, then: .idle))
        XCTAssertEqual(state.deadline, .keepAlive, "the connection waits for the next request")
    }

    func testUpstreamFailureBeforeHeadIs502AndAfterHeadAborts() {
        var state = makeState()
        exchange(&state)
        XCTAssertEqual(state.upstreamFailed(), .respond(.badGateway, keepAlive: true, finishExchange: true, then: .idle))

        exchange(&state)
        _ = state.responseHead(HTTPResponseHead(version: .http1_1, status: .ok))
        XCTAssertEqual(state.upstreamFailed(), .abort(finishExchange: true))
        XCTAssertEqual(state.phase, .closed)
    }

    func testIdempotentRequestOnAReusedConnectionIsRetriedOnce() {
        var state = makeState()
        exchange(&state, reused: true)
        XCTAssertEqual(state.upstreamFailed(), .reconnect(upstream))
        XCTAssertTrue(state.exchangeOpen, "a retry stays within one exchange")
        guard case .sendRequest(_, let held, false) = state.upstreamConnected(reused: false) else { return XCTFail() }
        XCTAssertEqual(held, [.end(nil)])
        XCTAssertEqual(state.upstreamFailed(), .respond(.badGateway, keepAlive: true, finishExchange: true, then: .idle))
    }

    func testPostIsNotRetried() {
        var state = makeState()
        exchange(&state, head(.POST, "/", [("Host", "app.example.com")]), reused: true)
        XCTAssertEqual(state.upstreamFailed(), .respond(.badGateway, keepAlive: true, finishExchange: true, then: .idle))
    }

    func testEarlyResponseDiscardsTheRestOfTheBody() {
        var state = makeState()
        _ = state.requestHead(head(.POST, "/", [("Host", "a"), ("Content-Length", "100")]))
        _ = state.routed(.upstream(upstream))
        _ = state.upstreamConnected(reused: false)
        _ = state.responseHead(HTTPResponseHead(version: .http1_1, status: .payloadTooLarge, headers: ["content-length": "0"]))
        XCTAssertEqual(state.responseEnd(nil, upstreamReusable: true), .completeResponse(nil, reuseUpstream: false, then: .discard))
        XCTAssertEqual(state.requestBody(ByteBuffer(string: "x")), .none)
        XCTAssertEqual(state.requestEnd(nil), .becameIdle)
    }

    func testPipelinedRequestsWaitForTheCurrentResponse() {
        var state = makeState()
        exchange(&state)
        XCTAssertEqual(state.requestHead(head(.GET, "/2")), .none)
        XCTAssertEqual(state.requestEnd(nil), .none)
        XCTAssertFalse(state.readsAllowed(upstreamWritable: true))
        _ = state.responseHead(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["content-length": "0"]))
        _ = state.responseEnd(nil, upstreamReusable: true)
        XCTAssertTrue(state.hasPipelined)
        XCTAssertEqual(state.takePipelined(), [.head(RequestHead(head(.GET, "/2"))), .end(nil)])
    }

    func testConnectionCloseAndHTTP10() {
        var state = makeState()
        exchange(&state, head(.GET, "/", [("Host", "app.example.com"), ("Connection", "close")]))
        _ = state.responseHead(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["content-length": "0"]))
        XCTAssertEqual(state.responseEnd(nil, upstreamReusable: true), .completeResponse(nil, reuseUpstream: true, then: .close))

        state = makeState()
        exchange(&state, head(.GET, "/", version: .http1_0, [("Host", "app.example.com"), ("Connection", "keep-alive")]))
        guard case .writeResponseHead(let written) = state.responseHead(HTTPResponseHead(version: .http1_1, status: .ok)) else {
            return XCTFail()
        }
        XCTAssertEqual(written.headers["connection"], ["close"], "no length and no chunking for 1.0: close-delimited")
        XCTAssertFalse(written.headers.contains(name: "transfer-encoding"))
        XCTAssertEqual(state.responseEnd(nil, upstreamReusable: true), .completeResponse(nil, reuseUpstream: true, then: .close))
    }

    func testUpgradeBecomesATunnel() {
        var state = makeState()
        let upgrade = head(.GET, "/ws", [("Host", "app.example.com"), ("Connection", "Upgrade"), ("Upgrade", "websocket")])
        let sent = exchange(&state, upgrade)
        XCTAssertEqual(sent?.headers["upgrade"], ["websocket"])
        XCTAssertEqual(sent?.headers["connection"], ["upgrade"])
        let switching = HTTPResponseHead(
            version: .http1_1,
            status: .switchingProtocols,
            headers: ["Upgrade": "websocket", "Connection": "Upgrade"]
        )
        guard case .writeResponseHead(let written) = state.responseHead(switching) else { return XCTFail() }
        XCTAssertEqual(written.headers["upgrade"], ["websocket"])
        XCTAssertEqual(state.responseEnd(nil, upstreamReusable: false), .startTunnel)
        XCTAssertTrue(state.exchangeOpen, "the tunnel closes the exchange")
    }

    func testUnsolicited101Is502() {
        var state = makeState()
        exchange(&state)
        XCTAssertEqual(
            state.responseHead(HTTPResponseHead(version: .http1_1, status: .switchingProtocols)),
            .respond(.badGateway, keepAlive: true, finishExchange: true, then: .idle)
        )
    }

    func testUpgradeRefusedClosesTheClientConnection() {
        var state = makeState()
        exchange(&state, head(.GET, "/ws", [("Host", "app.example.com"), ("Connection", "upgrade"), ("Upgrade", "websocket")]))
        guard case .writeResponseHead(let written) = state.responseHead(HTTPResponseHead(version: .http1_1, status: .badRequest, headers: ["content-length": "0"])) else {
            return XCTFail()
        }
        XCTAssertEqual(written.headers["connection"], ["close"], "the request decoder stops after an upgrade request")
    }

    func testClientCloseDuringExchangeAborts() {
        var state = makeState()
        exchange(&state)
        XCTAssertEqual(state.clientClosed(), .abort(finishExchange: true))
        XCTAssertEqual(state.responseStatus, 499)
        XCTAssertEqual(state.upstreamConnected(reused: false), .releaseUnused)
        XCTAssertEqual(state.clientClosed(), .none)
    }

    func testClientCloseWhileRoutingOpensNoExchange() {
        var state = makeState()
        _ = state.requestHead(head())
        XCTAssertEqual(state.clientClosed(), .none)
        XCTAssertEqual(state.routed(.upstream(upstream)), .none)
    }

    func testQuiesce() {
        var state = makeState()
        XCTAssertEqual(state.quiesce(), .close)

        state = makeState()
        exchange(&state)
        XCTAssertEqual(state.quiesce(), .none)
        guard case .writeResponseHead(let written) = state.responseHead(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["content-length": "0"])) else {
            return XCTFail()
        }
        XCTAssertEqual(written.headers["connection"], ["close"])
        XCTAssertEqual(state.responseEnd(nil, upstreamReusable: true), .completeResponse(nil, reuseUpstream: true, then: .close))
    }

    func testAFreshConnectionWithNothingSentClosesSilently() {
        var state = makeState()
        XCTAssertEqual(state.deadline, .requestHead, "the header timeout runs from accept")
        XCTAssertEqual(state.timedOut(upstreamWritable: true), .close)
        XCTAssertEqual(state.phase, .closed)
    }

    func testMalformedRequest() {
        var state = makeState()
        XCTAssertEqual(state.malformedRequest(), .respond(.badRequest, keepAlive: false, finishExchange: false, then: .close))
        state = makeState()
        XCTAssertEqual(state.malformedRequest(.notImplemented), .respond(.notImplemented, keepAlive: false, finishExchange: false, then: .close))
        state = makeState()
        exchange(&state)
        _ = state.responseHead(HTTPResponseHead(version: .http1_1, status: .ok))
        XCTAssertEqual(state.malformedRequest(), .abort(finishExchange: true))
    }

    func testConnectIsNotAllowed() {
        var state = makeState()
        XCTAssertEqual(
            state.requestHead(head(.CONNECT, "a:443", [("Host", "a:443")])),
            .respond(.methodNotAllowed, keepAlive: false, finishExchange: false, then: .discard)
        )
    }
}
