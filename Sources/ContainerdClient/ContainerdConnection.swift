import GRPCCore
import GRPCNIOTransportHTTP2
import HTTP2Pipeline
import Logging
import NIOCore
import ServiceLifecycle

/// The gRPC channel to containerd's socket. It is a `Service`: `run()` keeps the connections up
/// (reconnecting with a short backoff when containerd restarts) until graceful shutdown.
public final class ContainerdConnection: Service, Sendable {
    public let socketPath: String
    let grpc: GRPCClient<HTTP2ClientTransport.Posix>
    let logger: Logger

    public init(socketPath: String, logger: Logger = Logger(label: "berth.containerd")) throws {
        self.socketPath = socketPath
        self.logger = logger
        // containerd restarts take about a second; a long backoff would make the next call after
        // a restart wait far longer than the restart itself.
        let config = HTTP2ClientTransport.Posix.Config.defaults { config in
            config.backoff = .init(initial: .milliseconds(50), max: .milliseconds(500), multiplier: 1.6, jitter: 0.1)
            config.connection.maxIdleTime = nil
            config.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
                channel.eventLoop.makeCompletedFuture { try Self.addHandlers(to: channel) }
            }
        }
        let transport = try HTTP2ClientTransport.Posix(
            target: .unixDomainSocket(path: socketPath),
            transportSecurity: .plaintext,
            config: config
        )
        self.grpc = GRPCClient(transport: transport)
    }

    /// Berth's handlers in each connection's pipeline, ahead of grpc-swift's: the ping filter
    /// next to the socket, then `WritableNextTick` before the HTTP/2 handler. The filter flushes
    /// its acknowledgements in the middle of a read, and NIOHTTP2Handler, told there that the
    /// socket is writable again, sent DATA ahead of control frames it had not marked yet: the
    /// debug assertion that stopped a CI run inside a containerd call.
    static func addHandlers(to channel: any Channel) throws {
        let operations = channel.pipeline.syncOperations
        let filter = PingFilterHandler()
        try operations.addHandler(filter, position: .first)
        try operations.addHandler(WritableNextTick(), position: .after(filter))
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await grpc.runConnections()
        } onGracefulShutdown: {
            self.grpc.beginGracefulShutdown()
        }
    }

    public func shutdown() {
        grpc.beginGracefulShutdown()
    }

    /// A client scoped to `namespace`.
    public func client(namespace: String) -> ContainerdClient {
        ContainerdClient(connection: self, namespace: namespace)
    }
}

/// Runs `body` with a client whose connection lives exactly as long as the call: for the CLI
/// and tests, where no ServiceGroup owns the connection.
public func withContainerdClient<Result: Sendable>(
    socketPath: String,
    namespace: String,
    logger: Logger = Logger(label: "berth.containerd"),
    _ body: (ContainerdClient) async throws -> Result
) async throws -> Result {
    let connection = try ContainerdConnection(socketPath: socketPath, logger: logger)
    return try await withThrowingDiscardingTaskGroup { group in
        group.addTask { try await connection.grpc.runConnections() }
        defer { connection.shutdown() }
        return try await body(connection.client(namespace: namespace))
    }
}
