import NIOCore
import NIOEmbedded
import NIOHTTP1
import XCTest

@testable import Proxy

/// The upstream response parser: well-formed responses read as NIOHTTP1's decoder reads them,
/// however the bytes are split; the framing rules a hostile upstream could play on, each refused.
final class HTTP1ResponseParserTests: XCTestCase {
    private let wellFormed: [(String, [String], isHEAD: Bool)] = [
        ("a length", ["HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"], false),
        ("chunks, extensions, trailers", [
            "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-A:  \tspaced value\r\n\r\n",
            "5;name=value\r\nfirst\r\n3;ext\r\nabc\r\n0\r\nGrpc-Status: 0\r\nX-Sum: 1\r\n\r\n",
        ], false),
        ("chunks without trailers", ["HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n"], false),
        ("HEAD", ["HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"], true),
        ("204", ["HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n"], false),
        ("304", ["HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"], false),
        ("interim responses dropped", ["HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
                                       "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"], false),
        ("HTTP/1.0, empty reason, empty value", ["HTTP/1.0 404 \r\nX-Empty:\r\nContent-Length: 0\r\n\r\n"], false),
        ("no reason", ["HTTP/1.1 500\r\nContent-Length: 1\r\n\r\nx"], false),
        ("unknown status, obs-text", ["HTTP/1.1 599 \r\nX-Latin: caf\u{E9}\r\nContent-Length: 0\r\n\r\n"], false),
        ("two responses", ["HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"], false),
    ]

    func testWellFormedResponsesReadAsNIOReadsThem() throws {
        for (name, chunks, isHEAD) in wellFormed {
            let bytes = Array(chunks.joined().utf8)
            let expected = try nioParts(bytes, isHEAD: isHEAD)
            XCTAssertFalse(expected.isEmpty, name)
            XCTAssertEqual(try parts(chunks.map { Array($0.utf8) }, isHEAD: isHEAD), expected, "\(name), as written")
            XCTAssertEqual(try parts(bytes.map { [$0] }, isHEAD: isHEAD), expected, "\(name), byte by byte")
        }
    }

    /// Where it reads differently from NIO's decoder, it follows RFC 9110: a field value's
    /// trailing whitespace is not part of it (§5.5), and an unknown status keeps its reason.
    func testTrailingWhitespaceIsDroppedAndUnknownReasonsKept() throws {
        var parser = HTTP1ResponseParser()
        var buffer = ByteBuffer(string: "HTTP/1.1 599 Network Read Timeout\r\nX-A: value \t\r\nContent-Length: 0\r\n\r\n")
        guard case .head(let head, _) = try parser.next(&buffer) else { return XCTFail("no head") }
        XCTAssertEqual(head.headers["x-a"], ["value"])
        XCTAssertEqual(head.status.code, 599)
        XCTAssertEqual(head.status.reasonPhrase, "Network Read Timeout")
    }

