import NIOCore
import NIOEmbedded
import NIOHPACK
import NIOHTTP1
import NIOHTTP2
import XCTest

@testable import Proxy

/// The HTTP/2 rules at their own layer: the preface sniff, which `Upgrade: h2c` the proxy takes,
/// stream 1's frame after it, the HEADERS/END_STREAM merge, and the state machine's and header
/// rewriter's part.
final class HTTP2RulesTests: XCTestCase {
    static let upgradeHeaders: [(String, String)] = [
        ("Host", "a.test"), ("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
        ("HTTP2-Settings", "AAMAAABkAAQCAAAAAAIAAAAA"), ("Accept", "*/*"), ("X-Custom", "1"),
    ]

    func head(_ method: HTTPMethod = .GET, _ uri: String = "/p?q=1", version: HTTPVersion = .http1_1,
              _ headers: [(String, String)] = HTTP2RulesTests.upgradeHeaders) -> HTTPRequestHead {
        HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(headers))
    }

    func testThePrefaceIsToldFromHTTP1ByItsFirstDifferentByte() {
        let preface = ConnectionPreface.http2
        XCTAssertEqual(ConnectionPreface.classify(Array("GET / HTTP/1.1\r\n".utf8)), .http1)
        XCTAssertEqual(ConnectionPreface.classify(Array("G".utf8)), .http1)
        XCTAssertEqual(ConnectionPreface.classify(Array("P".utf8)), .needMore)
        XCTAssertEqual(ConnectionPreface.classify(Array("POST / HTTP/1.1".utf8)), .http1)
        XCTAssertEqual(ConnectionPreface.classify(Array("PRI * HTTP/2.0\r\n".utf8)), .needMore)
        XCTAssertEqual(ConnectionPreface.classify(preface), .http2)
        XCTAssertEqual(ConnectionPreface.classify(preface + [0, 0, 0, 4]), .http2)
        XCTAssertEqual(ConnectionPreface.classify([UInt8]()), .needMore)
    }

    func testOnlyABodilessHTTP11OfferWithSettingsIsTaken() {
        func taken(_ head: HTTPRequestHead) -> Bool { RequestInfo(head).upgradesToHTTP2 }
        XCTAssertTrue(taken(head()))
        XCTAssertTrue(taken(head(.GET, "/", Self.upgradeHeaders + [("Content-Length", "0")])))
        let info = RequestInfo(head())
        XCTAssertFalse(info.isUpgrade, "an h2c offer is never tunnelled to the upstream")
        XCTAssertFalse(info.keepAlive == false && info.upgradesToHTTP2 == false)

        XCTAssertFalse(taken(head(.POST, "/", Self.upgradeHeaders + [("Content-Length", "4")])), "a body")
        XCTAssertFalse(taken(head(.POST, "/", Self.upgradeHeaders + [("Transfer-Encoding", "chunked")])), "a body")
        XCTAssertFalse(taken(head(version: .http1_0)))
        XCTAssertFalse(taken(head(.GET, "http://a.test/p")), "absolute-form")
        XCTAssertFalse(taken(head(.GET, "/", Self.upgradeHeaders.filter { $0.0 != "HTTP2-Settings" })))
        XCTAssertFalse(taken(head(.GET, "/", Self.upgradeHeaders + [("HTTP2-Settings", "AAMAAABk")])), "two settings")
        XCTAssertFalse(taken(head(.GET, "/", Self.upgradeHeaders.map { $0.0 == "Connection" ? ("Connection", "Upgrade") : $0 })))
        XCTAssertFalse(taken(head(.GET, "/", Self.upgradeHeaders + [("X-Big", String(repeating: "x", count: 20_000))])),
                       "a head larger than one frame")
        // Declined offers are served as HTTP/1.1, the offer dropped on the way.
        let declined = RequestInfo(head(.POST, "/", Self.upgradeHeaders + [("Content-Length", "4")]))
        XCTAssertFalse(declined.isUpgrade)
        var forwarding = ForwardingFields()
        let sent = HeaderRewriter.upstreamRequestHead(for: declined, client: ClientAddress(ip: "192.0.2.9"), forwarding: &forwarding)
        XCTAssertFalse(sent.headers.contains(name: "upgrade"))
        XCTAssertFalse(sent.headers.contains(name: "http2-settings"))
        // WebSocket is still an upgrade for the upstream.
        XCTAssertTrue(RequestInfo(head(.GET, "/", [("Host", "a"), ("Connection", "upgrade"), ("Upgrade", "websocket")])).isUpgrade)
    }

