import NIOCore
import NIOEmbedded
import NIOHTTP1
import XCTest

@testable import Proxy

/// The proxy's HTTP/1 writer writes, byte for byte, what NIOHTTP1's encoders write with
/// automatic framing off (as the proxy ran them before): the same messages through both,
/// compared whole.
final class HTTP1WriterTests: XCTestCase {
    func testResponsesAreTheBytesNIOWrites() throws {
        var lengthHeaders = HTTPHeaders()
        lengthHeaders.add(name: "Content-Length", value: "5")
        lengthHeaders.add(name: "x-empty", value: "")
        lengthHeaders.add(name: "X-Unicode", value: "caf\u{E9} \u{1F6A2}")
        var chunkedHeaders = HTTPHeaders()
        chunkedHeaders.add(name: "transfer-encoding", value: "chunked")
        var trailers = HTTPHeaders()
        trailers.add(name: "grpc-status", value: "0")
        trailers.add(name: "x-checksum", value: "abc")
        let cases: [(String, [HTTPServerResponsePart])] = [
            ("a length", [.head(.init(version: .http1_1, status: .ok, headers: lengthHeaders)), .body(body("hello")), .end(nil)]),
            ("chunks and trailers", [.head(.init(version: .http1_1, status: .created, headers: chunkedHeaders)),
                                     .body(body("first")), .body(body("")), .body(body(String(repeating: "x", count: 300))),
                                     .end(trailers)]),
            ("chunks without trailers", [.head(.init(version: .http1_1, status: .ok, headers: chunkedHeaders)),
                                         .body(body("a")), .end(nil)]),
            ("HTTP/1.0 never chunks", [.head(.init(version: .http1_0, status: .ok, headers: chunkedHeaders)),
                                       .body(body("raw")), .end(trailers)]),
            ("a status NIO has no case for", [.head(.init(version: .http1_1, status: .custom(code: 599, reasonPhrase: "Odd Reason"))),
                                              .end(nil)]),
            ("a 101", [.head(.init(version: .http1_1, status: .switchingProtocols)), .end(nil)]),
            ("keep-alive after a chunked one", [.head(.init(version: .http1_1, status: .ok, headers: chunkedHeaders)),
                                                .body(body("one")), .end(nil),
                                                .head(.init(version: .http1_1, status: .notModified)), .end(nil)]),
        ]
        var nioConfiguration = HTTPResponseEncoder.Configuration()
        nioConfiguration.automaticallySetFramingHeaders = false
        try assertSameBytes(cases, nio: { HTTPResponseEncoder(configuration: nioConfiguration) }, ours: { WriterHandler<HTTPResponseHead>() })
    }

    func testRequestsAreTheBytesNIOWrites() throws {
        var headers = HTTPHeaders()
        headers.add(name: "host", value: "web.localhost")
        headers.add(name: "x-forwarded-for", value: "127.0.0.1")
        var chunked = headers
        chunked.add(name: "transfer-encoding", value: "chunked")
        var trailers = HTTPHeaders()
        trailers.add(name: "x-trailer", value: "1")
        let cases: [(String, [HTTPClientRequestPart])] = [
            ("a GET", [.head(.init(version: .http1_1, method: .GET, uri: "/path?q=1", headers: headers)), .end(nil)]),
            ("a chunked POST", [.head(.init(version: .http1_1, method: .POST, uri: "/upload", headers: chunked)),
                                .body(.byteBuffer(body("part"))), .body(.byteBuffer(body(""))), .end(trailers)]),
            ("a method NIO has no case for", [.head(.init(version: .http1_1, method: .RAW(value: "PURGE"), uri: "*", headers: headers)),
                                              .end(nil)]),
        ]
        var nioConfiguration = HTTPRequestEncoder.Configuration()
        nioConfiguration.automaticallySetFramingHeaders = false
        try assertSameBytes(cases, nio: { HTTPRequestEncoder(configuration: nioConfiguration) }, ours: { WriterHandler<HTTPRequestHead>() })
    }

