import NIOCore
import NIOHTTP1
import XCTest

@testable import Proxy

final class HeaderRewriterTests: XCTestCase {
    func request(_ headers: [(String, String)], method: HTTPMethod = .GET, version: HTTPVersion = .http1_1) -> RequestInfo {
        RequestInfo(HTTPRequestHead(version: version, method: method, uri: "/p?q=1", headers: HTTPHeaders(headers)))
    }

    /// List tokens as `split(separator: ",")` and trimming made them: empty elements dropped,
    /// blank ones kept as empty tokens.
    func testHeaderTokensSplitOnCommasAndTrimBlanks() {
        XCTAssertEqual(headerTokens("keep-alive"), ["keep-alive"])
        XCTAssertEqual(headerTokens(" Upgrade ,\tclose\t"), ["Upgrade", "close"])
        XCTAssertEqual(headerTokens("a,,b,"), ["a", "b"])
        XCTAssertEqual(headerTokens("a, ,b"), ["a", "", "b"])
        XCTAssertEqual(headerTokens(""), [])
        XCTAssertEqual(headerTokens(",,"), [])
        XCTAssertEqual(headerTokens("  "), [""])
    }

    func testRoutingKeysTrimPortsAndCase() {
        XCTAssertEqual(RequestInfo.routingKey(" \tApp.test:80\t"), "app.test")
        XCTAssertEqual(RequestInfo.routingKey("[2001:DB8::1]:8080"), "[2001:db8::1]")
        XCTAssertNil(RequestInfo.routingKey(":80"))
        XCTAssertNil(RequestInfo.routingKey("   "))
        XCTAssertNil(RequestInfo.routingKey("[::1"))
    }

    func testRoutingKey() {
        XCTAssertEqual(RequestInfo.routingKey("App.Example.COM:8080"), "app.example.com")
        XCTAssertEqual(RequestInfo.routingKey("app.example.com"), "app.example.com")
        XCTAssertEqual(RequestInfo.routingKey("[::1]:80"), "[::1]")
        XCTAssertEqual(RequestInfo.routingKey(" a.b "), "a.b")
        XCTAssertNil(RequestInfo.routingKey(":80"))
        XCTAssertNil(RequestInfo.routingKey(""))
    }

    func testRequestAnalysis() {
        let info = request([("HOST", "A.test"), ("Connection", "keep-alive, Upgrade"), ("Upgrade", "websocket"), ("Transfer-Encoding", "gzip, chunked")])
        XCTAssertEqual(info.routeHost, "a.test")
        XCTAssertTrue(info.isUpgrade)
        XCTAssertTrue(info.isChunked)
        XCTAssertTrue(info.keepAlive)
        XCTAssertFalse(request([("Host", "a")], version: .http1_0).keepAlive)
        XCTAssertTrue(request([("Host", "a"), ("Connection", "Keep-Alive")], version: .http1_0).keepAlive)
        XCTAssertFalse(request([("Host", "a"), ("Connection", "close")]).keepAlive)
        XCTAssertFalse(request([("Host", "a"), ("Upgrade", "websocket")]).isUpgrade, "Upgrade must be nominated by Connection")
    }

    func testHopByHopRemovedAndForwardingAddedUpstream() {
        let info = request([
            ("Host", "App.test:8080"), ("Connection", "keep-alive, X-Secret"), ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"), ("TE", "trailers"), ("Trailer", "X-T"), ("Upgrade", "h2c"),
            ("Proxy-Authorization", "Basic eA=="), ("Proxy-Authenticate", "Basic"), ("X-Secret", "1"),
            ("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "spoofed"),
            ("Forwarded", "for=198.51.100.1"), ("Accept", "*/*"), ("Content-Length", "3"),
        ], method: .POST)
        let client = ClientAddress(ip: "192.0.2.9")
        var forwarding = ForwardingFields()
        let sent = HeaderRewriter.upstreamRequestHead(for: info, client: client, forwarding: &forwarding)
        XCTAssertEqual(sent.version, .http1_1)
        XCTAssertEqual(sent.uri, "/p?q=1")
        for name in ["connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate", "x-secret", "transfer-encoding"] {
            XCTAssertFalse(sent.headers.contains(name: name), name)
        }
        XCTAssertEqual(sent.headers["host"], ["App.test:8080"])
        XCTAssertEqual(sent.headers["accept"], ["*/*"])
        XCTAssertEqual(sent.headers["content-length"], ["3"])
        // An untrusted peer's own forwarding fields are replaced by what the proxy saw.
        XCTAssertEqual(sent.headers["x-forwarded-for"], ["192.0.2.9"])
        XCTAssertEqual(sent.headers["x-forwarded-proto"], ["http"])
        XCTAssertEqual(sent.headers["x-forwarded-host"], ["App.test:8080"])
        XCTAssertEqual(sent.headers["forwarded"], ["for=192.0.2.9;host=\"App.test:8080\";proto=http"])
    }

    func testChunkedRequestIsReframedAndIPv6Quoted() {
        let info = request([("Host", "a.test"), ("Transfer-Encoding", "chunked")], method: .PUT)
        let client = ClientAddress(ip: "2001:db8::1")
        var forwarding = ForwardingFields()
        let sent = HeaderRewriter.upstreamRequestHead(for: info, client: client, forwarding: &forwarding)
        XCTAssertEqual(sent.headers["transfer-encoding"], ["chunked"])
        XCTAssertEqual(sent.headers["forwarded"], ["for=\"[2001:db8::1]\";host=a.test;proto=http"])
        XCTAssertEqual(sent.headers["x-forwarded-for"], ["2001:db8::1"])
    }

    func testResponseFraming() {
        let get11 = request([("Host", "a")])
        let upstreamChunked = HTTPResponseHead(
            version: .http1_1,
            status: .ok,
            headers: ["Transfer-Encoding": "chunked", "Connection": "X-Hop", "X-Hop": "1", "Keep-Alive": "timeout=5", "Content-Length": "9"]
        )
        let (out, keepAlive) = HeaderRewriter.clientResponseHead(upstreamChunked, for: get11, keepAlive: true)
        XCTAssertTrue(keepAlive)
        XCTAssertEqual(out.headers["transfer-encoding"], ["chunked"])
        XCTAssertFalse(out.headers.contains(name: "content-length"), "Content-Length is void with Transfer-Encoding")
        XCTAssertFalse(out.headers.contains(name: "x-hop"))
        XCTAssertFalse(out.headers.contains(name: "keep-alive"))
        XCTAssertFalse(out.headers.contains(name: "connection"))

        let head = request([("Host", "a")], method: .HEAD)
        let headResponse = HeaderRewriter.clientResponseHead(
            HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "1234"]),
            for: head,
            keepAlive: true
        )
        XCTAssertEqual(headResponse.head.headers["content-length"], ["1234"])
        XCTAssertTrue(headResponse.keepAlive)

