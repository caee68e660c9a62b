import Foundation
import NIOCore
import NIOHTTP1
import TestSupport
import XCTest

@testable import Proxy

/// Cleartext HTTP/2 through the proxy, in process: clients with prior knowledge (NIOHTTP2) and
/// with `Upgrade: h2c` (curl), upstreams that speak HTTP/1.1 or h2c, trailers, resets.
final class ProxyHTTP2Tests: ProxyTestCase {
    func startH2CUpstream(_ name: String) async throws -> TestUpstream {
        let upstream = try await TestUpstream.start(name: name, h2c: true)
        addTeardownBlock { await upstream.stop() }
        return upstream
    }

    func connect(_ proxy: RunningProxy) async throws -> HTTP2TestConnection {
        let connection = try await HTTP2TestConnection.connect(port: proxy.port)
        addTeardownBlock { await connection.close() }
        return connection
    }

    func echoed(_ response: HTTP2TestResponse) throws -> EchoedRequest {
        try JSONDecoder().decode(EchoedRequest.self, from: Data(response.text.utf8))
    }

    func testStreamsReachAnHTTP1UpstreamAsHTTP11Requests() async throws {
        let (_, routes, proxy) = try await startSingle()
        let client = try await connect(proxy)

        let get = try await client.request("GET", "/hello?x=1", authority: "a.test", headers: [("x-custom", "1")])
        XCTAssertEqual(get.status, 200)
        XCTAssertTrue(get.complete)
        XCTAssertNil(get.reset)
        let request = try echoed(get)
        XCTAssertEqual(request.version, "1.1")
        XCTAssertEqual(request.uri, "/hello?x=1")
        XCTAssertEqual(request.values("host"), ["a.test"], ":authority becomes Host")
        XCTAssertEqual(request.values("x-custom"), ["1"])
        XCTAssertEqual(request.values("x-forwarded-host"), ["a.test"])
        XCTAssertEqual(request.values("transfer-encoding"), [], "a request without a body gets no framing")
        for name in ["connection", "keep-alive", "x-hop", "transfer-encoding"] {
            XCTAssertNil(get.header(name), "\(name) has no place in HTTP/2")
        }
        XCTAssertEqual(get.header("content-length"), String(get.body.readableBytes))

        // A body with no length goes chunked to an HTTP/1.1 upstream; one with a length keeps it.
        let body = ByteBuffer(repeating: 0x61, count: 100_000)
        let chunked = try echoed(try await client.request("POST", "/upload", authority: "a.test", body: body))
        XCTAssertEqual(chunked.bodyLength, 100_000)
        XCTAssertEqual(chunked.values("transfer-encoding"), ["chunked"])
        let sized = try echoed(try await client.request("POST", "/upload", authority: "a.test",
                                                         headers: [("content-length", "100000")], body: body))
        XCTAssertEqual(sized.bodyLength, 100_000)
        XCTAssertEqual(sized.values("content-length"), ["100000"])
        XCTAssertEqual(sized.values("transfer-encoding"), [])

        // The proxy's own answers end their stream cleanly.
        let missing = try await client.request("GET", "/", authority: "nope.test")
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(missing.header("content-type"), "application/problem+json")
        XCTAssertTrue(missing.complete)
        XCTAssertNil(missing.reset)
        let head = try await client.request("HEAD", "/status/204", authority: "a.test")
        XCTAssertEqual(head.status, 204)
        XCTAssertTrue(head.headEndedStream, "a response without a body is one HEADERS frame")
        await assertEventually({ routes.finished("a") == 4 && routes.inFlight("a") == 0 }, "every exchange closed")
    }

    func testManyConcurrentStreamsOnOneConnectionToTwoUpstreams() async throws {
        let plain = try await startUpstream("plain")
        let h2c = try await startH2CUpstream("h2c")
        let grpcLike = Upstream.h2c("h2c", h2c)
        let routes = TestRoutes(["plain.test": .upstream(.test("plain", plain)), "h2c.test": .upstream(grpcLike)])
        let proxy = try await startProxy(routes: routes)
        let client = try await connect(proxy)

        let results = try await withThrowingTaskGroup(of: (Int, HTTP2TestResponse).self) { group in
            for index in 0..<100 {
                group.addTask {
                    let authority = index.isMultiple(of: 2) ? "plain.test" : "h2c.test"
                    return (index, try await client.request("GET", "/n/\(index)", authority: authority))
                }
            }
            return try await group.reduce(into: [Int: HTTP2TestResponse]()) { $0[$1.0] = $1.1 }
        }
        XCTAssertEqual(results.count, 100)
        for (index, response) in results {
            let request = try echoed(response)
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(request.uri, "/n/\(index)")
            XCTAssertEqual(request.upstream, index.isMultiple(of: 2) ? "plain" : "h2c")
            XCTAssertEqual(request.version, index.isMultiple(of: 2) ? "1.1" : "2.0")
        }
        XCTAssertEqual(h2c.accepted, 1, "one shared HTTP/2 connection carries every stream to the h2c upstream")
        await assertEventually({ routes.inFlight("plain") == 0 && routes.inFlight("h2c") == 0 })
        XCTAssertEqual(routes.finished("plain") + routes.finished("h2c"), 100)
    }

