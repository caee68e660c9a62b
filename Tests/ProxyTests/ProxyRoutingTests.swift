import Foundation
import NIOCore
import NIOHTTP1
import XCTest

@testable import Proxy

final class ProxyRoutingTests: ProxyTestCase {
    func testRoutesByHostCaseInsensitivelyIgnoringThePort() async throws {
        let one = try await startUpstream("one")
        let two = try await startUpstream("two")
        let routes = TestRoutes(["one.test": .upstream(.test("c1", one)), "two.test": .upstream(.test("c2", two))])
        let proxy = try await startProxy(routes: routes)
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            let first = try await connection.send(.GET, "/a?x=1", host: "ONE.Test:8080")
            XCTAssertEqual(first.status, 200)
            XCTAssertEqual(try first.echoed().upstream, "one")
            XCTAssertEqual(try first.echoed().uri, "/a?x=1")
            let second = try await connection.send(.POST, "/b", host: "two.test", body: "hello")
            XCTAssertEqual(try second.echoed().upstream, "two")
            XCTAssertEqual(try second.echoed().bodyLength, 5)
            let unknown = try await connection.send(.GET, "/", host: "three.test")
            try assertProblem(unknown, 404)
            let again = try await connection.send(.GET, "/c", host: "one.test")
            XCTAssertEqual(try again.echoed().upstream, "one", "the connection survives a 404")
        }
        XCTAssertEqual(routes.started("c1"), 2)
        XCTAssertEqual(routes.finished("c1"), 2)
        XCTAssertEqual(routes.started("c2"), 1)
        XCTAssertEqual(routes.finished("c2"), 1)
    }

    func testUnavailableIs503AndFailedIs502() async throws {
        let routes = TestRoutes(["waking.test": .unavailable("still starting at 10.0.0.3"), "broken.test": .failed("exit code 1")])
        let proxy = try await startProxy(routes: routes)
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            let waking = try await connection.send(.GET, "/", host: "waking.test")
            try assertProblem(waking, 503)
            XCTAssertEqual(waking.headers["retry-after"], ["1"])
            XCTAssertFalse(waking.text.contains("10.0.0.3"))
            let broken = try await connection.send(.GET, "/", host: "broken.test")
            try assertProblem(broken, 502)
            XCTAssertFalse(broken.text.contains("exit code"))
        }
    }

    func testRefusedUpstreamIs502() async throws {
        let routes = TestRoutes(["gone.test": .upstream(.test("gone", port: try closedPort()))])
        let proxy = try await startProxy(routes: routes)
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            try assertProblem(try await connection.send(.GET, "/", host: "gone.test"), 502)
            try assertProblem(try await connection.send(.POST, "/", host: "gone.test", body: "data"), 502)
        }
        XCTAssertEqual(routes.started("gone"), 2)
        XCTAssertEqual(routes.finished("gone"), 2)
    }

    func testSilentUpstreamIs504AfterTheResponseTimeout() async throws {
        let (upstream, routes, proxy) = try await startSingle(responseTimeout: .milliseconds(500))
        let started = ContinuousClock.now
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            let response = try await connection.send(.GET, "/never", host: "a.test")
            try assertProblem(response, 504)
            XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(450))
            let next = try await connection.send(.GET, "/ok", host: "a.test")
            XCTAssertEqual(next.status, 200, "the client connection stays usable")
        }
        XCTAssertEqual(upstream.accepted, 2, "the timed-out upstream connection is not reused")
        XCTAssertEqual(routes.finished("a"), 2)
    }

    func testConnectTimeoutIs504() async throws {
        // A listener whose accept queue is full drops further SYNs: the connect hangs.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        listen(fd, 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        var fillers: [Int32] = []
        defer { fillers.forEach { close($0) } }
        for _ in 0..<4 {
            let filler = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(filler, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            fillers.append(filler)
        }
        let routes = TestRoutes(["slow.test": .upstream(.test("slow", port: port))])
        let proxy = try await startProxy(routes: routes, connectTimeout: .milliseconds(300))
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            let response = try await connection.send(.GET, "/", host: "slow.test")
            try assertProblem(response, 504)
        }
    }

    func testResetBeforeTheHeadIs502() async throws {
        let (_, routes, proxy) = try await startSingle()
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            try assertProblem(try await connection.send(.POST, "/reset-before-head", host: "a.test", body: "x"), 502)
        }
        XCTAssertEqual(routes.finished("a"), 1)
    }

    /// A container that frames its response two ways (a desync attempt) gets its client a 502, and
    /// its connection is not pooled: the next request opens another.
    func testAResponseFramedTwoWaysIs502AndItsConnectionIsDropped() async throws {
        let upstream = try await ScriptedUpstream.start(answering: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nsmuggle")
        addTeardownBlock { await upstream.stop() }
        let routes = TestRoutes(["a.test": .upstream(.test("a", port: upstream.port))])
        let proxy = try await startProxy(routes: routes)
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            try assertProblem(try await connection.send(.GET, "/1", host: "a.test"), 502)
        }
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            try assertProblem(try await connection.send(.GET, "/2", host: "a.test"), 502)
        }
        XCTAssertEqual(upstream.accepted, 2)
        XCTAssertEqual(routes.finished("a"), 2)
    }

    /// An upgrade the container refuses, with bytes sent after the request: the answer, the close,
    /// and those bytes dropped (never read as HTTP); the proxy serves on.
    func testARefusedUpgradeWithBytesAfterItClosesAndTheProxyServesOn() async throws {
        let upstream = try await ScriptedUpstream.start(answering: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno")
        addTeardownBlock { await upstream.stop() }
        let routes = TestRoutes(["a.test": .upstream(.test("a", port: upstream.port))])
        let proxy = try await startProxy(routes: routes)
        let text = try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send("GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                + "GET /not-http HTTP/1.1\r\n\r\n")
            return try await connection.readUntilClosed()
        }
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 200"), text)
        XCTAssertTrue(text.hasSuffix("no"), text)
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            let again = try await connection.send(.GET, "/again", host: "a.test")
            XCTAssertEqual(again.status, 200)
        }
    }

    func testResetMidResponseClosesTheClientConnection() async throws {
        let (_, routes, proxy) = try await startSingle()
        let outcome: String = try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send("GET /reset-mid-body HTTP/1.1\r\nHost: a.test\r\n\r\n")
            return try await connection.readUntilClosed()
        }
        XCTAssertTrue(outcome.hasPrefix("HTTP/1.1 200"))
        XCTAssertTrue(outcome.contains("content-length: 100000"))
        XCTAssertLessThan(outcome.utf8.count, 100000, "cut short, then closed")
        await assertEventually({ routes.finished("a") == 1 })
    }

    func testMissingHostIs400() async throws {
        let (_, _, proxy) = try await startSingle()
        let text = try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send("GET / HTTP/1.1\r\n\r\n")
            return try await connection.readResponses(1)
        }
        XCTAssertTrue(text.first?.hasPrefix("HTTP/1.1 400") == true, "\(text)")
        XCTAssertTrue(text.first?.contains("application/problem+json") == true)
    }

    func testMalformedRequestIs400AndClosed() async throws {
        let (_, _, proxy) = try await startSingle()
        let text = try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send("GET / HTTP/1.1\r\nHost a.test\r\n\r\n")
            return try await connection.readUntilClosed()
        }
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 400"), text)
    }

    /// Requests a smuggler frames two ways (or that a front proxy could read otherwise) get 400
    /// (501 for a transfer coding other than chunked), the connection closes, and nothing of them,
    /// nor of what was hidden in them, goes upstream.
    func testAmbiguouslyFramedRequestsAre400AndNeverForwarded() async throws {
        let (upstream, _, proxy) = try await startSingle()
        let hidden = "GET /hidden HTTP/1.1\r\nHost: a.test\r\n\r\n"
        let smuggles: [(String, Int)] = [
            ("POST /cl-te HTTP/1.1\r\nHost: a.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden, 400),
            ("POST /te-gzip HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n" + hidden, 501),
            ("POST /te-space HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n" + hidden, 400),
            ("POST /cl-cl HTTP/1.1\r\nHost: a.test\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n" + hidden, 400),
            ("POST /fold HTTP/1.1\r\nHost: a.test\r\nX: y\r\n Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + hidden, 400),
            ("POST /bare-lf HTTP/1.1\r\nHost: a.test\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden, 400),
        ]
        for (smuggle, status) in smuggles {
            let text = try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send(smuggle)
                return try await connection.readUntilClosed()
            }
            XCTAssertTrue(text.hasPrefix("HTTP/1.1 \(status)"), text)
            XCTAssertEqual(text.components(separatedBy: "HTTP/1.1 ").count, 2, "one answer, then the close: \(text)")
        }
        XCTAssertEqual(upstream.requests.count, 0, "\(upstream.requests.map(\.uri))")
    }

    func testRouteTableMayHoldTheRequestWhileAContainerWakes() async throws {
        let upstream = try await startUpstream("a")
        let routes = TestRoutes(["a.test": .upstream(.test("a", upstream))], routeDelay: .milliseconds(300))
        let proxy = try await startProxy(routes: routes)
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            let response = try await connection.send(.POST, "/held", host: "a.test", body: String(repeating: "z", count: 100_000))
            XCTAssertEqual(try response.echoed().bodyLength, 100_000)
        }
    }

    func testHTTP10Clients() async throws {
        let (_, _, proxy) = try await startSingle()
        // No keep-alive: the response is close-delimited when the upstream chunks.
        let closeDelimited = try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send("GET /chunked HTTP/1.0\r\nHost: a.test\r\n\r\n")
            return try await connection.readUntilClosed()
        }
        XCTAssertTrue(closeDelimited.hasPrefix("HTTP/1.1 200"))
        XCTAssertFalse(closeDelimited.lowercased().contains("transfer-encoding"))
        XCTAssertTrue(closeDelimited.hasSuffix("\r\n\r\none,two,three"), closeDelimited)
        // Keep-alive with a length: two requests on one connection.
        let responses = try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send("GET /1 HTTP/1.0\r\nHost: a.test\r\nConnection: keep-alive\r\n\r\n")
            _ = try await connection.readResponses(1)
            try await connection.send("GET /2 HTTP/1.0\r\nHost: a.test\r\nConnection: keep-alive\r\n\r\n")
            return try await connection.readResponses(2)
        }
        XCTAssertEqual(responses.count, 2)
        XCTAssertTrue(responses[0].contains("connection: keep-alive"))
    }

    func testHeadAndNoContentResponses() async throws {
        let (_, _, proxy) = try await startSingle()
        try await TestHTTPConnection.with(port: proxy.port) { connection in
            let head = try await connection.send(.HEAD, "/status/200", host: "a.test")
            XCTAssertEqual(head.status, 200)
            XCTAssertEqual(head.headers["content-length"], ["6"])
            XCTAssertEqual(head.body.readableBytes, 0)
            let noContent = try await connection.send(.GET, "/status/204", host: "a.test")
            XCTAssertEqual(noContent.status, 204)
            let headNotFound = try await connection.send(.HEAD, "/", host: "nowhere.test")
            XCTAssertEqual(headNotFound.status, 404)
            XCTAssertEqual(headNotFound.body.readableBytes, 0)
            let after = try await connection.send(.GET, "/chunked", host: "a.test")
            XCTAssertEqual(after.text, "one,two,three")
            XCTAssertEqual(after.headers["transfer-encoding"], ["chunked"])
        }
    }
}