    func testStreamOnesFrameIsTheRequestHeadAsHTTP2Headers() throws {
        let frame = try UpgradedRequestInjector.headersFrame(for: head(), allocator: ByteBufferAllocator())
        var bytes = frame
        let length = Int(bytes.readInteger(as: UInt8.self)!) << 16 | Int(bytes.readInteger(as: UInt16.self)!)
        XCTAssertEqual(bytes.readInteger(as: UInt8.self), 0x1, "HEADERS")
        XCTAssertEqual(bytes.readInteger(as: UInt8.self), 0x5, "END_HEADERS | END_STREAM")
        XCTAssertEqual(bytes.readInteger(as: UInt32.self), 1, "stream 1")
        XCTAssertEqual(length, bytes.readableBytes)
        var decoder = HPACKDecoder(allocator: ByteBufferAllocator())
        let headers = try decoder.decodeHeaders(from: &bytes)
        XCTAssertEqual(headers.map(\.name), [":method", ":scheme", ":path", ":authority", "accept", "x-custom"])
        XCTAssertEqual(headers.first(name: ":path"), "/p?q=1")
        XCTAssertEqual(headers.first(name: ":authority"), "a.test")
        // Literals only: decoding them again needs no table entry, and none is marked for indexing.
        XCTAssertTrue(headers.allSatisfy { $0.indexable != .indexable }, "the client's HPACK table is left as it was")
    }

    func testTheInjectorSendsStreamOneAfterTheClientsFirstFrame() throws {
        let injected = ByteBuffer(string: "STREAM-1")
        let channel = EmbeddedChannel(handler: UpgradedRequestInjector(streamOneHeaders: injected))
        let settings: [UInt8] = [0, 0, 6, 0x4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100]
        let first = ConnectionPreface.http2 + settings
        XCTAssertEqual(UpgradedRequestInjector.endOfFirstFrame(first), first.count)
        XCTAssertNil(UpgradedRequestInjector.endOfFirstFrame(Array(first.dropLast())))
        XCTAssertEqual(UpgradedRequestInjector.endOfFirstFrame(ConnectionPreface.http2 + [0xFF, 0xFF, 0xFF, 4, 0, 0, 0, 0, 0]),
                       ConnectionPreface.http2.count, "an oversized first frame is not waited for")

        try channel.writeInbound(ByteBuffer(bytes: first.prefix(30)))
        XCTAssertNil(try channel.readInbound(as: ByteBuffer.self), "held until the first frame is whole")
        try channel.writeInbound(ByteBuffer(bytes: first.dropFirst(30) + [9, 9]))
        XCTAssertEqual(try channel.readInbound(as: ByteBuffer.self), ByteBuffer(bytes: first))
        XCTAssertEqual(try channel.readInbound(as: ByteBuffer.self), injected)
        XCTAssertEqual(try channel.readInbound(as: ByteBuffer.self), ByteBuffer(bytes: [9, 9]))
        try channel.writeInbound(ByteBuffer(bytes: [7]))
        XCTAssertEqual(try channel.readInbound(as: ByteBuffer.self), ByteBuffer(bytes: [7]), "then it steps aside")
        _ = try channel.finish()
    }

