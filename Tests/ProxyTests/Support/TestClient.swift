import Foundation
import XCTest
import NIOCore
import NIOHTTP1
import NIOPosix

struct TestResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: ByteBuffer

    var text: String { String(buffer: body) }

    func echoed() throws -> EchoedRequest {
        try JSONDecoder().decode(EchoedRequest.self, from: Data(text.utf8))
    }

    func problem() throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    }
}

struct TestClientError: Error, CustomStringConvertible {
    var description: String
}

/// One client connection to the proxy speaking HTTP/1.1 through NIO's client codec.
final class TestHTTPConnection {
    private var inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>

    init(
        inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>,
        outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
    ) {
        self.inbound = inbound.makeAsyncIterator()
        self.outbound = outbound
    }

    static func with<T>(port: Int, _ body: (TestHTTPConnection) async throws -> T) async throws -> T {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await body(TestHTTPConnection(inbound: inbound, outbound: outbound))
        }
    }

    func send(
        _ method: HTTPMethod = .GET,
        _ path: String,
        host: String?,
        headers: [(String, String)] = [],
        body: String? = nil
    ) async throws -> TestResponse {
        var requestHeaders = HTTPHeaders(headers)
        if let host { requestHeaders.add(name: "host", value: host) }
        if let body { requestHeaders.add(name: "content-length", value: String(body.utf8.count)) }
        try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: requestHeaders)))
        if let body { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body)))) }
        try await outbound.write(.end(nil))
        return try await readResponse()
    }

    func readResponse() async throws -> TestResponse {
        var response: TestResponse? = nil
        while let part = try await inbound.next() {
            switch part {
            case .head(let head):
                response = TestResponse(status: Int(head.status.code), headers: head.headers, body: ByteBuffer())
            case .body(var body):
                response?.body.writeBuffer(&body)
            case .end:
                guard let response else { throw TestClientError(description: "end without head") }
                return response
            }
        }
        throw TestClientError(description: "connection closed before the response ended")
    }
}

/// A raw TCP connection: bytes in, bytes out (for odd requests, pipelining, WebSocket).
final class RawConnection {
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private(set) var received = ByteBuffer()
    private(set) var closed = false

    init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.inbound = inbound.makeAsyncIterator()
        self.outbound = outbound
    }

    /// `from`: the local address to connect from (another loopback address is another client).
    static func with<T>(port: Int, from: String? = nil, _ body: (RawConnection) async throws -> T) async throws -> T {
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let from { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: from, port: 0)) }
        let channel = try await bootstrap
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await body(RawConnection(inbound: inbound, outbound: outbound))
        }
    }

    func send(_ text: String) async throws {
        try await outbound.write(ByteBuffer(string: text))
    }

    func send(bytes: [UInt8]) async throws {
        try await outbound.write(ByteBuffer(bytes: bytes))
    }

    /// Reads until `done` holds for everything received so far, or the connection closes.
    @discardableResult
    func read(until done: (ByteBuffer) -> Bool) async throws -> ByteBuffer {
        while !done(received) {
            guard var chunk = try await inbound.next() else {
                closed = true
                break
            }
            received.writeBuffer(&chunk)
        }
        return received
    }

    func readUntilClosed() async throws -> String {
        try await read { _ in false }
        return String(buffer: received)
    }

    /// Reads until `count` HTTP responses with Content-Length bodies have arrived.
    func readResponses(_ count: Int) async throws -> [String] {
        try await read { Self.splitResponses(String(buffer: $0)).count >= count }
        return Self.splitResponses(String(buffer: received))
    }

    func take(_ count: Int) -> [UInt8]? {
        received.readBytes(length: count)
    }

    func discardReceived() {
        received = ByteBuffer()
    }

    static func splitResponses(_ text: String) -> [String] {
        var responses: [String] = []
        var rest = Substring(text)
        while let headEnd = rest.range(of: "\r\n\r\n") {
            let head = rest[..<headEnd.lowerBound]
            let length = head.split(separator: "\r\n")
                .first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            let bodyStart = headEnd.upperBound
            guard rest.utf8.distance(from: bodyStart, to: rest.endIndex) >= length else { break }
            let end = rest.utf8.index(bodyStart, offsetBy: length)
            responses.append(String(rest[..<end]))
            rest = rest[end...]
        }
        return responses
    }
}

/// Fails the test instead of hanging it.
func withTimeout<T: Sendable>(
    _ seconds: Double,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        guard let first = try await group.next(), let value = first else {
            group.cancelAll()
            throw TestClientError(description: "timed out after \(seconds) s")
        }
        group.cancelAll()
        return value
    }
}

/// Polls until `condition` holds (or fails after `seconds`).
func eventually(
    _ seconds: Double = 5,
    _ condition: @Sendable () async -> Bool
) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}

func assertEventually(
    _ condition: @Sendable () async -> Bool,
    _ message: String = "condition never held",
    seconds: Double = 5,
    file: StaticString = #filePath,
    line: UInt = #line
) async {
    let held = await eventually(seconds, condition)
    XCTAssertTrue(held, message, file: file, line: line)
}
