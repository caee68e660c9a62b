import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A tiny HTTP/1.1 server on 127.0.0.1 whose answers a test scripts, for what real registries
/// will not do on demand: fail with 503, break a connection mid-body, redirect, ignore ranges.
final class StubServer: Sendable {
    struct Request: Sendable {
        var uri: String
        var headers: HTTPHeaders

        var path: String { uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri }
        var authorization: String? { headers.first(name: "Authorization") }
        var range: String? { headers.first(name: "Range") }
    }

    enum Reply: Sendable {
        case respond(status: Int, headers: [(String, String)] = [], body: [UInt8] = [])
        /// Announces the whole body's length, sends only its first `sending` bytes, then closes.
        case truncate(headers: [(String, String)] = [], body: [UInt8], sending: Int)

        static func json(_ text: String, status: Int = 200, headers: [(String, String)] = []) -> Reply {
            .respond(status: status, headers: [("Content-Type", "application/json")] + headers, body: Array(text.utf8))
        }
    }

    typealias Handler = @Sendable (_ request: Request, _ number: Int) -> Reply

    private let channel: any Channel
    private let state: State
    let port: Int

    var host: String { "127.0.0.1:\(port)" }
    var requests: [Request] { state.requests.withLock { $0 } }
    /// TCP connections accepted so far, whether or not they sent a request.
    var acceptedConnections: Int { state.connections.withLock { $0 } }

    func requests(matching path: String) -> [Request] {
        requests.filter { $0.path.contains(path) }
    }

    /// `handler` gets each request and its number (1-based) among all requests to this server.
    static func start(_ handler: @escaping Handler) async throws -> StubServer {
        let state = State(handler: handler)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                state.connections.withLock { $0 += 1 }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(StubHandler(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return StubServer(channel: channel, state: state)
    }

    private init(channel: any Channel, state: State) {
        self.channel = channel
        self.state = state
        self.port = channel.localAddress?.port ?? 0
    }

    func shutdown() async throws {
        try await channel.close()
    }

    /// A port on 127.0.0.1 where nothing listens.
    static func closedPort() async throws -> Int {
        let server = try await start { _, _ in .respond(status: 500) }
        let port = server.port
        try await server.shutdown()
        return port
    }

    fileprivate final class State: Sendable {
        let handler: Handler
        let requests = Mutex<[Request]>([])
        let connections = Mutex(0)

        init(handler: @escaping Handler) {
            self.handler = handler
        }

        func reply(to request: Request) -> Reply {
            let number = requests.withLock { requests in
                requests.append(request)
                return requests.count
            }
            return handler(request, number)
        }
    }
}

private final class StubHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let state: StubServer.State
    var head: HTTPRequestHead?

    init(state: StubServer.State) {
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            let reply = state.reply(to: StubServer.Request(uri: head.uri, headers: head.headers))
            write(reply, context: context)
        }
    }

    private func write(_ reply: StubServer.Reply, context: ChannelHandlerContext) {
        switch reply {
        case .respond(let status, let headers, let body):
            writeHead(status: status, headers: headers, length: body.count, context: context)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        case .truncate(let headers, let body, let sending):
            writeHead(status: 200, headers: headers, length: body.count, context: context)
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body.prefix(sending))))), promise: nil)
            context.close(promise: nil)
        }
    }

    private func writeHead(status: Int, headers: [(String, String)], length: Int, context: ChannelHandlerContext) {
        var fields = HTTPHeaders(headers)
        fields.replaceOrAdd(name: "Content-Length", value: "\(length)")
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: fields)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
    }
}
