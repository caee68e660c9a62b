import HTTP2Pipeline
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix

/// A cleartext HTTP/2 client connection with prior knowledge, on NIOHTTP2: each request is a
/// stream, seen frame by frame (whether the head ended the stream, trailers, resets).
public final class HTTP2TestConnection: Sendable {
    public let channel: any Channel
    private let multiplexer: NIOHTTP2Handler.StreamMultiplexer

    private init(channel: any Channel, multiplexer: NIOHTTP2Handler.StreamMultiplexer) {
        self.channel = channel
        self.multiplexer = multiplexer
    }

    public static func connect(host: String = "127.0.0.1", port: Int) async throws -> HTTP2TestConnection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: host, port: port).get()
        let multiplexer = try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHandler(WritableNextTick())
            return try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                mode: .client,
                connectionConfiguration: NIOHTTP2Handler.ConnectionConfiguration(),
                streamConfiguration: NIOHTTP2Handler.StreamConfiguration()
            ) { $0.close() }
        }.get()
        return HTTP2TestConnection(channel: channel, multiplexer: multiplexer)
    }

    public func close() async {
        try? await channel.close()
    }

    /// Sends a request and waits for its whole response (or the stream's reset).
    public func request(
        _ method: String = "GET",
        _ path: String,
        authority: String,
        headers: [(String, String)] = [],
        body: ByteBuffer? = nil
    ) async throws -> HTTP2TestResponse {
        let stream = try await open(method, path, authority: authority, headers: headers, endStream: body == nil)
        if let body { try await stream.send(body, endStream: true) }
        return try await stream.response()
    }

    /// Opens a stream and sends the request head; the body and the end are the caller's to send.
    public func open(
        _ method: String = "GET",
        _ path: String,
        authority: String,
        headers: [(String, String)] = [],
        endStream: Bool
    ) async throws -> HTTP2TestStream {
        let promise = channel.eventLoop.makePromise(of: HTTP2TestResponse.self)
        let stream = try await multiplexer.createStreamChannel { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(HTTP2ResponseCollector(promise))
            }
        }.get()
        var fields = HPACKHeaders([(":method", method), (":path", path), (":scheme", "http"), (":authority", authority)])
        for (name, value) in headers { fields.add(name: name, value: value) }
        try await stream.writeAndFlush(HTTP2Frame.FramePayload.headers(.init(headers: fields, endStream: endStream)))
        return HTTP2TestStream(channel: stream, response: promise.futureResult)
    }
}

/// One open request stream.
public struct HTTP2TestStream: Sendable {
    public let channel: any Channel
    let responseFuture: EventLoopFuture<HTTP2TestResponse>

    init(channel: any Channel, response: EventLoopFuture<HTTP2TestResponse>) {
        self.channel = channel
        self.responseFuture = response
    }

    public func send(_ body: ByteBuffer, endStream: Bool) async throws {
        try await channel.writeAndFlush(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(body), endStream: endStream)))
    }

    /// Resets the stream (RST_STREAM, CANCEL), as a client that gives up does.
    public func reset() async {
        try? await channel.close()
    }

    public func response() async throws -> HTTP2TestResponse {
        try await responseFuture.get()
    }
}

/// What came back on a stream.
public struct HTTP2TestResponse: Sendable {
    public var status: Int = 0
    public var headers = HPACKHeaders()
    public var body = ByteBuffer()
    public var trailers: HPACKHeaders? = nil
    /// The response head came in a HEADERS frame with END_STREAM: no DATA frame followed.
    public var headEndedStream = false
    /// The stream ended with END_STREAM (not a reset, not the connection's end).
    public var complete = false
    public var reset: HTTP2ErrorCode? = nil

    public var text: String { String(buffer: body) }

    public func header(_ name: String) -> String? { headers.first(name: name) }
}

/// Collects a stream's frames into an `HTTP2TestResponse`.
final class HTTP2ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload

    private var response = HTTP2TestResponse()
    private let promise: EventLoopPromise<HTTP2TestResponse>
    private var finished = false

    init(_ promise: EventLoopPromise<HTTP2TestResponse>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            if response.status == 0 {
                guard let status = headers.headers.first(name: ":status").flatMap({ Int($0) }) else { return }
                if status < 200 { return }  // an interim response
                response.status = status
                response.headers = headers.headers
                response.headEndedStream = headers.endStream
            } else {
                response.trailers = headers.headers
            }
            if headers.endStream { finish(complete: true) }
        case .data(let data):
            if case .byteBuffer(var bytes) = data.data { response.body.writeBuffer(&bytes) }
            if data.endStream { finish(complete: true) }
        case .rstStream(let code):
            response.reset = code
            finish(complete: false)
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(complete: false)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let reset = error as? NIOHTTP2Errors.StreamClosed { response.reset = reset.errorCode }
        finish(complete: false)
    }

    private func finish(complete: Bool) {
        guard !finished else { return }
        finished = true
        response.complete = complete
        promise.succeed(response)
    }
}