    func testAnHTTP1ClientReachesAnH2CUpstreamWithTrailers() async throws {
        let h2c = try await startH2CUpstream("h2c")
        let upstream = Upstream.h2c("h2c", h2c)
        let routes = TestRoutes(["h2c.test": .upstream(upstream)])
        let proxy = try await startProxy(routes: routes)

        let echo = try await TestHTTPConnection.with(port: proxy.port) { connection in
            try await connection.send(.POST, "/echo", host: "h2c.test", headers: [("te", "trailers")], body: "hello")
        }
        XCTAssertEqual(echo.status, 200)
        let request = try echo.echoed()
        XCTAssertEqual(request.version, "2.0")
        XCTAssertEqual(request.bodyLength, 5)
        XCTAssertEqual(request.values("te"), ["trailers"], "TE: trailers is the one TE an h2c upstream gets")
        XCTAssertEqual(request.values("host"), ["h2c.test"])

        // The upstream's trailers reach an HTTP/1.1 client in the chunked body.
        let raw = try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send("GET /trailers HTTP/1.1\r\nHost: h2c.test\r\nTE: trailers\r\n\r\n")
            return String(buffer: try await connection.read { String(buffer: $0).contains("x-trailer: done\r\n\r\n") })
        }
        XCTAssertTrue(raw.hasPrefix("HTTP/1.1 200"), raw)
        XCTAssertTrue(raw.lowercased().contains("transfer-encoding: chunked"), raw)
        XCTAssertTrue(raw.contains("with trailers"), raw)
        XCTAssertTrue(raw.contains("0\r\nx-trailer: done\r\n\r\n"), raw)