    /// A promise on a chunk completes once all three of its writes are out, and in order with
    /// the end's.
    func testPromisesCompleteInOrder() throws {
        let channel = EmbeddedChannel(handler: WriterHandler<HTTPResponseHead>())
        defer { _ = try? channel.finish() }
        var headers = HTTPHeaders()
        headers.add(name: "transfer-encoding", value: "chunked")
        var completed: [String] = []
        try channel.writeOutbound(HTTPServerResponsePart.head(.init(version: .http1_1, status: .ok, headers: headers)))
        let chunk = channel.eventLoop.makePromise(of: Void.self)
        chunk.futureResult.whenSuccess { completed.append("chunk") }
        channel.write(HTTPServerResponsePart.body(.byteBuffer(body("data"))), promise: chunk)
        let empty = channel.eventLoop.makePromise(of: Void.self)
        empty.futureResult.whenSuccess { completed.append("empty") }
        channel.write(HTTPServerResponsePart.body(.byteBuffer(body(""))), promise: empty)
        let end = channel.eventLoop.makePromise(of: Void.self)
        end.futureResult.whenSuccess { completed.append("end") }
        channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: end)
        XCTAssertEqual(completed, ["chunk", "empty", "end"])
    }

    /// A head waits for the next part: a body part that fits the room after it joins it in one
    /// write; a larger one, the end, or a flush send the head on its own first.
    func testASmallBodyJoinsItsHeadInOneWrite() throws {
        let channel = EmbeddedChannel(handler: WriterHandler<HTTPResponseHead>())
        defer { _ = try? channel.finish() }
        let head = HTTPServerResponsePart.head(.init(version: .http1_1, status: .ok, headers: ["content-length": "5"]))
        channel.write(head, promise: nil)
        XCTAssertNil(try channel.readOutbound(as: IOData.self), "held until the next part")
        try channel.writeOutbound(HTTPServerResponsePart.body(body("hello")))
        XCTAssertEqual(try writes(channel), ["HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"])
        channel.write(HTTPServerResponsePart.end(nil), promise: nil)
        channel.flush()
        XCTAssertEqual(try writes(channel), [])

        let large = String(repeating: "x", count: HTTP1Writer<HTTPResponseHead>.joinLimit + 1)
        channel.write(head, promise: nil)
        try channel.writeOutbound(HTTPServerResponsePart.body(body(large)))
        XCTAssertEqual(try writes(channel), ["HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", large])

        channel.write(head, promise: nil)
        channel.flush()
        XCTAssertEqual(try writes(channel), ["HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"], "a flush sends it")
        channel.write(HTTPServerResponsePart.end(nil), promise: nil)
        channel.write(head, promise: nil)
        channel.write(HTTPServerResponsePart.end(nil), promise: nil)
        channel.write(head, promise: nil)
        channel.write(HTTPServerResponsePart.body(body("again")), promise: nil)
        channel.flush()
        XCTAssertEqual(try writes(channel), ["HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n",
                                             "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nagain"], "a head without a body, then one with")
    }

    private func writes(_ channel: EmbeddedChannel) throws -> [String] {
        var writes: [String] = []
        while let data = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = data else { throw TestFailure("a file region") }
            writes.append(String(buffer: buffer))
        }
        return writes
    }

    private func body(_ text: String) -> ByteBuffer {
        ByteBuffer(string: text)
    }

    private func body(_ text: String) -> IOData {
        .byteBuffer(ByteBuffer(string: text))
    }

    /// Each case's parts through a fresh encoder of each kind: the same bytes (shown as text when not).
    private func assertSameBytes<Part>(_ cases: [(String, [Part])], nio: () -> any ChannelHandler,
                                       ours: () -> any ChannelHandler) throws {
        for (name, parts) in cases {
            let expected = try written(parts, through: nio())
            let actual = try written(parts, through: ours())
            XCTAssertEqual(String(decoding: actual, as: UTF8.self), String(decoding: expected, as: UTF8.self), name)
            XCTAssertEqual(actual, expected, name)
        }
    }

    private func written<Part>(_ parts: [Part], through encoder: any ChannelHandler) throws -> [UInt8] {
        let channel = EmbeddedChannel(handler: encoder)
        defer { _ = try? channel.finish() }
        for part in parts { try channel.writeOutbound(part) }
        var bytes: [UInt8] = []
        while let data = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = data else { throw TestFailure("a file region") }
            bytes += buffer.readableBytesView
        }
        return bytes
    }

    private struct TestFailure: Error {
        let message: String
        init(_ message: String) { self.message = message }
    }
}

/// An `HTTP1Writer` as an encoder handler, for the comparison with NIO's encoders.
private final class WriterHandler<Head: HTTP1Head>: ChannelOutboundHandler {
    typealias OutboundIn = HTTPPart<Head, IOData>
    typealias OutboundOut = IOData

    private var writer = HTTP1Writer<Head>()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        writer.write(unwrapOutboundIn(data), context: context, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        writer.releaseHeld(context: context)
        context.flush()
    }
}
