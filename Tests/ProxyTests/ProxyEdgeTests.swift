import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import XCTest

@testable import Proxy

/// The proxy at the edge, on loopback sockets: timeouts in every phase, connection caps,
/// forwarding headers by trust, absolute-form targets, CONNECT.
final class ProxyEdgeTests: ProxyTestCase {
    /// `a.test` → container `a`, with the given edge settings.
    func startEdge(
        headerTimeout: Duration = .seconds(10),
        idleTimeout: Duration = .seconds(30),
        maxConnections: Int = 10_000,
        maxConnectionsPerClient: Int = 256,
        trustedProxies: [IPNetwork] = []
    ) async throws -> (TestUpstream, TestRoutes, RunningProxy) {
        let upstream = try await startUpstream("a")
        let routes = TestRoutes(["a.test": .upstream(.test("a", upstream))])
        let proxy = try await startProxy(
            routes: routes,
            idleTimeout: idleTimeout,
            headerTimeout: headerTimeout,
            maxConnections: maxConnections,
            maxConnectionsPerClient: maxConnectionsPerClient,
            trustedProxies: trustedProxies
        )
        return (upstream, routes, proxy)
    }

    /// Sends `text`, then reads until the proxy closes; returns what came and how long it took.
    func sendAndAwaitClose(_ port: Int, _ text: String, within seconds: Double = 5) async throws -> (String, Duration) {
        try await withTimeout(seconds) {
            try await RawConnection.with(port: port) { connection in
                let start = ContinuousClock.now
                if !text.isEmpty { try await connection.send(text) }
                let received = try await connection.readUntilClosed()
                return (received, ContinuousClock.now - start)
            }
        }
    }

    func metric(_ proxy: RunningProxy, _ line: String) -> Bool {
        proxy.registry.emitToString().contains(line)
    }

    // MARK: Header timeout

    func testAHalfSentRequestHeadIsDroppedWithinTheHeaderTimeout() async throws {
        let (upstream, _, proxy) = try await startEdge(headerTimeout: .milliseconds(300))
        let (text, elapsed) = try await sendAndAwaitClose(proxy.port, "GET / HTTP/1.1\r\nHost: a.te")
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 408"), text)
        XCTAssertTrue(text.contains("connection: close"), text)
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(250))
        XCTAssertLessThan(elapsed, .seconds(3), "dropped within its timeout, not the 30 s idle one")
        XCTAssertEqual(upstream.accepted, 0)
        XCTAssertTrue(metric(proxy, #"berth_proxy_timeouts_total{phase="header"} 1"#), proxy.registry.emitToString())
    }

    func testAHeadDrippedByteByByteIsCutAtTheHeaderTimeout() async throws {
        let (_, _, proxy) = try await startEdge(headerTimeout: .milliseconds(400))
        let port = proxy.port
        let elapsed = try await withTimeout(5) {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
                }
            return try await channel.executeThenClose { inbound, outbound in
                let start = ContinuousClock.now
                // A byte every 50 ms, forever: each one is progress, none ends the head.
                let drip = Task {
                    for byte in "GET / HTTP/1.1\r\nX-Slow: ".utf8 + Array(repeating: UInt8(ascii: "a"), count: 1000) {
                        try await outbound.write(ByteBuffer(bytes: [byte]))
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
                defer { drip.cancel() }
                for try await _ in inbound {}
                return ContinuousClock.now - start
            }
        }
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(350))
        XCTAssertLessThan(elapsed, .seconds(3))
    }

    func testAFreshConnectionThatSendsNothingClosesSilentlyAfterTheHeaderTimeout() async throws {
        let (_, _, proxy) = try await startEdge(headerTimeout: .milliseconds(300))
        let (text, elapsed) = try await sendAndAwaitClose(proxy.port, "")
        XCTAssertEqual(text, "", "no 408 for a connection that never began a request")
        XCTAssertLessThan(elapsed, .seconds(3))
    }

    func testOnAKeptAliveConnectionTheHeaderTimeoutRunsFromTheFirstByte() async throws {
        let (_, _, proxy) = try await startEdge(headerTimeout: .milliseconds(300), idleTimeout: .seconds(30))
        let (text, elapsed) = try await withTimeout(5) { [port = proxy.port] in
            try await RawConnection.with(port: port) { connection in
                try await connection.send("GET /1 HTTP/1.1\r\nHost: a.test\r\n\r\n")
                _ = try await connection.readResponses(1)
                connection.discardReceived()
                try await Task.sleep(for: .milliseconds(400))  // past the header timeout: idle is 30 s here
                let start = ContinuousClock.now
                try await connection.send("GET /2 HTTP/1.1\r\nHo")
                return (try await connection.readUntilClosed(), ContinuousClock.now - start)
            }
        }
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 408"), text)
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(250))
        XCTAssertLessThan(elapsed, .seconds(3))
    }