    func testKeepAliveFollowsTheVersionAndConnection() throws {
        let cases: [(String, Bool)] = [
            ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
            ("HTTP/1.1 200 OK\r\nConnection: x-hop, Close\r\nContent-Length: 0\r\n\r\n", false),
            ("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false),
            ("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false),
            ("HTTP/1.0 200 OK\r\nConnection:  Keep-Alive \r\nContent-Length: 0\r\n\r\n", true),
            ("HTTP/1.1 204 No Content\r\n\r\n", true),
            ("HTTP/1.1 200 OK\r\nConnection: closed\r\nTransfer-Encoding: chunked\r\n\r\n", true),
        ]
        for (response, expected) in cases {
            var parser = HTTP1ResponseParser()
            var buffer = ByteBuffer(string: response)
            guard case .head(_, let keepAlive) = try parser.next(&buffer) else { return XCTFail(response) }
            XCTAssertEqual(keepAlive, expected, response)
        }
    }

    func testABodyWithoutLengthRunsUntilTheClose() throws {
        for head in ["HTTP/1.1 200 OK\r\n\r\n", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"] {
            var parser = HTTP1ResponseParser()
            var buffer = ByteBuffer(string: head + "part one")
            guard case .head(_, let keepAlive) = try parser.next(&buffer) else { return XCTFail(head) }
            XCTAssertFalse(keepAlive, "the close ends the body")
            XCTAssertEqual(try parser.next(&buffer), .body(ByteBuffer(string: "part one")))
            XCTAssertNil(try parser.next(&buffer))
            XCTAssertEqual(try parser.inputEnded(leftover: 0), .end(nil))
        }
    }

    func testAClosedConnectionWithinAResponseIsAnError() throws {
        for partial in ["HTTP/1.1 200 OK\r\nContent-Le", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"] {
            var parser = HTTP1ResponseParser()
            var buffer = ByteBuffer(string: partial)
            while try parser.next(&buffer) != nil {}
            XCTAssertThrowsError(try parser.inputEnded(leftover: buffer.readableBytes), partial)
        }
        var idle = HTTP1ResponseParser()
        XCTAssertNil(try idle.inputEnded(leftover: 0), "between responses, a close is no error")
    }

    func testAfterA101TheBytesAreLeftForTheTunnel() throws {
        var parser = HTTP1ResponseParser()
        var buffer = ByteBuffer(string: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\u{81}\u{05}hello")
        guard case .head(let head, _) = try parser.next(&buffer) else { return XCTFail("no head") }
        XCTAssertEqual(head.status, .switchingProtocols)
        XCTAssertEqual(try parser.next(&buffer), .end(nil))
        XCTAssertNil(try parser.next(&buffer))
        XCTAssertTrue(parser.isUpgraded)
        XCTAssertEqual(buffer.readableBytesView.count, 8, "the tunnel's bytes stay unread")
    }

    func testFramingAttacksAreRefused() {
        let refused: [(String, String)] = [
            ("Content-Length and Transfer-Encoding", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ("two Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n"),
            ("a Content-Length list", "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n"),
            ("a signed Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n"),
            ("an empty Content-Length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n"),
            ("a huge Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999\r\n\r\n"),
            ("chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ("a coding after chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            ("a coding before chunked (the proxy would drop it)", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            ("a coding without chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
            ("a space before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\n"),
            ("obs-fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"),
            ("a bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"),
            ("a bare CR", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n"),
            ("a NUL in a value", "HTTP/1.1 200 OK\r\nX-A: a\u{0}b\r\n\r\n"),
            ("a name that is not a token", "HTTP/1.1 200 OK\r\nX A: b\r\n\r\n"),
            ("an empty name", "HTTP/1.1 200 OK\r\n: b\r\n\r\n"),
            ("no colon", "HTTP/1.1 200 OK\r\nX-A\r\n\r\n"),
            ("HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n"),
            ("HTTP/1.2", "HTTP/1.2 200 OK\r\n\r\n"),
            ("a two-digit status", "HTTP/1.1 20 OK\r\n\r\n"),
            ("a four-digit status", "HTTP/1.1 2000 OK\r\n\r\n"),
            ("status 099", "HTTP/1.1 099 Low\r\n\r\n"),
            ("a leading empty line", "\r\nHTTP/1.1 200 OK\r\n\r\n"),
            ("a chunk size that is not hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            ("a chunk size that overflows", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n"),
            ("a negative chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n"),
            ("a chunk longer than its size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n"),
            ("a chunk size with junk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 x\r\nab\r\n"),
            ("whitespace before a chunk extension", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 ;x\r\nab\r\n"),
            ("a bare LF after a chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n"),
            ("a bare LF in trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-A: b\n\r\n\r\n"),
        ]
        for (name, response) in refused {
            var parser = HTTP1ResponseParser()
            var buffer = ByteBuffer(string: response)
            XCTAssertThrowsError(try { while try parser.next(&buffer) != nil {} }(), name)
            XCTAssertNil(try parser.next(&buffer), "\(name): nothing more after an error")
        }
    }

    func testHeadsAndChunkLinesAreBounded() {
        var parser = HTTP1ResponseParser()
        var head = ByteBuffer(string: "HTTP/1.1 200 OK\r\nX-Big: " + String(repeating: "a", count: HTTP1Scanner.maxHeadSize))
        XCTAssertThrowsError(try parser.next(&head), "a head without end, beyond the limit")

        var chunks = HTTP1ResponseParser()
        var line = ByteBuffer(string: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        XCTAssertNoThrow(try chunks.next(&line))
        line.writeString("1;" + String(repeating: "e", count: HTTP1BodyParser.maxChunkLineSize))
        XCTAssertThrowsError(try chunks.next(&line), "a chunk size line without end, beyond the limit")
    }

    /// Through the handler: the parts in order, the 101's leftover bytes handed on at removal.
    func testTheReaderHandsOnTheTunnelsBytes() throws {
        let sink = RecordingSink()
        let reader = HTTP1ResponseReader(sink: sink)
        let channel = EmbeddedChannel(handler: reader)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\ntunnel"))
        XCTAssertEqual(sink.parts, ["head 101 close", "end"])
        try channel.writeInbound(ByteBuffer(string: " bytes"))
        XCTAssertEqual(sink.parts.count, 2)
        try channel.pipeline.syncOperations.removeHandler(reader).wait()
        XCTAssertEqual(try channel.readInbound(as: ByteBuffer.self), ByteBuffer(string: "tunnel bytes"))
        _ = try channel.finish()
    }

    /// A 101 on a connection that then closes (its client gone): the bytes after it go nowhere,
    /// since the handler after the reader reads response parts, never bytes.
    func testTheReaderDropsTheTunnelsBytesWhenTheConnectionCloses() throws {
        let sink = RecordingSink()
        let channel = EmbeddedChannel(handler: HTTP1ResponseReader(sink: sink))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nunsolicited"))
        XCTAssertEqual(sink.parts, ["head 101 close", "end"])
        XCTAssertTrue(try channel.finish().isClean)
    }

    /// The common case: a response read whole, its end needing no byte after the body's last; a
    /// HEAD's response has no body.
    func testTheReaderEndsResponsesReadWhole() throws {
        let sink = RecordingSink()
        let channel = EmbeddedChannel(handler: HTTP1ResponseReader(sink: sink))
        for method in [HTTPMethod.GET, .HEAD, .GET] {
            sink.requestWasHEAD = method == .HEAD
            try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n" + (method == .HEAD ? "" : "ok")))
        }
        XCTAssertEqual(sink.parts, ["head 200 keep-alive", "body ok", "end", "head 200 keep-alive", "end",
                                    "head 200 keep-alive", "body ok", "end"])
        XCTAssertNoThrow(try channel.finish())
    }

    func testTheReaderEndsACloseDelimitedBodyAtTheClose() throws {
        let sink = RecordingSink()
        let channel = EmbeddedChannel(handler: HTTP1ResponseReader(sink: sink))
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\nuntil the close"))
        XCTAssertEqual(sink.parts, ["head 200 close", "body until the close"])
        channel.pipeline.fireChannelInactive()
        XCTAssertEqual(sink.parts.last, "end")
    }

    func testTheReaderReportsAMalformedResponseOnce() throws {
        let sink = RecordingSink()
        let channel = EmbeddedChannel(handler: HTTP1ResponseReader(sink: sink))
        XCTAssertThrowsError(try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"))) {
            XCTAssertTrue($0 is HTTP1Malformed, "\($0)")
        }
        XCTAssertNoThrow(try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n")))
        channel.pipeline.fireChannelInactive()
        XCTAssertEqual(sink.parts, [])
    }

    // MARK: Helpers

    /// The parser's events for bytes read in `reads`, adjacent body parts joined.
    private func parts(_ reads: [[UInt8]], isHEAD: Bool) throws -> [HTTPClientResponsePart] {
        var parser = HTTP1ResponseParser()
        var buffer = ByteBuffer()
        var result: [HTTPClientResponsePart] = []
        for read in reads {
            buffer.writeBytes(read)
            while let event = try parser.next(&buffer, requestWasHEAD: isHEAD) {
                switch event {
                case .head(let head, _): result.append(.head(head.typed))
                case .body(let body): result.append(.body(body))
                case .end(let trailers): result.append(.end(trailers))
                }
            }
        }
        if let end = try parser.inputEnded(leftover: buffer.readableBytes) {
            if case .end(let trailers) = end { result.append(.end(trailers)) }
        }
        return joiningBodies(result)
    }

    /// NIOHTTP1's decoder's parts for the same bytes.
    private func nioParts(_ bytes: [UInt8], isHEAD: Bool) throws -> [HTTPClientResponsePart] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPResponseDecoder()))
        for _ in 0..<2 {
            try channel.writeOutbound(HTTPClientRequestPart.head(.init(version: .http1_1, method: isHEAD ? .HEAD : .GET, uri: "/")))
        }
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        var result: [HTTPClientResponsePart] = []
        while let part = try channel.readInbound(as: HTTPClientResponsePart.self) { result.append(part) }
        _ = try channel.finish()
        return joiningBodies(result)
    }
}

/// What the reader delivered, as text.
private final class RecordingSink: HTTP1ResponseSink {
    var parts: [String] = []
    var requestWasHEAD = false

    func responseHead(_ head: ResponseHead, keepAlive: Bool) {
        parts.append("head \(head.status.code) \(keepAlive ? "keep-alive" : "close")")
    }

    func responseBody(_ body: ByteBuffer) {
        parts.append("body \(String(buffer: body))")
    }

    func responseEnd(_ trailers: HTTPHeaders?) {
        parts.append(trailers.map { "end \($0)" } ?? "end")
    }
}
