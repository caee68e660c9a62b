import Foundation
import HTTP2Pipeline
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import Synchronization

@testable import Proxy

/// An HTTP/1.1 upstream on loopback, or an HTTP/2 one with prior knowledge (`h2c`: each stream
/// served as an HTTP/1-style exchange), whose behaviour is chosen by the request path:
///
/// - any other path: 200 with a JSON echo of what it received (`EchoedRequest`)
/// - `/chunked`: a chunked body of three parts
/// - `/close`: the echo with `Connection: close`, then closes
/// - `/status/N`: status N
/// - `/never`: reads the request, never answers
/// - `/reset-before-head`: resets the connection once the request is read
/// - `/reset-mid-body`: sends a head promising 100000 bytes, 1000 of them, then resets
/// - `/stream`: a chunked body of 1 KiB every 20 ms until the connection closes
/// - `/flood`: the same with 16 KiB every millisecond (fills a client's buffers that stop reading)
/// - `/delay/MS`: the echo after MS milliseconds
/// - `/ws` with `Upgrade: websocket`: 101, then echoes raw bytes
/// - `/trailers`: a body, then trailers `x-trailer: done`
/// - `/trailers-only`: a head with `x-status: 4` and no body (over h2c: one HEADERS frame that
///   ends the stream, as gRPC's error answers)
final class TestUpstream: Sendable {
    let name: String
    let port: Int
    private let channel: any Channel
    let counters: Counters

    final class Counters: Sendable {
        let accepted = Atomic<Int>(0)
        let closed = Atomic<Int>(0)
        let streamsCut = Atomic<Int>(0)
        /// HTTP/2 streams whose request arrived and that ended before their response did.
        let streamsReset = Atomic<Int>(0)
        let requests = Mutex<[EchoedRequest]>([])
    }

    var accepted: Int { counters.accepted.load(ordering: .relaxed) }
    var closed: Int { counters.closed.load(ordering: .relaxed) }
    var streamsCut: Int { counters.streamsCut.load(ordering: .relaxed) }
    var streamsReset: Int { counters.streamsReset.load(ordering: .relaxed) }
    var requests: [EchoedRequest] { counters.requests.withLock { $0 } }

    private init(name: String, port: Int, channel: any Channel, counters: Counters) {
        self.name = name
        self.port = port
        self.channel = channel
        self.counters = counters
    }

    static func start(
        name: String, h2c: Bool = false, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> TestUpstream {
        let counters = Counters()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                counters.accepted.wrappingAdd(1, ordering: .relaxed)
                channel.closeFuture.whenComplete { _ in counters.closed.wrappingAdd(1, ordering: .relaxed) }
                if h2c {
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(WritableNextTick())
                        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                            mode: .server,
                            connectionConfiguration: NIOHTTP2Handler.ConnectionConfiguration(),
                            streamConfiguration: NIOHTTP2Handler.StreamConfiguration()
                        ) { stream in
                            stream.eventLoop.makeCompletedFuture {
                                try stream.pipeline.syncOperations.addHandlers([
                                    HeadersEndCoalescer(),
                                    HTTP2FramePayloadToHTTP1ServerCodec(),
                                    TestUpstreamHandler(name: name, counters: counters),
                                ])
                            }
                        }
                    }
                }
                return channel.eventLoop.makeCompletedFuture {
                    let handler = TestUpstreamHandler(name: name, counters: counters)
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (
                            upgraders: [EchoUpgrader()],
                            completionHandler: { context in
                                context.pipeline.syncOperations.removeHandler(handler, promise: nil)
                            }
                        )
                    )
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return TestUpstream(name: name, port: channel.localAddress!.port!, channel: channel, counters: counters)
    }

    func stop() async {
        try? await channel.close()
    }
}

struct EchoedRequest: Codable, Sendable {
    var upstream: String
    var method: String
    var uri: String
    var version: String
    var headers: [[String]]
    var bodyLength: Int

    func values(_ name: String) -> [String] {
        headers.filter { $0[0].lowercased() == name.lowercased() }.map { $0[1] }
    }
}

