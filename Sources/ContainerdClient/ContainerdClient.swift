import ContainerdAPI
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging

/// containerd's API, scoped to a namespace and optionally to a lease. A value type: `leased(_:)`
/// returns a copy whose calls carry the lease, so resources they create are kept from garbage
/// collection until the lease is deleted.
public struct ContainerdClient: Sendable {
    public let connection: ContainerdConnection
    public let namespace: String
    public let lease: String?

    /// The snapshotter Berth unpacks into and runs from.
    public var snapshotter: String = "overlayfs"

    init(connection: ContainerdConnection, namespace: String, lease: String? = nil) {
        self.connection = connection
        self.namespace = namespace
        self.lease = lease
    }

    public func leased(_ lease: String) -> ContainerdClient {
        var copy = ContainerdClient(connection: connection, namespace: namespace, lease: lease)
        copy.snapshotter = snapshotter
        return copy
    }

    public func unleased() -> ContainerdClient {
        var copy = ContainerdClient(connection: connection, namespace: namespace, lease: nil)
        copy.snapshotter = snapshotter
        return copy
    }

    var logger: Logger { connection.logger }
    var grpc: GRPCClient<HTTP2ClientTransport.Posix> { connection.grpc }

    var metadata: Metadata {
        var metadata = Metadata()
        metadata.addString(namespace, forKey: "containerd-namespace")
        if let lease { metadata.addString(lease, forKey: "containerd-lease") }
        return metadata
    }

    /// Unary calls wait for the connection (containerd may be restarting); `unary` gives them
    /// their deadline.
    static let unaryOptions: CallOptions = {
        var options = CallOptions.defaults
        options.waitForReady = true
        return options
    }()

    /// Streams and long operations (layer unpacks) have no deadline of their own.
    static let streamingOptions: CallOptions = {
        var options = CallOptions.defaults
        options.waitForReady = true
        return options
    }()

    /// Runs a call and maps its gRPC failure to a `ContainerdError` naming the operation.
    func call<T: Sendable>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RPCError {
            throw ContainerdError(error, operation: operation)
        }
    }
}

extension ContainerdClient {
    public struct Version: Sendable, Equatable {
        public var version: String
        public var revision: String
    }

    public func version(timeout: Duration = .seconds(30)) async throws -> Version {
        var options = Self.unaryOptions
        options.timeout = timeout
        let response = try await call("Version") {
            try await Containerd_Services_Version_V1_Version.Client(wrapping: grpc)
                .version(.init(), metadata: metadata, options: options)
        }
        return Version(version: response.version, revision: response.revision)
    }

    /// Creates the namespace when it does not exist yet.
    public func ensureNamespace() async throws {
        let namespaces = Containerd_Services_Namespaces_V1_Namespaces.Client(wrapping: grpc)
        do {
            _ = try await unary("Namespaces.Create") {
                try await namespaces.create(.with { $0.namespace.name = namespace }, metadata: metadata, options: Self.unaryOptions)
            }
        } catch let error as ContainerdError where error.code == .alreadyExists {}
    }
}
