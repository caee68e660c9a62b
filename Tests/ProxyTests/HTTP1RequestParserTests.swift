import NIOCore
import NIOEmbedded
import NIOHTTP1
import XCTest

@testable import Proxy

/// The client request parser: well-formed requests read as NIOHTTP1's decoder reads them, however
/// the bytes are split; every framing a smuggler could use to make two readers disagree on where
/// a request ends, refused.
final class HTTP1RequestParserTests: XCTestCase {
    private let wellFormed: [(String, String)] = [
        ("a GET", "GET /path?q=1 HTTP/1.1\r\nHost: a.test\r\nAccept: */*\r\n\r\n"),
        ("a length", "POST /upload HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello"),
        ("chunks and trailers", "PUT /c HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: Chunked\r\n\r\n"
            + "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n"),
        ("HTTP/1.0, absolute form, odd method", "PURGE http://a.test/x HTTP/1.0\r\nX-Empty:\r\n\r\n"),
        ("pipelined", "GET /1 HTTP/1.1\r\nHost: a.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: a.test\r\n\r\n"),
        ("an empty line first", "\r\nGET / HTTP/1.1\r\nHost: a.test\r\n\r\n"),
        ("OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n"),
        ("HEAD, DELETE, PATCH", ["HEAD", "DELETE", "PATCH"].map { "\($0) / HTTP/1.1\r\nHost: a.test\r\n\r\n" }.joined()),
    ]

    /// The usual methods are read off their bytes; a method is case-sensitive, and any other
    /// token is a method of its own (NIO's decoder refuses those it has no name for).
    func testMethodsNearTheUsualOnesAreTheirOwn() throws {
        for name in ["GET", "PUT", "POST", "HEAD", "get", "GETS", "POS", "PuT", "HEAL", "GE", "PURGE"] {
            var parser = HTTP1RequestParser()
            var buffer = ByteBuffer(string: "\(name) / HTTP/1.1\r\nHost: a.test\r\n\r\n")
            guard case .head(let head) = try parser.next(&buffer) else { return XCTFail(name) }
            XCTAssertEqual(head.method, HTTPMethod(rawValue: name), name)
            XCTAssertEqual(head.method.rawValue, name)
        }
    }

    func testWellFormedRequestsReadAsNIOReadsThem() throws {
        for (name, request) in wellFormed {
            let bytes = Array(request.utf8)
            let expected = try nioParts(bytes)
            XCTAssertFalse(expected.isEmpty, name)
            XCTAssertEqual(try parts([bytes]), expected, "\(name), whole")
            XCTAssertEqual(try parts(bytes.map { [$0] }), expected, "\(name), byte by byte")
        }
    }