        // A refused h2c upstream is a 502, as an HTTP/1.1 one is.
        var refused = Upstream.test("gone", port: try closedPort())
        refused.speaks = .h2c
        routes.set("gone.test", .upstream(refused))
        let gone = try await TestHTTPConnection.with(port: proxy.port) { try await $0.send(.GET, "/", host: "gone.test") }
        try assertProblem(gone, 502)
    }

    func testTrailersAndTrailersOnlyAnswersReachAnHTTP2Client() async throws {
        let plain = try await startUpstream("plain")
        let h2c = try await startH2CUpstream("h2c")
        let upstream = Upstream.h2c("h2c", h2c)
        let routes = TestRoutes(["plain.test": .upstream(.test("plain", plain)), "h2c.test": .upstream(upstream)])
        let proxy = try await startProxy(routes: routes)
        let client = try await connect(proxy)

        for authority in ["h2c.test", "plain.test"] {
            let response = try await client.request("GET", "/trailers", authority: authority, headers: [("te", "trailers")])
            XCTAssertEqual(response.status, 200, authority)
            XCTAssertEqual(response.text, "with trailers", authority)
            XCTAssertEqual(response.trailers?.first(name: "x-trailer"), "done", authority)
            XCTAssertTrue(response.complete, authority)
        }
        // gRPC's error answers: a head that ends the stream must stay one frame.
        let only = try await client.request("POST", "/trailers-only", authority: "h2c.test", body: ByteBuffer(string: "x"))
        XCTAssertEqual(only.status, 200)
        XCTAssertEqual(only.header("x-status"), "4")
        XCTAssertTrue(only.headEndedStream, "HEADERS with END_STREAM, no empty DATA frame after it")
        XCTAssertNil(only.trailers)
    }

    func testAClientResetReachesTheUpstreamAsAReset() async throws {
        let h2c = try await startH2CUpstream("h2c")
        let upstream = Upstream.h2c("h2c", h2c)
        let routes = TestRoutes(["h2c.test": .upstream(upstream)])
        let proxy = try await startProxy(routes: routes)
        let client = try await connect(proxy)

        let stream = try await client.open("GET", "/never", authority: "h2c.test", endStream: true)
        await assertEventually({ h2c.requests.count == 1 }, "the request reached the upstream")
        await stream.reset()
        await assertEventually({ h2c.streamsReset == 1 }, "the upstream's stream was reset")
        await assertEventually({ routes.inFlight("h2c") == 0 && routes.finished("h2c") == 1 })

        // The shared connection stays: the next stream goes over it.
        let next = try await client.request("GET", "/after", authority: "h2c.test")
        XCTAssertEqual(next.status, 200)
        XCTAssertEqual(h2c.accepted, 1)

        // An HTTP/1.1 client that hangs up resets its stream too.
        try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send("GET /never HTTP/1.1\r\nHost: h2c.test\r\n\r\n")
            await assertEventually({ h2c.requests.count == 3 })
        }
        await assertEventually({ h2c.streamsReset == 2 }, "closing the client connection reset the upstream's stream")
    }

    func testUpgradeFromHTTP11() async throws {
        let (upstream, _, proxy) = try await startSingle()
        let url = "http://127.0.0.1:\(proxy.port)/upgraded"
        // curl offers h2c on a GET and goes on as HTTP/2 after the 101.
        let get = try await curl(["-sS", "--http2", "-H", "Host: a.test", "-w", "\n%{http_version}", url])
        let lines = get.split(separator: "\n")
        XCTAssertEqual(lines.last.map(String.init), "2", "the response came over HTTP/2")
        let request = try JSONDecoder().decode(EchoedRequest.self, from: Data(lines.first!.utf8))
        XCTAssertEqual(request.uri, "/upgraded")
        XCTAssertEqual(request.values("host"), ["a.test"])
        XCTAssertEqual(request.values("upgrade"), [], "the offer is the proxy's, not the upstream's")
        XCTAssertEqual(request.values("http2-settings"), [])
        // An offer with a body is served as HTTP/1.1 (RFC 7540 §3.2 lets the server decline).
        let post = try await curl([
            "-sS", "--http1.1", "-H", "Host: a.test", "-H", "Connection: Upgrade, HTTP2-Settings", "-H", "Upgrade: h2c",
            "-H", "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA", "-d", "body", "-w", "\n%{http_version}", url,
        ])
        XCTAssertEqual(post.split(separator: "\n").last.map(String.init), "1.1")
        XCTAssertEqual(upstream.requests.count, 2)
        XCTAssertEqual(upstream.requests.last?.bodyLength, 4)
        XCTAssertEqual(upstream.requests.last?.values("upgrade"), [])
        // After a declined offer the connection goes on as HTTP/1.1.
        let responses = try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send("POST /declined HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                + "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Length: 4\r\n\r\nbody"
                + "GET /after HTTP/1.1\r\nHost: a.test\r\n\r\n")
            return try await connection.readResponses(2)
        }
        XCTAssertEqual(responses.count, 2)
        XCTAssertEqual(upstream.requests.map(\.uri).suffix(2), ["/declined", "/after"])
    }

    func testAGracefulShutdownDoesNotWaitForAClientThatNeverAnswers() async throws {
        let (_, _, proxy) = try await startSingle(idleTimeout: .seconds(1))
        // Bounded: without the deadline the connection would stay open for as long as the client.
        let waited = try await withTimeout(10) { try await RawConnection.with(port: proxy.port) { raw in
            // The preface and an empty SETTINGS frame, then nothing: no ack to the server's PING.
            try await raw.send(bytes: ConnectionPreface.http2 + [0, 0, 0, 0x4, 0, 0, 0, 0, 0])
            try await raw.read { $0.readableBytes >= 9 }
            await assertEventually({ proxy.server.openConnections == 1 })
            proxy.server.shutdownGracefully()
            let started = ContinuousClock.now
            _ = try await raw.readUntilClosed()
            return ContinuousClock.now - started
        } }
        XCTAssertLessThan(waited, .seconds(5), "closed at the deadline, not held open by the client")
        await assertEventually({ proxy.server.openConnections == 0 })
    }

    /// curl, off the concurrency pool (it blocks until curl exits).
    func curl(_ arguments: [String]) async throws -> String {
        try await Task.detached { try runCommand("curl", arguments, timeout: .seconds(30)) }.value
    }
}

extension Upstream {
    /// A route to a test upstream that speaks h2c.
    static func h2c(_ id: String, _ upstream: TestUpstream) -> Upstream {
        var route = Upstream.test(id, upstream)
        route.speaks = .h2c
        return route
    }
}
