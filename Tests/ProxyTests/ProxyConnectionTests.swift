import Foundation
import NIOCore
import NIOHTTP1
import XCTest

@testable import Proxy

final class ProxyConnectionTests: ProxyTestCase {
    func testHundredKeepAliveRequestsReuseOneUpstreamConnection() async throws {
        let (upstream, routes, proxy) = try await startSingle()
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            for index in 0..<100 {
                let response = try await connection.send(.GET, "/\(index)", host: "a.test")
                XCTAssertEqual(try response.echoed().uri, "/\(index)")
            }
        }
        XCTAssertEqual(upstream.accepted, 1)
        XCTAssertEqual(routes.started("a"), 100)
        XCTAssertEqual(routes.finished("a"), 100)
    }

    func testUpstreamConnectionCloseIsRespected() async throws {
        let (upstream, _, proxy) = try await startSingle()
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            for _ in 0..<3 {
                let response = try await connection.send(.GET, "/close", host: "a.test")
                XCTAssertEqual(response.status, 200)
                XCTAssertFalse(response.headers.contains(name: "connection"), "hop-by-hop, and the client connection stays")
            }
        }
        XCTAssertEqual(upstream.accepted, 3)
    }

    func testPipelinedRequestsAreAnsweredInOrder() async throws {
        let (upstream, _, proxy) = try await startSingle()
        let responses = try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send(
                "GET /1 HTTP/1.1\r\nHost: a.test\r\n\r\n"
                    + "POST /2 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nabc"
                    + "GET /3 HTTP/1.1\r\nHost: nowhere.test\r\n\r\n"
                    + "GET /4 HTTP/1.1\r\nHost: a.test\r\n\r\n"
            )
            return try await connection.readResponses(4)
        }
        XCTAssertEqual(responses.count, 4)
        XCTAssertTrue(responses[0].contains("\"uri\":\"\\/1\""), responses[0])
        XCTAssertTrue(responses[1].contains("\"bodyLength\":3"), responses[1])
        XCTAssertTrue(responses[2].hasPrefix("HTTP/1.1 404"))
        XCTAssertTrue(responses[3].contains("\"uri\":\"\\/4\""), responses[3])
        XCTAssertEqual(upstream.accepted, 1)
    }

    func testExpectContinue() async throws {
        let (_, _, proxy) = try await startSingle()
        let (interim, final) = try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send("PUT /upload HTTP/1.1\r\nHost: a.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
            let interim = try await connection.read { String(buffer: $0).contains("\r\n\r\n") }
            connection.discardReceived()
            try await connection.send("hello")
            let final = try await connection.readResponses(1)
            return (String(buffer: interim), final)
        }
        XCTAssertTrue(interim.hasPrefix("HTTP/1.1 100 Continue\r\n"), interim)
        XCTAssertTrue(final.first?.hasPrefix("HTTP/1.1 200") == true)
        XCTAssertTrue(final.first?.contains("\"bodyLength\":5") == true)
        XCTAssertFalse(final.first?.lowercased().contains("\"expect\"") == true, "the expectation is not forwarded")
    }

    func testExpectContinueToAnUnknownHostGetsAFinalAnswer() async throws {
        let (_, _, proxy) = try await startSingle()
        let text = try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send("PUT / HTTP/1.1\r\nHost: nowhere.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
            return try await connection.readUntilClosed()
        }
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 404"), text)
        XCTAssertTrue(text.contains("connection: close"))
    }

    func testWebSocketEchoStaysInFlightUntilClosed() async throws {
        let (upstream, routes, proxy) = try await startSingle()
        let frame: [UInt8] = {
            let payload = Array("hello".utf8)
            let mask: [UInt8] = [0x37, 0xfa, 0x21, 0x3d]
            return [0x81, 0x80 | UInt8(payload.count)] + mask + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        }()
        try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send(
                "GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            let head = try await connection.read { String(buffer: $0).contains("\r\n\r\n") }
            let text = String(buffer: head)
            XCTAssertTrue(text.hasPrefix("HTTP/1.1 101"), text)
            XCTAssertTrue(text.lowercased().contains("upgrade: websocket"))
            connection.discardReceived()
            for _ in 0..<3 {
                try await connection.send(bytes: frame)
                let echoed = try await connection.read { $0.readableBytes >= frame.count }
                XCTAssertEqual(Array(echoed.readableBytesView), frame)
                connection.discardReceived()
            }
            XCTAssertEqual(routes.inFlight("a"), 1, "an open tunnel is in flight")
            let inFlightMetric = proxy.registry.emitToString()
            XCTAssertTrue(inFlightMetric.contains(#"berth_proxy_requests_in_flight{container="a"} 1"#), inFlightMetric)
        }
        await assertEventually({ routes.finished("a") == 1 }, "the tunnel's close ends the exchange")
        XCTAssertEqual(routes.started("a"), 1)
        await assertEventually({ upstream.closed == 1 }, "closing the client closes the upstream side")
    }

    func testHopByHopHeadersAreRemovedAndForwardingHeadersAdded() async throws {
        let (_, _, proxy) = try await startSingle()
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            let response = try await connection.send(
                .GET,
                "/echo",
                host: "A.test:81",
                headers: [
                    ("Connection", "keep-alive, X-Private"), ("Keep-Alive", "timeout=9"), ("X-Private", "secret"),
                    ("Proxy-Connection", "keep-alive"), ("TE", "trailers"), ("Proxy-Authorization", "Basic eA=="),
                    ("X-Forwarded-For", "203.0.113.5"), ("X-Forwarded-Proto", "https"), ("Forwarded", "for=203.0.113.5"),
                    ("X-Custom", "kept"),
                ]
            )
            let echoed = try response.echoed()
            for name in ["connection", "keep-alive", "x-private", "proxy-connection", "te", "proxy-authorization", "transfer-encoding", "upgrade"] {
                XCTAssertEqual(echoed.values(name), [], name)
            }
            XCTAssertEqual(echoed.values("x-custom"), ["kept"])
            XCTAssertEqual(echoed.values("host"), ["A.test:81"])
            // The peer is not a trusted proxy: its own forwarding fields are replaced.
            XCTAssertEqual(echoed.values("x-forwarded-for"), ["127.0.0.1"])
            XCTAssertEqual(echoed.values("x-forwarded-proto"), ["http"])
            XCTAssertEqual(echoed.values("x-forwarded-host"), ["A.test:81"])
            XCTAssertEqual(echoed.values("forwarded"), ["for=127.0.0.1;host=\"A.test:81\";proto=http"])
            XCTAssertEqual(echoed.version, "1.1")
            // And on the way back: the upstream sent Keep-Alive, Connection: x-hop and X-Hop.
            XCTAssertFalse(response.headers.contains(name: "keep-alive"))
            XCTAssertFalse(response.headers.contains(name: "x-hop"))
            XCTAssertFalse(response.headers.contains(name: "connection"))
            XCTAssertEqual(response.headers["x-upstream"], ["a"])
        }
    }

    func testClientDisconnectMidResponseClosesTheUpstreamConnection() async throws {
        let (upstream, routes, proxy) = try await startSingle()
        try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send("GET /stream HTTP/1.1\r\nHost: a.test\r\n\r\n")
            try await connection.read { $0.readableBytes > 3000 }
        }
        await assertEventually({ upstream.streamsCut == 1 }, "the upstream sees its connection closed")
        await assertEventually({ upstream.closed == 1 })
        await assertEventually({ routes.finished("a") == 1 })
        XCTAssertEqual(routes.started("a"), 1)
        // The cut connection is not pooled: the next request opens a new one.
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            let response = try await connection.send(.GET, "/", host: "a.test")
            XCTAssertEqual(response.status, 200)
        }
        XCTAssertEqual(upstream.accepted, 2)
    }

    func testClientDisconnectWhileWaitingClosesTheUpstreamConnection() async throws {
        let (upstream, routes, proxy) = try await startSingle()
        try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send("GET /never HTTP/1.1\r\nHost: a.test\r\n\r\n")
            _ = await eventually { upstream.requests.count == 1 }
        }
        await assertEventually({ upstream.closed == 1 })
        await assertEventually({ routes.finished("a") == 1 })
        let metrics = proxy.registry.emitToString()
        XCTAssertTrue(metrics.contains(#"berth_proxy_requests_total{container="a",class="4xx"} 1"#), "recorded as 499")
    }

    func testBracketingIsExactlyOncePerRequestWhateverTheOutcome() async throws {
        let upstream = try await startUpstream("a")
        let routes = TestRoutes([
            "a.test": .upstream(.test("a", upstream)),
            "gone.test": .upstream(.test("gone", port: try closedPort())),
        ])
        let proxy = try await startProxy(routes: routes, responseTimeout: .milliseconds(300))
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            _ = try await connection.send(.GET, "/", host: "a.test")
            _ = try await connection.send(.GET, "/never", host: "a.test")
            _ = try await connection.send(.GET, "/status/500", host: "a.test")
            _ = try await connection.send(.POST, "/reset-before-head", host: "a.test", body: "x")
            _ = try await connection.send(.GET, "/", host: "gone.test")
            _ = try await connection.send(.GET, "/", host: "unknown.test")
        }
        try? await RawConnection.with(port: proxy.port) { connection in
            try await connection.send("GET /reset-mid-body HTTP/1.1\r\nHost: a.test\r\n\r\n")
            _ = try await connection.readUntilClosed()
        }
        await assertEventually({ routes.finished("a") == 5 })
        XCTAssertEqual(routes.started("a"), 5)
        XCTAssertEqual(routes.started("gone"), 1)
        XCTAssertEqual(routes.finished("gone"), 1)
    }

    func testForgetClosesIdlePooledConnections() async throws {
        let (upstream, _, proxy) = try await startSingle()
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            _ = try await connection.send(.GET, "/", host: "a.test")
        }
        XCTAssertEqual(upstream.closed, 0)
        proxy.server.forget(.test("a", upstream))
        await assertEventually({ upstream.closed == 1 })
    }

    func testIdleClientConnectionsAreClosed() async throws {
        let (_, _, proxy) = try await startSingle(idleTimeout: .milliseconds(300))
        let text = try await withTimeout(5) {
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
                _ = try await connection.readResponses(1)
                connection.discardReceived()
                return try await connection.readUntilClosed()
            }
        }
        XCTAssertEqual(text, "")
    }

    func testGracefulShutdownFinishesInFlightRequests() async throws {
        let upstream = try await startUpstream("a")
        let routes = TestRoutes(["a.test": .upstream(.test("a", upstream))])
        let proxy = try await RunningProxy.start(routes: routes)
        async let response: TestResponse = TestHTTPConnection.with(port: proxy.port) { connection in
            try await connection.send(.GET, "/delay/400", host: "a.test")
        }
        _ = await eventually { upstream.requests.count == 1 }
        proxy.server.shutdownGracefully()
        let finished = try await response
        XCTAssertEqual(finished.status, 200)
        XCTAssertEqual(finished.headers["connection"], ["close"])
        try await withTimeout(5) { try await proxy.task.value }
        let port = await proxy.server.boundPort
        XCTAssertNil(port)
        await assertEventually({ upstream.closed == 1 }, "pooled connections closed at the end")
    }

    func testMetrics() async throws {
        let (_, _, proxy) = try await startSingle()
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            _ = try await connection.send(.GET, "/", host: "a.test")
            _ = try await connection.send(.GET, "/status/404", host: "a.test")
            _ = try await connection.send(.GET, "/status/503", host: "a.test")
        }
        let metrics = ProxyMetrics(registry: proxy.registry)
        metrics.recordWakeUp(containerID: "a", from: .paused, duration: .milliseconds(4))
        let text = proxy.registry.emitToString()
        XCTAssertTrue(text.contains(#"berth_proxy_requests_total{container="a",class="2xx"} 1"#), text)
        XCTAssertTrue(text.contains(#"berth_proxy_requests_total{container="a",class="4xx"} 1"#), text)
        XCTAssertTrue(text.contains(#"berth_proxy_requests_total{container="a",class="5xx"} 1"#), text)
        XCTAssertTrue(text.contains(#"berth_proxy_request_duration_seconds_count{container="a"} 3"#), text)
        XCTAssertTrue(text.contains(#"berth_proxy_requests_in_flight{container="a"} 0"#), text)
        XCTAssertTrue(text.contains(#"berth_proxy_wakeups_total{container="a",from="paused"} 1"#), text)
        XCTAssertTrue(text.contains(#"berth_proxy_wakeup_duration_seconds_count{container="a"} 1"#), text)
    }
}