private final class TestUpstreamHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let name: String
    let counters: TestUpstream.Counters
    var head: HTTPRequestHead?
    var bodyLength = 0
    /// The request arrived whole and its response has not ended yet.
    var answering = false

    init(name: String, counters: TestUpstream.Counters) {
        self.name = name
        self.counters = counters
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyLength = 0
        case .body(let body):
            bodyLength += body.readableBytes
        case .end:
            guard let head else { return }
            answering = true
            respond(context: context, head: head)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if answering && head?.version.major == 2 { counters.streamsReset.wrappingAdd(1, ordering: .relaxed) }
        context.fireChannelInactive()
    }

    /// Writes the response's end. The exchange counts as answered first: an HTTP/2 stream closes
    /// as its end goes out, before the write returns.
    @discardableResult
    private func writeEnd(_ context: ChannelHandlerContext, _ trailers: HTTPHeaders? = nil) -> EventLoopFuture<Void> {
        answering = false
        return context.writeAndFlush(wrapOutboundOut(.end(trailers)))
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let echoed = EchoedRequest(
            upstream: name,
            method: head.method.rawValue,
            uri: head.uri,
            version: "\(head.version.major).\(head.version.minor)",
            headers: head.headers.map { [$0.name, $0.value] },
            bodyLength: bodyLength
        )
        counters.requests.withLock { $0.append(echoed) }
        let path = head.uri
        if path == "/never" { return }
        if path == "/reset-before-head" {
            reset(context)
            return
        }
        if path == "/reset-mid-body" {
            var headers = HTTPHeaders()
            headers.add(name: "content-length", value: "100000")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(repeating: 0x61, count: 1000)))), promise: nil)
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(50)) { self.reset(context) }
            return
        }
        if path == "/stream" || path == "/flood" {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok))), promise: nil)
            if path == "/flood" {
                streamChunk(context, size: 16384, every: .milliseconds(1))
            } else {
                streamChunk(context)
            }
            return
        }
        if path.hasPrefix("/delay/"), let ms = Int64(path.dropFirst("/delay/".count)) {
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(ms)) {
                self.sendEcho(context, echoed, close: false)
            }
            return
        }
        if path.hasPrefix("/status/"), let code = Int(path.dropFirst("/status/".count)) {
            var headers = HTTPHeaders()
            headers.add(name: "content-length", value: "6")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: code), headers: headers))), promise: nil)
            if head.method != .HEAD && code != 204 && code != 304 {
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "status")))), promise: nil)
            }
            writeEnd(context)
            return
        }
        if path == "/trailers" {
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "with trailers")))), promise: nil)
            writeEnd(context, ["x-trailer": "done"])
            return
        }
        if path == "/trailers-only" {
            var headers = HTTPHeaders()
            headers.add(name: "x-status", value: "4")
            if head.version.major < 2 { headers.add(name: "content-length", value: "0") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            writeEnd(context)
            return
        }
        if path == "/chunked" {
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok))), promise: nil)
            for part in ["one,", "two,", "three"] {
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: part)))), promise: nil)
            }
            writeEnd(context)
            return
        }
        sendEcho(context, echoed, close: path == "/close")
    }

    private func sendEcho(_ context: ChannelHandlerContext, _ echoed: EchoedRequest, close: Bool) {
        let body = try! JSONEncoder().encode(echoed)
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "content-length", value: String(body.count))
        headers.add(name: "x-upstream", value: name)
        // Hop-by-hop fields the proxy must drop on the way back.
        headers.add(name: "keep-alive", value: "timeout=5")
        headers.add(name: "x-hop", value: "1")
        headers.add(name: "connection", value: close ? "close, x-hop" : "x-hop")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        if echoed.method != "HEAD" {
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
        }
        let done = writeEnd(context)
        if close {
            done.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    private func streamChunk(_ context: ChannelHandlerContext, size: Int = 1024, every interval: TimeAmount = .milliseconds(20)) {
        guard context.channel.isActive else {
            counters.streamsCut.wrappingAdd(1, ordering: .relaxed)
            return
        }
        // Only while writable: a flood into a stalled reader waits instead of queueing without end.
        if context.channel.isWritable {
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(repeating: 0x62, count: size)))), promise: nil)
        }
        context.eventLoop.assumeIsolated().scheduleTask(in: interval) { self.streamChunk(context, size: size, every: interval) }
    }

    private func reset(_ context: ChannelHandlerContext) {
        // SO_LINGER 0: close sends RST.
        let channel = context.channel
        let loopContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        if let provider = channel as? SocketOptionProvider {
            provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in loopContext.value.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
    }
}

/// Accepts `Upgrade: websocket` and then echoes whatever bytes arrive.
private final class EchoUpgrader: HTTPServerProtocolUpgrader, Sendable {
    let supportedProtocol = "websocket"
    let requiredUpgradeHeaders: [String] = []

    func buildUpgradeResponse(
        channel: any Channel,
        upgradeRequest: HTTPRequestHead,
        initialResponseHeaders: HTTPHeaders
    ) -> EventLoopFuture<HTTPHeaders> {
        channel.eventLoop.makeSucceededFuture(initialResponseHeaders)
    }

    func upgrade(context: ChannelHandlerContext, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
        context.eventLoop.makeCompletedFuture {
            try context.pipeline.syncOperations.addHandler(RawEchoHandler())
        }
    }
}

private final class RawEchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(data, promise: nil)
    }
}
