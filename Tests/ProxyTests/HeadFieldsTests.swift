import NIOCore
import NIOHTTP1
import XCTest

@testable import Proxy

/// A head's fields kept as the bytes read (`HeadFields` over lines) must reach the client as the
/// same fields, in the same order, as the same head rewritten as NIO's `HTTPHeaders`.
final class HeadFieldsTests: XCTestCase {
    private let responses = [
        "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: Keep-Alive, X-Hop\r\nx-hop: 1\r\nX-HOP: 2\r\nKeep-Alive: timeout=5\r\nX-Kept:  spaced \t\r\n\r\n",
        "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\nProxy-Authenticate: Basic\r\nTrailer: X-T\r\nTE: trailers\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nX-Empty:\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n",
        "HTTP/1.0 200 OK\r\nX-Latin: caf\u{E9}\r\n\r\n",
        "HTTP/1.1 599 Odd\r\nConnection: content-length, host, transfer-encoding\r\nContent-Length: 3\r\nHost: h\r\n\r\n",
    ]

    private func requests() -> [RequestInfo] {
        [
            RequestInfo(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Host": "a"])),
            RequestInfo(HTTPRequestHead(version: .http1_0, method: .GET, uri: "/", headers: ["Host": "a", "Connection": "keep-alive"])),
            RequestInfo(HTTPRequestHead(version: .http1_1, method: .HEAD, uri: "/", headers: ["Host": "a"])),
            RequestInfo(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Host": "a", "Connection": "upgrade", "Upgrade": "websocket"])),
            RequestInfo(HTTPRequestHead(version: .http2, method: .GET, uri: "/", headers: ["host": "a"])),
        ]
    }

    func testLinesRewriteToTheSameBytesAsHeaders() throws {
        for response in responses {
            let read = try parsedHead(response)
            XCTAssertNotEqual(read.fields.headers.count, 0, response)
            let typed = ResponseHead(read.typed)
            for request in requests() {
                for keepAlive in [true, false] {
                    var fromLines = HeaderRewriter.clientResponseHead(read, for: request, keepAlive: keepAlive)
                    var fromHeaders = HeaderRewriter.clientResponseHead(typed, for: request, keepAlive: keepAlive)
                    XCTAssertEqual(fromLines.keepAlive, fromHeaders.keepAlive, response)
                    fromLines.head.fields.add(name: "server-timing", value: "upstream;dur=1")
                    fromHeaders.head.fields.add(name: "server-timing", value: "upstream;dur=1")
                    XCTAssertEqual(written(fromLines.head), written(fromHeaders.head), "\(response) for \(request.head)")
                    XCTAssertEqual(fromLines.head.headers.map { "\($0.name): \($0.value)" },
                                   fromHeaders.head.headers.map { "\($0.name): \($0.value)" })
                    XCTAssertEqual(fromLines.head.fields.saysChunked, fromHeaders.head.fields.saysChunked)
                }
            }
        }
    }

    /// What a client reads for nginx's usual response: the lines as they came, less the hop-by-hop.
    func testTheLinesKeptAreCopiedAsTheyCame() throws {
        let read = try parsedHead(responses[1])
        let get = requests()[0]
        let out = HeaderRewriter.clientResponseHead(read, for: get, keepAlive: true)
        XCTAssertEqual(written(out.head), "HTTP/1.1 200 OK\r\nX-Kept: spaced\r\ntransfer-encoding: chunked\r\n\r\n")
        XCTAssertTrue(out.head.fields.saysChunked)
    }

    /// obs-text that is not UTF-8 passes byte for byte (a `String` would have made it U+FFFD).
    func testObsTextPassesByteForByte() throws {
        var parser = HTTP1ResponseParser()
        var buffer = ByteBuffer(bytes: Array("HTTP/1.1 200 OK\r\nX-Latin: caf".utf8) + [0xE9] + Array("\r\nContent-Length: 0\r\n\r\n".utf8))
        guard case .head(let read, _) = try parser.next(&buffer) else { return XCTFail("no head") }
        let out = HeaderRewriter.clientResponseHead(read, for: requests()[0], keepAlive: true).head
        let bytes = HTTP1Serialization.head(startLine: out.startLine, fields: out.fields, allocator: ByteBufferAllocator())
        XCTAssertEqual(Array(bytes.readableBytesView),
                       Array("HTTP/1.1 200 OK\r\nX-Latin: caf".utf8) + [0xE9] + Array("\r\nContent-Length: 0\r\n\r\n".utf8))
    }

    func testEditsOnLines() throws {
        var fields = try parsedHead("HTTP/1.1 200 OK\r\nA: 1\r\nContent-Length: 2\r\nb: 2\r\nA: 3\r\n\r\n").fields
        XCTAssertEqual(fields.present, HeaderName.contentLength.bit)
        XCTAssertEqual(fields.count(.contentLength), 1)
        XCTAssertEqual(fields.values(.contentLength), ["2"])
        XCTAssertEqual(fields.headers.first(name: "a"), "1")
        XCTAssertEqual(fields.connectionOptions, [])
        fields.remove(name: "a")
        fields.add(name: "x-added", value: "v")
        fields.replaceOrAdd(name: "B", value: "new")
        fields.remove(HeaderName.contentLength.bit)
        XCTAssertEqual(fields.headers.map { "\($0.name): \($0.value)" }, ["x-added: v", "B: new"])
        XCTAssertEqual(fields.headers.first(name: "X-ADDED"), "v")
        XCTAssertNil(fields.headers.first(name: "a"))
        XCTAssertEqual(fields.serializedSize, "x-added: v\r\nB: new\r\n".utf8.count)
    }

    /// More lines than a word has bits for: kept as `HTTPHeaders`, with the same edits.
    func testAHeadOfManyLinesIsKeptAsHeaders() throws {
        let lines = (0..<70).map { "X-\($0): \($0)\r\n" }.joined()
        var fields = try parsedHead("HTTP/1.1 200 OK\r\n\(lines)Keep-Alive: 1\r\n\r\n").fields
        fields.remove(HeaderName.hopByHopBits)
        XCTAssertEqual(fields.headers.count, 70)
        XCTAssertEqual(fields.headers.first(name: "x-69"), "69")
    }

    // MARK: Helpers

    private func parsedHead(_ text: String) throws -> ResponseHead {
        var parser = HTTP1ResponseParser()
        var buffer = ByteBuffer(string: text)
        guard case .head(let head, _) = try parser.next(&buffer) else {
            XCTFail("no head in \(text)")
            throw HTTP1Malformed(reason: "no head")
        }
        return head
    }

    private func written(_ head: ResponseHead) -> String {
        String(buffer: HTTP1Serialization.head(startLine: head.startLine, fields: head.fields, allocator: ByteBufferAllocator()))
    }
}