        let noContent = HeaderRewriter.clientResponseHead(HTTPResponseHead(version: .http1_1, status: .noContent), for: get11, keepAlive: true)
        XCTAssertFalse(noContent.head.headers.contains(name: "transfer-encoding"))

        let closing = HeaderRewriter.clientResponseHead(
            HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "0"]),
            for: get11,
            keepAlive: false
        )
        XCTAssertEqual(closing.head.headers["connection"], ["close"])

        let keepAlive10 = request([("Host", "a"), ("Connection", "keep-alive")], version: .http1_0)
        let response10 = HeaderRewriter.clientResponseHead(
            HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "0"]),
            for: keepAlive10,
            keepAlive: true
        )
        XCTAssertEqual(response10.head.headers["connection"], ["keep-alive"])
    }

    /// An HTTP/2 upstream's repeated `content-length` (HTTP/1 ones are refused by the parser)
    /// goes to an HTTP/1 client once, and the body keeps its length framing.
    func testARepeatedContentLengthIsSentOnce() {
        let get11 = request([("Host", "a")])
        let repeated = HTTPResponseHead(version: .http2, status: .ok, headers: HTTPHeaders([("content-length", "3"), ("content-length", "3")]))
        let out = HeaderRewriter.clientResponseHead(repeated, for: get11, keepAlive: true)
        XCTAssertEqual(out.head.headers["content-length"], ["3"])
        XCTAssertFalse(out.head.headers.contains(name: "transfer-encoding"))
        XCTAssertTrue(out.keepAlive)
    }

    func testSwitchingProtocolsKeepsUpgrade() {
        let upgrade = request([("Host", "a"), ("Connection", "upgrade"), ("Upgrade", "websocket")])
        let (out, keepAlive) = HeaderRewriter.clientResponseHead(
            HTTPResponseHead(version: .http1_1, status: .switchingProtocols, headers: ["Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": "x"]),
            for: upgrade,
            keepAlive: false
        )
        XCTAssertFalse(keepAlive)
        XCTAssertEqual(out.headers["upgrade"], ["websocket"])
        XCTAssertEqual(out.headers["connection"], ["upgrade"])
        XCTAssertEqual(out.headers["sec-websocket-accept"], ["x"])
    }

    func testHeaderNameClassification() {
        XCTAssertEqual(HeaderName("Transfer-Encoding"), .transferEncoding)
        XCTAssertEqual(HeaderName("X-FORWARDED-FOR"), .xForwardedFor)
        XCTAssertEqual(HeaderName("proxy-authorization"), .proxyAuthorization)
        XCTAssertEqual(HeaderName("X-Forwarded-Fox"), .other)
        XCTAssertEqual(HeaderName("content-type"), .other)
        XCTAssertTrue(HeaderName("Keep-Alive").isHopByHop)
        XCTAssertFalse(HeaderName("Forwarded").isHopByHop)
    }

    func testProblemBodies() throws {
        for problem in [Problem.badRequest, .notFound, .methodNotAllowed, .requestTimeout, .expectationFailed, .badGateway, .serviceUnavailable, .gatewayTimeout, .notImplemented] {
            let object = try JSONSerialization.jsonObject(with: Data(problem.body.utf8)) as? [String: Any]
            XCTAssertEqual(object?["status"] as? Int, Int(problem.status.code))
            XCTAssertEqual(object?["title"] as? String, problem.title)
            XCTAssertNotNil(object?["type"])
            XCTAssertNotNil(object?["detail"])
            let head = problem.responseHead(keepAlive: true)
            XCTAssertEqual(head.headers["content-type"], ["application/problem+json"])
            XCTAssertEqual(head.headers["content-length"], [String(problem.body.utf8.count)])
        }
    }
}