    // MARK: Idle timeouts

    func testAnIdleKeepAliveConnectionIsClosedAfterTheIdleTimeout() async throws {
        let (_, _, proxy) = try await startEdge(headerTimeout: .seconds(10), idleTimeout: .milliseconds(400))
        let (responses, rest, elapsed) = try await withTimeout(8) { [port = proxy.port] in
            try await RawConnection.with(port: port) { connection in
                try await connection.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
                let responses = try await connection.readResponses(1)
                connection.discardReceived()
                let start = ContinuousClock.now
                return (responses, try await connection.readUntilClosed(), ContinuousClock.now - start)
            }
        }
        XCTAssertTrue(responses.first?.hasPrefix("HTTP/1.1 200") == true)
        XCTAssertEqual(rest, "", "an idle close says nothing")
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(350))
        XCTAssertLessThan(elapsed, .seconds(4), "closed by the 400 ms idle timeout, not the 10 s header timeout")
        XCTAssertTrue(metric(proxy, #"berth_proxy_timeouts_total{phase="idle"} 1"#))
    }

    func testARequestBodyThatStopsArrivingGets408() async throws {
        let (upstream, routes, proxy) = try await startEdge(idleTimeout: .milliseconds(400))
        let (text, elapsed) = try await sendAndAwaitClose(proxy.port, "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 10\r\n\r\nabc")
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 408"), text)
        XCTAssertLessThan(elapsed, .seconds(4))
        await assertEventually({ routes.finished("a") == 1 }, "the exchange is closed")
        await assertEventually({ upstream.closed == 1 }, "and the half-sent upstream request with it")
        XCTAssertTrue(metric(proxy, #"berth_proxy_timeouts_total{phase="body"} 1"#))
    }

    func testAClientThatStopsReadingIsCut() async throws {
        let (upstream, routes, proxy) = try await startEdge(idleTimeout: .milliseconds(500))
        // A client with a tiny receive buffer that never reads.
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.autoRead, value: false)
            .channelOption(.socketOption(.so_rcvbuf), value: 4096)
            .connect(host: "127.0.0.1", port: proxy.port)
            .get()
        defer { channel.close(promise: nil) }
        let start = ContinuousClock.now
        try await channel.writeAndFlush(ByteBuffer(string: "GET /flood HTTP/1.1\r\nHost: a.test\r\n\r\n"))
        await assertEventually({ upstream.streamsCut == 1 }, "the stalled response is cut and its upstream closed", seconds: 15)
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(15))
        await assertEventually({ routes.finished("a") == 1 })
        XCTAssertTrue(metric(proxy, #"berth_proxy_timeouts_total{phase="transfer"} 1"#), proxy.registry.emitToString())
    }

    func testASilentTunnelIsClosedAfterTheIdleTimeout() async throws {
        let (upstream, routes, proxy) = try await startEdge(idleTimeout: .milliseconds(400))
        let (head, elapsed) = try await withTimeout(8) { [port = proxy.port] in
            try await RawConnection.with(port: port) { connection in
                try await connection.send(
                    "GET /ws HTTP/1.1\r\nHost: a.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                )
                let head = String(buffer: try await connection.read { String(buffer: $0).contains("\r\n\r\n") })
                // Traffic keeps it open past the timeout...
                for _ in 0..<4 {
                    try await Task.sleep(for: .milliseconds(200))
                    connection.discardReceived()
                    try await connection.send("ping")
                    try await connection.read { $0.readableBytes >= 4 }
                }
                // ...silence closes it.
                let start = ContinuousClock.now
                _ = try await connection.readUntilClosed()
                return (head, ContinuousClock.now - start)
            }
        }
        XCTAssertTrue(head.hasPrefix("HTTP/1.1 101"), head)
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(300))
        XCTAssertLessThan(elapsed, .seconds(4))
        await assertEventually({ routes.finished("a") == 1 })
        await assertEventually({ upstream.closed == 1 })
        XCTAssertTrue(metric(proxy, #"berth_proxy_timeouts_total{phase="tunnel"} 1"#))
    }

    // MARK: Connection caps

    /// Opens connections that each got a response (so the proxy admitted them), runs `body`, closes them.
    func holding(_ count: Int, _ port: Int, from: String? = nil, _ body: () async throws -> Void) async throws {
        guard count > 0 else { return try await body() }
        try await RawConnection.with(port: port, from: from) { connection in
            try await connection.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
            let responses = try await connection.readResponses(1)
            XCTAssertTrue(responses.first?.hasPrefix("HTTP/1.1 200") == true)
            try await holding(count - 1, port, from: from, body)
        }
    }

    func testTheGlobalConnectionCap() async throws {
        let (_, _, proxy) = try await startEdge(maxConnections: 3)
        try await holding(3, proxy.port) {
            let (text, elapsed) = try await sendAndAwaitClose(proxy.port, "")
            XCTAssertEqual(text, "", "over the cap: closed at once")
            XCTAssertLessThan(elapsed, .seconds(2), "not by a timeout (10 s here)")
            XCTAssertEqual(proxy.server.openConnections, 3)
        }
        await assertEventually({ proxy.server.openConnections == 0 }, "every close releases its count")
        try await holding(3, proxy.port) {}
        XCTAssertTrue(metric(proxy, #"berth_proxy_connections_refused_total{reason="global"} 1"#))
    }

    func testClosingOneConnectionLetsTheNextIn() async throws {
        let (_, _, proxy) = try await startEdge(maxConnections: 2)
        try await holding(1, proxy.port) {
            try await holding(1, proxy.port) {
                let (text, _) = try await sendAndAwaitClose(proxy.port, "")
                XCTAssertEqual(text, "")
            }
            await assertEventually({ proxy.server.openConnections == 1 })
            try await holding(1, proxy.port) {}
        }
    }

    func testThePerClientConnectionCap() async throws {
        let (_, _, proxy) = try await startEdge(maxConnections: 100, maxConnectionsPerClient: 2)
        try await holding(2, proxy.port) {
            let (text, elapsed) = try await sendAndAwaitClose(proxy.port, "")
            XCTAssertEqual(text, "")
            XCTAssertLessThan(elapsed, .seconds(2))
            // Another client address is not held back by this one's connections.
            try await holding(2, proxy.port, from: "127.0.0.2") {}
        }
        await assertEventually({ proxy.server.openConnections == 0 })
        try await holding(2, proxy.port) {}
        XCTAssertTrue(metric(proxy, #"berth_proxy_connections_refused_total{reason="per_client"} 1"#))
        XCTAssertTrue(metric(proxy, #"berth_proxy_connections_refused_total{reason="global"} 0"#))
    }

    // MARK: Forwarding headers

    func forwardedFor(_ proxy: RunningProxy) async throws -> [String] {
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            let response = try await connection.send(
                .GET, "/", host: "a.test",
                headers: [("X-Forwarded-For", "6.6.6.6"), ("X-Real-IP", "6.6.6.6"), ("Forwarded", "for=6.6.6.6")]
            )
            let echoed = try response.echoed()
            return echoed.values("x-forwarded-for").flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        }
    }

    func testAnUntrustedClientsForwardedForNeverReachesTheUpstream() async throws {
        let (upstream, _, proxy) = try await startEdge()
        let seen = try await forwardedFor(proxy)
        XCTAssertEqual(seen, ["127.0.0.1"])
        let echoed = try XCTUnwrap(upstream.requests.last)
        XCTAssertEqual(echoed.values("x-real-ip"), [])
        XCTAssertEqual(echoed.values("forwarded"), ["for=127.0.0.1;host=a.test;proto=http"])
    }

    func testATrustedProxysForwardedForIsKeptAndThePeerAppended() async throws {
        let (_, _, proxy) = try await startEdge(trustedProxies: [try IPNetwork(parsing: "127.0.0.1/32")])
        let seen = try await forwardedFor(proxy)
        XCTAssertEqual(seen, ["6.6.6.6", "127.0.0.1"], "the real peer comes last")
    }

    // MARK: Request targets

    func testAbsoluteFormTargetsAreRoutedByTheirAuthorityAndRewritten() async throws {
        let (upstream, _, proxy) = try await startEdge()
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            let response = try await connection.send(.GET, "http://a.test:8081/abs?x=1", host: "nowhere.test")
            XCTAssertEqual(response.status, 200)
            let echoed = try response.echoed()
            XCTAssertEqual(echoed.uri, "/abs?x=1")
            XCTAssertEqual(echoed.values("host"), ["a.test:8081"])
            let refused = try await connection.send(.GET, "https://a.test/", host: "a.test")
            try assertProblem(refused, 400)
        }
        XCTAssertEqual(upstream.requests.count, 1, "the https:// target never reached the upstream")
    }

    func testConnectIsRefused() async throws {
        let (upstream, _, proxy) = try await startEdge()
        let (text, _) = try await sendAndAwaitClose(proxy.port, "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n")
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 405"), text)
        XCTAssertTrue(text.contains("connection: close"), text)
        XCTAssertEqual(upstream.accepted, 0)
    }
}
