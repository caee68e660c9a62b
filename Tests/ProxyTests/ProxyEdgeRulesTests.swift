import NIOCore
import NIOPosix
import NIOHTTP1
import XCTest

@testable import Proxy

/// The edge rules that need no socket: request targets, forwarding trust, CIDRs, connection caps.
final class ProxyEdgeRulesTests: XCTestCase {
    let upstream = Upstream(containerID: "c1", revision: 3, host: "10.0.0.7", port: 8080)

    func head(_ method: HTTPMethod = .GET, _ uri: String, version: HTTPVersion = .http1_1, _ headers: [(String, String)] = [("Host", "other.test")]) -> HTTPRequestHead {
        HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(headers))
    }

    // MARK: Request targets

    func testTargetForms() {
        typealias F = RequestInfo.TargetForm
        XCTAssertEqual(RequestInfo.targetForm("/p?q", method: .GET), .origin)
        XCTAssertEqual(RequestInfo.targetForm("*", method: .OPTIONS), .origin)
        XCTAssertEqual(RequestInfo.targetForm("*", method: .GET), .invalid)
        XCTAssertEqual(RequestInfo.targetForm("http://App.test:8081/p?q=1", method: .GET), .absolute(authority: "App.test:8081", path: "/p?q=1"))
        XCTAssertEqual(RequestInfo.targetForm("HTTP://a.test", method: .GET), .absolute(authority: "a.test", path: "/"))
        XCTAssertEqual(RequestInfo.targetForm("http://a.test?x", method: .GET), .absolute(authority: "a.test", path: "/?x"))
        XCTAssertEqual(RequestInfo.targetForm("http://[::1]:80/", method: .GET), .absolute(authority: "[::1]:80", path: "/"))
        for refused in ["https://a.test/", "ftp://a.test/", "a.test:443", "p", "", "http://", "http:///p", "http://user@a.test/",
                        "http://a.test:99999/", "http://a.test:/", "http://a.test:8x/", "http://a%2e.test/", "http://[::1/", "http://[]/",
                        "http://a test/"] {
            XCTAssertEqual(RequestInfo.targetForm(refused, method: .GET), .invalid, refused)
        }
    }

    func testAbsoluteFormIsRoutedByItsAuthorityAndSentInOriginForm() {
        var state = ProxyConnectionState(client: ClientAddress(ip: "192.0.2.9"))
        XCTAssertEqual(state.requestHead(head(.GET, "http://App.Test:8081/p?q=1")), .route(host: "app.test"), "the authority overrides Host")
        _ = state.requestEnd(nil)
        _ = state.routed(.upstream(upstream))
        guard case .sendRequest(let sent, _, _) = state.upstreamConnected(reused: false) else { return XCTFail() }
        XCTAssertEqual(sent.uri, "/p?q=1")
        XCTAssertEqual(sent.headers["host"], ["App.Test:8081"], "Host is replaced by the authority")
        XCTAssertEqual(sent.headers["x-forwarded-host"], ["App.Test:8081"])
    }

    func testBadTargetsAndHostsAre400() {
        let cases: [(String, HTTPRequestHead)] = [
            ("https", head(.GET, "https://a.test/")),
            ("userinfo", head(.GET, "http://u:p@a.test/")),
            ("relative", head(.GET, "a.test/p")),
            ("asterisk for GET", head(.GET, "*")),
            ("absolute without Host in 1.1", head(.GET, "http://a.test/", [])),
            ("absolute with two Hosts", head(.GET, "http://a.test/", [("Host", "a"), ("Host", "b")])),
        ]
        for (name, request) in cases {
            var state = ProxyConnectionState(client: ClientAddress(ip: "192.0.2.9"))
            guard case .respond(.badRequest, _, _, _) = state.requestHead(request) else { return XCTFail(name) }
        }
        var http10 = ProxyConnectionState(client: ClientAddress(ip: "192.0.2.9"))
        XCTAssertEqual(http10.requestHead(head(.GET, "http://a.test/", version: .http1_0, [])), .route(host: "a.test"), "HTTP/1.0 needs no Host")
    }

    func testConnectIsRefusedEvenWithoutHost() {
        var state = ProxyConnectionState(client: ClientAddress(ip: "192.0.2.9"))
        XCTAssertEqual(state.requestHead(head(.CONNECT, "a.test:443", [])), .respond(.methodNotAllowed, keepAlive: false, finishExchange: false, then: .discard))
    }

    // MARK: Forwarding headers

    func sentHeaders(trusted: Bool) -> HTTPHeaders {
        let info = RequestInfo(head(.GET, "/", [
            ("Host", "a.test"), ("X-Forwarded-For", "6.6.6.6"), ("x-forwarded-for", "7.7.7.7"), ("Forwarded", "for=6.6.6.6"),
            ("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "spoofed.test"), ("X-Real-IP", "6.6.6.6"),
        ]))
        let client = ClientAddress(ip: "192.0.2.9", isTrusted: trusted)
        var forwarding = ForwardingFields()
        return HeaderRewriter.upstreamRequestHead(for: info, client: client, forwarding: &forwarding).headers
    }

    func testAnUntrustedPeersForwardingHeadersAreReplaced() {
        let headers = sentHeaders(trusted: false)
        XCTAssertEqual(headers["x-forwarded-for"], ["192.0.2.9"])
        XCTAssertEqual(headers["forwarded"], ["for=192.0.2.9;host=a.test;proto=http"])
        XCTAssertEqual(headers["x-forwarded-proto"], ["http"])
        XCTAssertEqual(headers["x-forwarded-host"], ["a.test"])
        XCTAssertEqual(headers["x-real-ip"], [])
    }

    func testATrustedProxysForwardingHeadersAreKeptAndThePeerAppended() {
        let headers = sentHeaders(trusted: true)
        XCTAssertEqual(headers["x-forwarded-for"], ["6.6.6.6, 7.7.7.7, 192.0.2.9"])
        XCTAssertEqual(headers["forwarded"], ["for=6.6.6.6", "for=192.0.2.9;host=a.test;proto=http"])
        XCTAssertEqual(headers["x-forwarded-proto"], ["https"], "a TLS-terminating balancer's word stands")
        XCTAssertEqual(headers["x-forwarded-host"], ["spoofed.test"])
        XCTAssertEqual(headers["x-real-ip"], ["6.6.6.6"])
    }

    // MARK: Addresses

    func testNetworksParseAndMatch() throws {
        let v4 = try IPNetwork(parsing: "10.1.0.0/16")
        XCTAssertTrue(v4.contains(IPAddress(parsing: "10.1.200.3")!))
        XCTAssertFalse(v4.contains(IPAddress(parsing: "10.2.0.1")!))
        XCTAssertTrue(v4.contains(IPAddress(parsing: "::ffff:10.1.0.9")!), "an IPv4-mapped peer of a dual-stack listener")
        let single = try IPNetwork(parsing: "127.0.0.1")
        XCTAssertTrue(single.contains(IPAddress(parsing: "127.0.0.1")!))
        XCTAssertFalse(single.contains(IPAddress(parsing: "127.0.0.2")!))
        let v6 = try IPNetwork(parsing: "2001:db8::/32")
        XCTAssertTrue(v6.contains(IPAddress(parsing: "2001:db8:ffff::1")!))
        XCTAssertFalse(v6.contains(IPAddress(parsing: "2001:db9::1")!))
        XCTAssertTrue(try IPNetwork(parsing: "0.0.0.0/0").contains(IPAddress(parsing: "203.0.113.1")!))
        XCTAssertFalse(try IPNetwork(parsing: "0.0.0.0/0").contains(IPAddress(parsing: "2001:db8::1")!))
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "10.0.0.0/", "example.com", "2001:db8::1/32", "10.0.0.0/-1", ""] {
            XCTAssertThrowsError(try IPNetwork(parsing: bad), bad)
        }
        let socket = try SocketAddress(ipAddress: "192.0.2.7", port: 1)
        XCTAssertEqual(IPAddress(socket), IPAddress(parsing: "192.0.2.7"))
        XCTAssertEqual(IPAddress(try SocketAddress(ipAddress: "2001:db8::5", port: 1)), IPAddress(parsing: "2001:db8::5"))
        let configuration = ProxyConfiguration(trustedProxies: [single])
        XCTAssertTrue(configuration.isTrusted(IPAddress(parsing: "127.0.0.1")))
        XCTAssertFalse(configuration.isTrusted(IPAddress(parsing: "127.0.0.2")))
        XCTAssertFalse(ProxyConfiguration().isTrusted(IPAddress(parsing: "127.0.0.1")), "nobody is trusted by default")
    }

    func testIPv6ClientsAreCountedByTheir64() {
        XCTAssertEqual(IPAddress(parsing: "2001:db8:1:2::1")!.clientKey, IPAddress(parsing: "2001:db8:1:2:ffff::9")!.clientKey)
        XCTAssertNotEqual(IPAddress(parsing: "2001:db8:1:2::1")!.clientKey, IPAddress(parsing: "2001:db8:1:3::1")!.clientKey)
        XCTAssertNotEqual(IPAddress(parsing: "10.0.0.1")!.clientKey, IPAddress(parsing: "10.0.0.2")!.clientKey)
    }

    // MARK: Connection caps

    func testAdmissionCountsAndReleasesOnClose() throws {
        let registry = ConnectionRegistry(maxConnections: 3, maxPerClient: 2)
        let a = IPAddress(parsing: "192.0.2.1")!
        let b = IPAddress(parsing: "192.0.2.2")!
        // Any channel will do: the registry only keys by it and watches its close.
        let channels = try (0..<4).map { _ in
            try DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        }
        XCTAssertEqual(registry.admit(channels[0], client: a), .admitted(quiescing: false))
        XCTAssertEqual(registry.admit(channels[1], client: a), .admitted(quiescing: false))
        XCTAssertEqual(registry.admit(channels[2], client: a), .refusedPerClient)
        XCTAssertEqual(registry.count(for: a), 2, "a refused connection is not counted")
        XCTAssertEqual(registry.admit(channels[2], client: b), .admitted(quiescing: false))
        XCTAssertEqual(registry.admit(channels[3], client: b), .refusedGlobal)
        // The registry releases from its closeFuture callback, which runs before later callbacks
        // on the same future: waiting for the close promise alone would race it.
        try channels[0].close().wait()
        try channels[0].closeFuture.wait()
        XCTAssertEqual(registry.count, 2)
        XCTAssertEqual(registry.count(for: a), 1)
        XCTAssertEqual(registry.admit(channels[3], client: b), .admitted(quiescing: false))
        for channel in channels[1...] {
            try channel.close().wait()
            try channel.closeFuture.wait()
        }
        XCTAssertEqual(registry.count, 0)
        XCTAssertEqual(registry.count(for: a), 0)
        XCTAssertEqual(registry.count(for: b), 0)
    }
}