    func testAHeadThatTheEndFollowsIsOneHeadersFrame() throws {
        let channel = EmbeddedChannel(handler: HeadersEndCoalescer())
        let head = HTTP2Frame.FramePayload.headers(.init(headers: [":status": "200"]))
        let emptyEnd = HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true))
        func written() throws -> [HTTP2Frame.FramePayload] {
            channel.flush()
            var frames: [HTTP2Frame.FramePayload] = []
            while let frame = try channel.readOutbound(as: HTTP2Frame.FramePayload.self) { frames.append(frame) }
            return frames
        }
        channel.write(head, promise: nil)
        channel.write(emptyEnd, promise: nil)
        let merged = try written()
        XCTAssertEqual(merged.count, 1)
        guard case .headers(let headers) = merged.first else { return XCTFail("\(merged)") }
        XCTAssertTrue(headers.endStream)

        // A body after the head: both go as they are.
        channel.write(head, promise: nil)
        channel.write(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer(string: "x")), endStream: true)), promise: nil)
        XCTAssertEqual(try written().count, 2)
        // A flush sends a held head at once (a streamed response's head does not wait for its body).
        channel.write(head, promise: nil)
        channel.flush()
        let flushed = try written()
        XCTAssertEqual(flushed.count, 1)
        guard case .headers(let alone) = flushed.first else { return XCTFail() }
        XCTAssertFalse(alone.endStream)
        _ = try channel.finish()
    }

    func testTheStateMachineSwitchesAfterTheOffersEnd() {
        var state = ProxyConnectionState(client: ClientAddress(ip: "192.0.2.9"))
        let offer = head()
        XCTAssertEqual(state.requestHead(offer), .none)
        XCTAssertEqual(state.phase, .switchingToHTTP2)
        XCTAssertFalse(state.readsAllowed(upstreamWritable: true) == false, "reads on until the end")
        XCTAssertEqual(state.requestEnd(nil), .upgradeToHTTP2(RequestHead(offer)))
        XCTAssertFalse(state.readsAllowed(upstreamWritable: true), "nothing more is read as HTTP/1")

        // Shutting down: the offer is declined and the request served as HTTP/1.1.
        var quiescing = ProxyConnectionState(client: ClientAddress(ip: "192.0.2.9"))
        XCTAssertEqual(quiescing.quiesce(), .close)
        var draining = ProxyConnectionState(client: ClientAddress(ip: "192.0.2.9"))
        XCTAssertEqual(draining.requestHead(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Host": "a"])),
                       .route(host: "a"))
        XCTAssertEqual(draining.quiesce(), .none)
    }

    func testAnHTTP2RequestBodyGoesChunkedToAnHTTP1Upstream() {
        let upstream = Upstream(containerID: "c", revision: 1, host: "10.0.0.7", port: 8080)
        func sent(_ method: HTTPMethod, _ headers: [(String, String)], body: Bool, ended: Bool, to speaks: UpstreamProtocol = .http1) -> HTTPHeaders? {
            var state = ProxyConnectionState(client: ClientAddress(ip: "192.0.2.9"))
            var target = upstream
            target.speaks = speaks
            _ = state.requestHead(HTTPRequestHead(version: .http2, method: method, uri: "/", headers: HTTPHeaders([("host", "a")] + headers)))
            if body { _ = state.requestBody(ByteBuffer(string: "abc")) }
            if ended { _ = state.requestEnd(nil) }
            _ = state.routed(.upstream(target))
            guard case .sendRequest(let head, _, _) = state.upstreamConnected(reused: false) else { return nil }
            XCTAssertEqual(head.version, .http1_1)
            return head.headers
        }
        XCTAssertEqual(sent(.POST, [], body: true, ended: true)?["transfer-encoding"], ["chunked"])
        XCTAssertEqual(sent(.POST, [], body: false, ended: false)?["transfer-encoding"], ["chunked"], "a body may still come")
        XCTAssertEqual(sent(.GET, [], body: false, ended: true)?["transfer-encoding"], [], "no body at all")
        XCTAssertEqual(sent(.POST, [("content-length", "3")], body: true, ended: true)?["transfer-encoding"], [])
        XCTAssertEqual(sent(.POST, [("te", "trailers")], body: true, ended: true, to: .h2c)?["te"], ["trailers"])
        XCTAssertEqual(sent(.POST, [("te", "trailers")], body: true, ended: true, to: .http1)?["te"], [])
        XCTAssertEqual(sent(.POST, [("te", "gzip")], body: true, ended: true, to: .h2c)?["te"], [], "the only TE HTTP/2 allows is trailers")
    }

    func testAResponseToAnHTTP2ClientHasNoFramingOrConnectionFields() {
        let request = RequestInfo(HTTPRequestHead(version: .http2, method: .GET, uri: "/", headers: ["host": "a"]))
        let upstream = HTTPResponseHead(version: .http1_1, status: .ok, headers: [
            "transfer-encoding": "chunked", "connection": "keep-alive, x-hop", "keep-alive": "timeout=5", "x-hop": "1", "x-kept": "1",
        ])
        let (head, keepAlive) = HeaderRewriter.clientResponseHead(upstream, for: request, keepAlive: true)
        XCTAssertFalse(keepAlive, "a stream carries one exchange")
        XCTAssertEqual(head.headers.map(\.name), ["x-kept"])
        XCTAssertEqual(head.version, .http2)
    }
}