    func testSmugglingFramingsAreRefused() {
        let refused: [(String, String)] = [
            ("Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ("Transfer-Encoding then Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"),
            ("a last coding other than chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            ("an unknown coding alone", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
            ("chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ("a misspelt chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n"),
            ("a coding before chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            ("Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ("two Content-Lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\n"),
            ("a Content-Length list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\n"),
            ("a signed Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
            ("a hex Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n"),
            ("a space before the colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n"),
            ("a tab in the name", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n"),
            ("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n"),
            ("a bare LF", "GET / HTTP/1.1\nHost: a\r\n\r\n"),
            ("a bare CR in a value", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"),
            ("a NUL in a value", "GET / HTTP/1.1\r\nHost: a\u{0}\r\n\r\n"),
            ("a space in the target", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("a control character in the target", "GET /a\u{1}b HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("no version", "GET /\r\nHost: a\r\n\r\n"),
            ("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
            ("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n"),
            ("a lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n"),
            ("a method that is not a token", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n"),
            ("a chunk size that is not hex", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n"),
            ("a chunk size that overflows", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n"),
            ("a chunk longer than its size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n"),
            ("a bare LF after a chunk", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\n0\r\n\r\n"),
            ("whitespace before a chunk extension", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 ;x\r\na\r\n"),
        ]
        for (name, request) in refused {
            var parser = HTTP1RequestParser()
            var buffer = ByteBuffer(string: request)
            XCTAssertThrowsError(try { while try parser.next(&buffer) != nil {} }(), name)
            XCTAssertNil(try parser.next(&buffer), "\(name): nothing more after an error")
        }
    }

    func testHeadsAreBounded() {
        var parser = HTTP1RequestParser()
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: HTTP1Scanner.maxHeadSize))
        XCTAssertThrowsError(try parser.next(&buffer))
    }

    /// After a request to upgrade (or CONNECT), nothing more is parsed: those bytes are for the
    /// tunnel, or HTTP/2's preface, handed on with the rest when the reader leaves.
    func testNothingIsParsedAfterAnUpgradeRequest() throws {
        let cases = [
            "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n",
            "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\nContent-Length: 3\r\n\r\n",
        ]
        for request in cases {
            var parser = HTTP1RequestParser()
            var buffer = ByteBuffer(string: request + "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            guard case .head = try parser.next(&buffer) else { return XCTFail(request) }
            XCTAssertEqual(try parser.next(&buffer), .end(nil), request)
            XCTAssertNil(try parser.next(&buffer), request)
            XCTAssertTrue(parser.isUpgraded)
            XCTAssertEqual(String(buffer: buffer), "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", request)
        }
        var plain = HTTP1RequestParser()
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
        var heads = 0
        while let event = try plain.next(&buffer) {
            if case .head = event { heads += 1 }
        }
        XCTAssertEqual(heads, 2, "Upgrade without Connection: upgrade asks for nothing")

        var declining = HTTP1RequestParser()
        var offer = ByteBuffer(string: "POST / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            + "HTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\nContent-Length: 4\r\n\r\nbodyGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
        guard case .head = try declining.next(&offer) else { return XCTFail("no head") }
        XCTAssertTrue(declining.upgradeFollows)
        declining.declineUpgrade()
        var events: [HTTP1RequestParser.Event] = []
        while let event = try declining.next(&offer) { events.append(event) }
        XCTAssertEqual(events.count, 4, "the body, the end, and the next request read as HTTP/1.1: \(events)")
        XCTAssertFalse(declining.isUpgraded)
    }

    /// Through the handler: parts to the sink, a malformed request reported once, and the bytes
    /// after an upgrade request handed on at removal (but dropped when the connection just closes).
    func testTheReaderDeliversReportsAndHandsOn() throws {
        let sink = RecordingRequestSink()
        let reader = HTTP1RequestReader(sink: sink)
        let channel = EmbeddedChannel(handler: reader)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"))
        try channel.writeInbound(ByteBuffer(string: "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\nraw"))
        try channel.writeInbound(ByteBuffer(string: " bytes"))
        XCTAssertEqual(sink.parts, ["head POST /a", "body hi", "end", "head GET /ws", "end"])
        XCTAssertEqual(try channel.readInbound(as: ByteBuffer.self), nil, "held while the reader stays")
        try channel.pipeline.syncOperations.removeHandler(reader).wait()
        XCTAssertEqual(try channel.readInbound(as: ByteBuffer.self), ByteBuffer(string: "raw bytes"))

        let malformedSink = RecordingRequestSink()
        let malformed = EmbeddedChannel(handler: HTTP1RequestReader(sink: malformedSink))
        try malformed.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"))
        try malformed.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        XCTAssertEqual(malformedSink.parts, ["malformed"])

        let codingSink = RecordingRequestSink()
        let coding = EmbeddedChannel(handler: HTTP1RequestReader(sink: codingSink))
        try coding.writeInbound(ByteBuffer(string: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"))
        XCTAssertEqual(codingSink.parts, ["unsupported coding"], "answered 501, as nginx does")

        // An upgrade the connection closes on (refused upstream, CONNECT): its bytes go nowhere.
        let closingSink = RecordingRequestSink()
        let closing = EmbeddedChannel(handler: HTTP1RequestReader(sink: closingSink))
        try closing.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try closing.writeInbound(ByteBuffer(string: "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\nraw"))
        XCTAssertTrue(try closing.finish().isClean, "nothing handed on as the connection closes")

        let decliningSink = RecordingRequestSink()
        let declining = EmbeddedChannel(handler: HTTP1RequestReader(sink: decliningSink))
        try declining.writeInbound(ByteBuffer(string: "GET /declined HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n"
            + "GET /next HTTP/1.1\r\nHost: a\r\n\r\n"))
        XCTAssertEqual(decliningSink.parts, ["head GET /declined", "end", "head GET /next", "end"])

        let partialSink = RecordingRequestSink()
        let partial = EmbeddedChannel(handler: HTTP1RequestReader(sink: partialSink))
        try partial.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\nHo"))
        XCTAssertNoThrow(try partial.finish())
        XCTAssertEqual(partialSink.parts, [])
    }

    // MARK: Helpers

    private func parts(_ reads: [[UInt8]]) throws -> [HTTPServerRequestPart] {
        var parser = HTTP1RequestParser()
        var buffer = ByteBuffer()
        var result: [HTTPServerRequestPart] = []
        for read in reads {
            buffer.writeBytes(read)
            while let event = try parser.next(&buffer) {
                switch event {
                case .head(let head): result.append(.head(head.typed))
                case .body(let body): result.append(.body(body))
                case .end(let trailers): result.append(.end(trailers))
                }
            }
        }
        return joiningBodies(result)
    }

    private func nioParts(_ bytes: [UInt8]) throws -> [HTTPServerRequestPart] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder()))
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        var result: [HTTPServerRequestPart] = []
        while let part = try channel.readInbound(as: HTTPServerRequestPart.self) { result.append(part) }
        _ = try channel.finish()
        return joiningBodies(result)
    }
}

/// What the reader delivered, as text.
private final class RecordingRequestSink: HTTP1RequestSink {
    var parts: [String] = []

    func requestPart(_ part: RequestPart) {
        switch part {
        case .head(let head): parts.append("head \(head.method.rawValue) \(head.uri)")
        case .body(let body): parts.append("body \(String(buffer: body))")
        case .end(let trailers): parts.append(trailers.map { "end \($0)" } ?? "end")
        }
    }

    func requestMalformed(unsupportedCoding: Bool) {
        parts.append(unsupportedCoding ? "unsupported coding" : "malformed")
    }

    func switchesProtocols(after head: RequestHead) -> Bool {
        head.uri != "/declined"
    }
}
